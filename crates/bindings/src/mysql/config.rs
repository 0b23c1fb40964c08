//! The metadata of `bindings.mysql` (components-contrib `bindings/mysql`), decoded without I/O,
//! and a parser for go-sql-driver's DSN format:
//! `[user[:password]@][net[(addr)]]/dbname[?param1=value1&paramN=valueN]`.
//!
//! DSN parameters used: `tls` (`true`, `skip-verify`, `custom` with `pemPath`; `false` and
//! `preferred` connect without TLS), `timeout` (dial timeout), `loc` (only `UTC`, the default,
//! is supported). `parseTime` is forced on, as daprd does. Other driver parameters are accepted
//! and ignored; unknown ones are session variables (`SET name=value` after connecting), as in
//! go-sql-driver.

use std::time::Duration;

use bindery_core::{ConfigError, Field, FieldType, Properties, Sensitive};

pub const URL: Field = Field::new(
    "url",
    FieldType::String,
    "go-sql-driver DSN: user:password@tcp(host:3306)/dbname?params. parseTime is forced on.",
)
.required()
.sensitive()
.example("user:password@tcp(localhost:3306)/dbname");
pub const PEM_PATH: Field = Field::new(
    "pemPath",
    FieldType::String,
    "CA certificate file; used when the DSN says tls=custom.",
);
pub const MAX_IDLE_CONNS: Field = Field::new(
    "maxIdleConns",
    FieldType::Number,
    "Connections the pool keeps open when idle (applied when > 0).",
);
pub const MAX_OPEN_CONNS: Field = Field::new(
    "maxOpenConns",
    FieldType::Number,
    "Upper bound of open connections (applied when > 0).",
);
pub const CONN_MAX_LIFETIME: Field = Field::new(
    "connMaxLifetime",
    FieldType::Duration,
    "Connections older than this are closed (applied when > 0).",
);
pub const CONN_MAX_IDLE_TIME: Field = Field::new(
    "connMaxIdleTime",
    FieldType::Duration,
    "Idle connections beyond maxIdleConns are closed after this long (applied when > 0).",
);

pub const FIELDS: &[Field] = &[
    URL,
    PEM_PATH,
    MAX_IDLE_CONNS,
    MAX_OPEN_CONNS,
    CONN_MAX_LIFETIME,
    CONN_MAX_IDLE_TIME,
];

pub const BAD_DSN: &str = "illegal Data Source Name (DSN) specified by url";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Off,
    Verify,
    SkipVerify,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub user: Option<String>,
    pub password: Option<Sensitive<String>>,
    pub address: Address,
    pub db: Option<String>,
    pub tls: Tls,
    pub dial_timeout: Option<Duration>,
    /// go-sql-driver's `readTimeout`; bindery bounds each whole operation with it.
    pub read_timeout: Option<Duration>,
    /// `SET name=value` statements for unknown parameters.
    pub session_vars: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct MysqlConfig {
    pub dsn: Dsn,
    pub pem_path: Option<String>,
    pub max_idle_conns: Option<usize>,
    pub max_open_conns: Option<usize>,
    pub conn_max_lifetime: Option<Duration>,
    pub conn_max_idle_time: Option<Duration>,
}

/// go-sql-driver parameters with a meaning there that bindery does not need.
const DRIVER_PARAMS: &[&str] = &[
    "allowAllFiles",
    "allowCleartextPasswords",
    "allowFallbackToPlaintext",
    "allowNativePasswords",
    "allowOldPasswords",
    "charset",
    "checkConnLiveness",
    "clientFoundRows",
    "collation",
    "columnsWithAlias",
    "interpolateParams",
    "maxAllowedPacket",
    "multiStatements",
    "parseTime",
    "readTimeout",
    "rejectReadOnly",
    "serverPubKey",
    "writeTimeout",
    "connectionAttributes",
    "compress",
    "timeTruncate",
];

impl bindery_core::BindingConfig for MysqlConfig {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }

    fn build_error(e: ConfigError) -> bindery_core::BindingError {
        if e.message == BAD_DSN {
            bindery_core::BindingError::invalid(BAD_DSN)
        } else {
            bindery_core::BindingError::invalid(e.to_string())
        }
    }
}

impl MysqlConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let url = p
            .string(&URL)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ConfigError::new(URL.name, "missing MySql connection string"))?;
        let dsn = parse_dsn(&url).map_err(|_| ConfigError::new(URL.name, BAD_DSN))?;
        let positive = |v: Option<i64>| v.filter(|n| *n > 0).map(|n| n as usize);
        let max_idle_conns = positive(p.number::<i64>(&MAX_IDLE_CONNS)?);
        let max_open_conns = positive(p.number::<i64>(&MAX_OPEN_CONNS)?);
        let conn_max_lifetime = p.duration(&CONN_MAX_LIFETIME)?.filter(|d| !d.is_zero());
        let conn_max_idle_time = p.duration(&CONN_MAX_IDLE_TIME)?.filter(|d| !d.is_zero());
        Ok(Self {
            dsn,
            pem_path: p.string(&PEM_PATH).filter(|s| !s.is_empty()),
            max_idle_conns,
            max_open_conns,
            conn_max_lifetime,
            conn_max_idle_time,
        })
    }
}

type DsnParams = (Tls, Option<Duration>, Vec<(String, String)>);

/// The `net(addr)` part of a DSN, with go-sql-driver's defaults.
fn parse_address(net: &str, addr: &str) -> Result<Address, String> {
    Ok(match net {
        "" | "tcp" | "tcp4" | "tcp6" => {
            let addr = if addr.is_empty() {
                "127.0.0.1:3306"
            } else {
                addr
            };
            let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
                let (h, after) = rest
                    .split_once(']')
                    .ok_or("invalid DSN: bad IPv6 address")?;
                (h.to_owned(), after.strip_prefix(':'))
            } else {
                match addr.rsplit_once(':') {
                    Some((h, p)) => (h.to_owned(), Some(p)),
                    None => (addr.to_owned(), None),
                }
            };
            let port = match port {
                Some(p) => p.parse::<u16>().map_err(|_| "invalid DSN: bad port")?,
                None => 3306,
            };
            Address::Tcp { host, port }
        }
        "unix" => Address::Unix(if addr.is_empty() {
            "/tmp/mysql.sock".to_owned()
        } else {
            addr.to_owned()
        }),
        other => return Err(format!("invalid DSN: unknown network {other}")),
    })
}

/// The DSN's query parameters: `(tls, timeout, SET statements for the unknown ones)`.
fn parse_params(query: &str) -> Result<DsnParams, String> {
    let mut tls = Tls::Off;
    let mut dial_timeout = None;
    let mut session_vars = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("invalid DSN: bad parameter {pair:?}"))?;
        let v = percent_decode(v)?;
        match k {
            "tls" => {
                tls = match v.to_ascii_lowercase().as_str() {
                    "true" => Tls::Verify,
                    "false" | "preferred" | "" => Tls::Off,
                    "skip-verify" => Tls::SkipVerify,
                    "custom" => Tls::Custom,
                    _ => return Err(format!("invalid DSN: invalid value for tls: {v}")),
                }
            }
            "timeout" => {
                dial_timeout = Some(
                    bindery_core::duration::parse_go_duration(&v)
                        .map_err(|e| format!("invalid DSN: {e}"))?,
                )
            }
            "loc" => {
                if v != "UTC" {
                    return Err(format!("invalid DSN: only loc=UTC is supported, not {v}"));
                }
            }
            k if DRIVER_PARAMS.contains(&k) => {}
            k => {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("invalid DSN: bad parameter name {k:?}"));
                }
                session_vars.push((k.to_owned(), v));
            }
        }
    }
    Ok((tls, dial_timeout, session_vars))
}

/// Parses a go-sql-driver DSN. The error text is for logs only; callers report daprd's
/// fixed message.
pub fn parse_dsn(dsn: &str) -> Result<Dsn, String> {
    let slash = dsn
        .rfind('/')
        .ok_or("invalid DSN: missing the slash separating the database name")?;
    let (head, tail) = (&dsn[..slash], &dsn[slash + 1..]);
    let (db, query) = tail.split_once('?').unwrap_or((tail, ""));

    let (userinfo, netaddr) = match head.rfind('@') {
        Some(i) => (Some(&head[..i]), &head[i + 1..]),
        None => (None, head),
    };
    let (user, password) = match userinfo {
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (Some(u.to_owned()), Some(Sensitive::new(p.to_owned()))),
            None => (Some(ui.to_owned()), None),
        },
        None => (None, None),
    };
    let (net, addr) = match netaddr.find('(') {
        Some(i) => {
            let inner = netaddr[i + 1..]
                .strip_suffix(')')
                .ok_or("invalid DSN: network address not terminated (missing closing brace)")?;
            (&netaddr[..i], inner)
        }
        None => (netaddr, ""),
    };
    let address = parse_address(net, addr)?;
    let (tls, dial_timeout, session_vars) = parse_params(query)?;
    let read_timeout = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("readTimeout="))
        .map(|v| {
            percent_decode(v).and_then(|v| {
                bindery_core::duration::parse_go_duration(&v)
                    .map_err(|e| format!("invalid DSN: readTimeout: {e}"))
            })
        })
        .transpose()?
        .filter(|d| !d.is_zero());
    Ok(Dsn {
        user,
        password,
        address,
        db: Some(db.to_owned()).filter(|d| !d.is_empty()),
        tls,
        dial_timeout,
        read_timeout,
        session_vars,
    })
}

fn percent_decode(s: &str) -> Result<String, String> {
    crate::common::escape::percent_decode(s).map_err(|_| "invalid DSN: bad escape".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_forms() {
        let d = parse_dsn("mysql:example@tcp(localhost:3306)/dapr_test?allowNativePasswords=true")
            .unwrap();
        assert_eq!(d.user.as_deref(), Some("mysql"));
        assert_eq!(
            d.password.as_ref().map(|p| p.expose().as_str()),
            Some("example")
        );
        assert_eq!(
            d.address,
            Address::Tcp {
                host: "localhost".into(),
                port: 3306
            }
        );
        assert_eq!(d.db.as_deref(), Some("dapr_test"));
        assert_eq!(d.tls, Tls::Off);
        assert!(d.session_vars.is_empty());

        let d = parse_dsn("root@tcp(127.0.0.1)/test").unwrap();
        assert_eq!(d.password, None);
        assert_eq!(
            d.address,
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 3306
            }
        );

        let d = parse_dsn(
            "u:p:a@ss@tcp([::1]:3307)/db?tls=custom&timeout=5s&sql_mode=ANSI&parseTime=false",
        )
        .unwrap();
        assert_eq!(d.user.as_deref(), Some("u"));
        assert_eq!(
            d.password.as_ref().map(|p| p.expose().as_str()),
            Some("p:a@ss")
        );
        assert_eq!(
            d.address,
            Address::Tcp {
                host: "::1".into(),
                port: 3307
            }
        );
        assert_eq!(d.tls, Tls::Custom);
        assert_eq!(d.dial_timeout, Some(Duration::from_secs(5)));
        assert_eq!(
            d.session_vars,
            vec![("sql_mode".to_owned(), "ANSI".to_owned())]
        );

        let d = parse_dsn("/").unwrap();
        assert_eq!(
            d.address,
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 3306
            }
        );
        assert_eq!(d.db, None);
        let d = parse_dsn("u@unix(/run/mysqld/mysqld.sock)/db").unwrap();
        assert_eq!(d.address, Address::Unix("/run/mysqld/mysqld.sock".into()));

        for bad in [
            "no-slash",
            "u@tcp(host:3306/db",
            "u@udp(h)/db",
            "u@tcp(h:x)/db",
            "u@tcp(h)/db?tls=maybe",
        ] {
            assert!(parse_dsn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields() {
        let p = Properties::from_pairs([
            ("url", "root@tcp(127.0.0.1:3306)/test"),
            ("maxIdleConns", "3"),
            ("maxOpenConns", "0"),
            ("connMaxLifetime", "12s"),
            ("connMaxIdleTime", "1m"),
            ("pemPath", "/ca.pem"),
        ]);
        let c = MysqlConfig::from_properties(&p).unwrap();
        assert_eq!(c.max_idle_conns, Some(3));
        assert_eq!(c.max_open_conns, None);
        assert_eq!(c.conn_max_lifetime, Some(Duration::from_secs(12)));
        assert_eq!(c.conn_max_idle_time, Some(Duration::from_secs(60)));
        assert_eq!(c.pem_path.as_deref(), Some("/ca.pem"));

        let e = MysqlConfig::from_properties(&Properties::from_pairs([("url", "garbage")]))
            .unwrap_err();
        assert_eq!(e.message, BAD_DSN);
        let e = MysqlConfig::from_properties(&Properties::from_pairs([])).unwrap_err();
        assert_eq!(e.field, "url");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = MysqlConfig::from_properties(&Properties::from_pairs([(
            "url",
            "user:hunter2@tcp(db:3306)/app",
        )]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("db") && shown.contains("user"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
