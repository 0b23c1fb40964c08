//! The metadata of `bindings.postgres` (components-contrib `bindings/postgres/metadata.go` and
//! `common/authentication/postgresql/metadata.go`), decoded without I/O.
//!
//! The connection string may be libpq `key=value` text or a `postgres://` / `postgresql://` URL.
//! pgx pool keys in it (`pool_max_conns`, `pool_max_conn_idle_time`, ...) are removed before the
//! string reaches the driver; `pool_max_conns` and `pool_max_conn_idle_time` apply to the pool
//! when `maxConns` / `connectionMaxIdleTime` are not given, the others are accepted and ignored.
//! Keys the driver does not know become server run-time parameters, as pgx does.

use std::time::Duration;

use bindery_core::{ConfigError, Field, FieldType, Properties, Sensitive};

pub const CONNECTION_STRING: Field = Field::new(
    "connectionString",
    FieldType::String,
    "libpq key=value DSN or postgres:// URL. Individual fields below override its keys.",
)
.aliases(&["url"])
.sensitive()
.example("host=localhost user=postgres password=example port=5432 database=dapr_test");
pub const HOST: Field = Field::new(
    "host",
    FieldType::String,
    "Overrides the host of the connection string.",
);
pub const HOSTADDR: Field = Field::new(
    "hostaddr",
    FieldType::String,
    "Overrides the host address (an IP) of the connection string.",
);
pub const PORT: Field = Field::new(
    "port",
    FieldType::String,
    "Overrides the port of the connection string.",
);
pub const DATABASE: Field = Field::new(
    "database",
    FieldType::String,
    "Overrides the database of the connection string.",
);
pub const USER: Field = Field::new(
    "user",
    FieldType::String,
    "Overrides the user of the connection string.",
);
pub const PASSWORD: Field = Field::new(
    "password",
    FieldType::String,
    "Overrides the password of the connection string.",
)
.sensitive();
pub const SSL_ROOT_CERT: Field = Field::new(
    "sslRootCert",
    FieldType::String,
    "Path to the CA certificate file (libpq sslrootcert).",
);
pub const TIMEOUT: Field = Field::new(
    "timeout",
    FieldType::Duration,
    "Timeout for connecting, pinging and acquiring a connection; at least 1s.",
)
.aliases(&["timeoutInSeconds"])
.default_value("20s");
pub const MAX_CONNS: Field = Field::new(
    "maxConns",
    FieldType::Number,
    "Pool size; 0 or less means max(4, number of CPUs).",
)
.default_value("0");
pub const CONNECTION_MAX_IDLE_TIME: Field = Field::new(
    "connectionMaxIdleTime",
    FieldType::Duration,
    "Idle pooled connections older than this are closed.",
);
pub const QUERY_EXEC_MODE: Field = Field::new(
    "queryExecMode",
    FieldType::String,
    "cache_statement (default) and cache_describe cache prepared statements per connection; \
     describe_exec, exec and simple_protocol prepare afresh each time (use behind PgBouncer).",
)
.default_value("");
pub const USE_AZURE_AD: Field = Field::new(
    "useAzureAD",
    FieldType::Bool,
    "Azure AD token authentication. Not supported by bindery: `true` makes building fail.",
)
.default_value("false");
pub const USE_AWS_IAM: Field = Field::new(
    "useAWSIAM",
    FieldType::Bool,
    "AWS IAM token authentication. Not supported by bindery: `true` makes building fail.",
)
.default_value("false");
pub const AWS_ACCESS_KEY: Field = Field::new(
    "awsAccessKey",
    FieldType::String,
    "AWS IAM authentication (useAWSIAM). Accepted, unused: bindery does not support it.",
);
pub const AWS_SECRET_KEY: Field = Field::new(
    "awsSecretKey",
    FieldType::String,
    "AWS IAM authentication (useAWSIAM). Accepted, unused: bindery does not support it.",
)
.sensitive();

pub const FIELDS: &[Field] = &[
    CONNECTION_STRING,
    HOST,
    HOSTADDR,
    PORT,
    DATABASE,
    USER,
    PASSWORD,
    SSL_ROOT_CERT,
    TIMEOUT,
    MAX_CONNS,
    CONNECTION_MAX_IDLE_TIME,
    QUERY_EXEC_MODE,
    USE_AZURE_AD,
    USE_AWS_IAM,
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
];

/// pgx's `default_query_exec_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMode {
    CacheStatement,
    CacheDescribe,
    DescribeExec,
    Exec,
    SimpleProtocol,
}

impl ExecMode {
    /// Whether prepared statements are cached on the connection.
    pub fn caches(self) -> bool {
        matches!(self, ExecMode::CacheStatement | ExecMode::CacheDescribe)
    }
}

/// libpq `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Connection keys after merging overrides and removing pool keys, in order. Values are
    /// redacted in `Debug`: `password` (and `sslpassword`) are among them.
    pub keys: Vec<(String, Sensitive<String>)>,
    pub ssl_mode: SslMode,
    pub ssl_root_cert: Option<String>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_conns: usize,
    pub max_idle_time: Option<Duration>,
    pub exec_mode: ExecMode,
    /// Token authentication that bindery does not implement (`useAzureAD`, `useAWSIAM`).
    pub unsupported: Option<&'static str>,
}

const POOL_KEYS: &[&str] = &[
    "pool_max_conns",
    "pool_min_conns",
    "pool_min_idle_conns",
    "pool_max_conn_lifetime",
    "pool_max_conn_lifetime_jitter",
    "pool_max_conn_idle_time",
    "pool_health_check_period",
];

impl bindery_core::BindingConfig for PostgresConfig {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }

    fn build_error(e: ConfigError) -> bindery_core::BindingError {
        bindery_core::BindingError::invalid(e.to_string())
    }
}

/// The connection string's keys with the individual fields' overrides applied, in order.
fn merged_keys(p: &Properties) -> Result<Vec<(String, String)>, ConfigError> {
    let text = p.string(&CONNECTION_STRING).unwrap_or_default();
    let mut keys =
        parse_connection_string(&text).map_err(|e| ConfigError::new(CONNECTION_STRING.name, e))?;
    for (field, key) in [
        (&HOST, "host"),
        (&HOSTADDR, "hostaddr"),
        (&PORT, "port"),
        (&DATABASE, "dbname"),
        (&USER, "user"),
        (&PASSWORD, "password"),
        (&SSL_ROOT_CERT, "sslrootcert"),
    ] {
        if let Some(v) = p.string(field).filter(|v| !v.is_empty()) {
            set_key(&mut keys, key, v);
        }
    }
    if text.trim().is_empty() && keys.is_empty() {
        return Err(ConfigError::new(
            CONNECTION_STRING.name,
            "missing connection string",
        ));
    }
    Ok(keys)
}

/// Takes pgx's `pool_*` keys out of `keys`, checking their values.
fn take_pool_keys(keys: &mut Vec<(String, String)>) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pool: Vec<(String, String)> = Vec::new();
    keys.retain(|(k, v)| {
        if POOL_KEYS.contains(&k.as_str()) {
            pool.push((k.clone(), v.clone()));
            false
        } else {
            true
        }
    });
    for (k, v) in &pool {
        let ok = match k.as_str() {
            "pool_max_conns" | "pool_min_conns" | "pool_min_idle_conns" => v.parse::<i64>().is_ok(),
            _ => bindery_core::duration::parse_go_duration(v).is_ok(),
        };
        if !ok {
            return Err(ConfigError::new(
                CONNECTION_STRING.name,
                format!("cannot parse `{k}`: invalid value"),
            ));
        }
    }
    Ok(pool)
}

fn timeouts(
    p: &Properties,
    keys: &[(String, String)],
) -> Result<(Duration, Duration), ConfigError> {
    let timeout = p.duration(&TIMEOUT)?.unwrap_or(Duration::from_secs(20));
    if timeout < Duration::from_secs(1) {
        return Err(ConfigError::new(
            TIMEOUT.name,
            "invalid value for 'timeout': must be greater than 1s",
        ));
    }
    let connect_timeout = match key_value(keys, "connect_timeout") {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(0) => timeout,
            Ok(s) => Duration::from_secs(s),
            Err(_) => {
                return Err(ConfigError::new(
                    CONNECTION_STRING.name,
                    "invalid connect_timeout",
                ));
            }
        },
        None => timeout,
    };
    Ok((timeout, connect_timeout))
}

/// `(maxConns, connectionMaxIdleTime)`, each falling back to its `pool_*` key.
fn pool_limits(
    p: &Properties,
    pool: &[(String, String)],
) -> Result<(usize, Option<Duration>), ConfigError> {
    let pool_value = |name: &str| key_value(pool, name);
    let max_conns = p.number::<i64>(&MAX_CONNS)?.unwrap_or(0);
    let max_conns = if max_conns > 0 {
        max_conns as usize
    } else if let Some(n) = pool_value("pool_max_conns")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
    {
        n as usize
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(4)
    };
    let max_idle_time = match p.duration(&CONNECTION_MAX_IDLE_TIME)? {
        Some(d) if !d.is_zero() => Some(d),
        _ => pool_value("pool_max_conn_idle_time")
            .and_then(|v| bindery_core::duration::parse_go_duration(v).ok())
            .filter(|d| !d.is_zero()),
    };
    Ok((max_conns, max_idle_time))
}

fn exec_mode(p: &Properties) -> Result<ExecMode, ConfigError> {
    Ok(
        match p.string(&QUERY_EXEC_MODE).unwrap_or_default().trim() {
            "" | "cache_statement" => ExecMode::CacheStatement,
            "cache_describe" => ExecMode::CacheDescribe,
            "describe_exec" => ExecMode::DescribeExec,
            "exec" => ExecMode::Exec,
            "simple_protocol" => ExecMode::SimpleProtocol,
            other => {
                return Err(ConfigError::new(
                    QUERY_EXEC_MODE.name,
                    format!("invalid value for 'queryExecMode': {other}"),
                ));
            }
        },
    )
}

fn ssl_mode(keys: &[(String, String)]) -> Result<SslMode, ConfigError> {
    Ok(match key_value(keys, "sslmode").unwrap_or("prefer") {
        "disable" => SslMode::Disable,
        "allow" => SslMode::Allow,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(ConfigError::new(
                CONNECTION_STRING.name,
                format!("sslmode is invalid: {other}"),
            ));
        }
    })
}

/// The `port` and `hostaddr` keys must parse (the driver would refuse them later).
fn check_addresses(keys: &[(String, String)]) -> Result<(), ConfigError> {
    if let Some(port) = key_value(keys, "port") {
        for part in port.split(',') {
            part.trim().parse::<u16>().map_err(|_| {
                ConfigError::new(CONNECTION_STRING.name, format!("invalid port {part:?}"))
            })?;
        }
    }
    if let Some(addr) = key_value(keys, "hostaddr") {
        addr.parse::<std::net::IpAddr>()
            .map_err(|_| ConfigError::new(HOSTADDR.name, format!("invalid hostaddr {addr:?}")))?;
    }
    Ok(())
}

impl PostgresConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let mut keys = merged_keys(p)?;
        let pool = take_pool_keys(&mut keys)?;
        let (timeout, connect_timeout) = timeouts(p, &keys)?;
        let (max_conns, max_idle_time) = pool_limits(p, &pool)?;
        let exec_mode = exec_mode(p)?;
        let ssl_mode = ssl_mode(&keys)?;
        let ssl_root_cert = key_value(&keys, "sslrootcert").map(str::to_owned);
        check_addresses(&keys)?;
        let unsupported = if p.bool(&USE_AZURE_AD) {
            Some("useAzureAD (Azure AD authentication)")
        } else if p.bool(&USE_AWS_IAM) {
            Some("useAWSIAM (AWS IAM authentication)")
        } else {
            None
        };
        Ok(Self {
            keys: keys
                .into_iter()
                .map(|(k, v)| (k, Sensitive::new(v)))
                .collect(),
            ssl_mode,
            ssl_root_cert,
            timeout,
            connect_timeout,
            max_conns,
            max_idle_time,
            exec_mode,
            unsupported,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.expose().as_str())
    }

    /// The driver configuration. Unknown keys become run-time parameters (`options=-c k=v`).
    pub fn driver_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut c = tokio_postgres::Config::new();
        let mut options: Vec<String> = Vec::new();
        let mut has_host = false;
        for (k, v) in &self.keys {
            apply_key(&mut c, &mut options, &mut has_host, k, v.expose())?;
        }
        apply_environment(&mut c, has_host);
        if !options.is_empty() {
            c.options(options.join(" "));
        }
        c.connect_timeout(self.connect_timeout);
        c.ssl_mode(match self.ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        Ok(c)
    }
}

/// One connection key onto the driver configuration; keys the driver does not know become
/// run-time parameters in `options`.
fn apply_key(
    c: &mut tokio_postgres::Config,
    options: &mut Vec<String>,
    has_host: &mut bool,
    k: &str,
    v: &str,
) -> Result<(), String> {
    match k {
        "host" => {
            for h in v.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                c.host(h);
                *has_host = true;
            }
        }
        "hostaddr" => {
            let ip = v.parse().map_err(|_| format!("invalid hostaddr {v:?}"))?;
            c.hostaddr(ip);
            *has_host = true;
        }
        "port" => {
            for p in v.split(',') {
                c.port(
                    p.trim()
                        .parse()
                        .map_err(|_| format!("invalid port {p:?}"))?,
                );
            }
        }
        "user" => {
            c.user(v);
        }
        "password" => {
            c.password(v.as_bytes());
        }
        "dbname" => {
            c.dbname(v);
        }
        "application_name" => {
            c.application_name(v);
        }
        "options" => options.push(v.to_owned()),
        "connect_timeout"
        | "sslmode"
        | "sslrootcert"
        | "sslcert"
        | "sslkey"
        | "sslpassword"
        | "sslsni"
        | "sslnegotiation"
        | "fallback_application_name"
        | "krbsrvname"
        | "gssencmode"
        | "passfile"
        | "service"
        | "servicefile"
        | "min_read_buffer_size"
        | "statement_cache_capacity"
        | "description_cache_capacity"
        | "default_query_exec_mode" => {}
        "target_session_attrs" => {
            c.target_session_attrs(match v {
                "read-write" => tokio_postgres::config::TargetSessionAttrs::ReadWrite,
                "read-only" => tokio_postgres::config::TargetSessionAttrs::ReadOnly,
                _ => tokio_postgres::config::TargetSessionAttrs::Any,
            });
        }
        "keepalives" => {
            c.keepalives(v != "0");
        }
        "keepalives_idle" => {
            if let Ok(s) = v.parse::<u64>() {
                c.keepalives_idle(Duration::from_secs(s));
            }
        }
        "tcp_user_timeout" => {
            if let Ok(ms) = v.parse::<u64>() {
                c.tcp_user_timeout(Duration::from_millis(ms));
            }
        }
        other => options.push(format!("-c {other}={}", escape_option(v))),
    }
    Ok(())
}

/// libpq's environment fallbacks for what the keys left unset: host, port, user, password.
fn apply_environment(c: &mut tokio_postgres::Config, has_host: bool) {
    if !has_host {
        let socket = std::path::Path::new("/var/run/postgresql");
        if let Ok(env) = std::env::var("PGHOST") {
            c.host(&env);
        } else if socket.exists() {
            c.host_path(socket);
        } else {
            c.host("localhost");
        }
    }
    if c.get_ports().is_empty() {
        c.port(
            std::env::var("PGPORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(5432),
        );
    }
    if c.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".to_owned());
        c.user(&user);
    }
    if let (None, Ok(pw)) = (c.get_password(), std::env::var("PGPASSWORD")) {
        c.password(pw.as_bytes());
    }
}

fn escape_option(v: &str) -> String {
    v.replace('\\', "\\\\").replace(' ', "\\ ")
}

fn key_value<'a>(keys: &'a [(String, String)], key: &str) -> Option<&'a str> {
    keys.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn set_key(keys: &mut Vec<(String, String)>, key: &str, value: String) {
    keys.retain(|(k, _)| k != key);
    keys.push((key.to_owned(), value));
}

/// Parses a libpq connection string in either form into ordered key/value pairs. `database` is
/// pgx's spelling of `dbname`.
pub fn parse_connection_string(text: &str) -> Result<Vec<(String, String)>, String> {
    let t = text.trim();
    let mut pairs = if t.starts_with("postgres://") || t.starts_with("postgresql://") {
        parse_url(t)?
    } else {
        parse_key_values(t)?
    };
    for (k, _) in pairs.iter_mut() {
        if k == "database" {
            *k = "dbname".to_owned();
        }
    }
    Ok(pairs)
}

fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!(
                "invalid dsn: missing \"=\" after {key:?} in connection info string"
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(
                    "invalid dsn: unterminated quoted string in connection info string".to_owned(),
                );
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err("invalid dsn: empty key".to_owned());
        }
        out.push((key, value));
    }
    Ok(out)
}

fn parse_url(s: &str) -> Result<Vec<(String, String)>, String> {
    let rest = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
        .ok_or("invalid url scheme")?;
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match main.find('/') {
        Some(i) => (&main[..i], &main[i + 1..]),
        None => (main, ""),
    };
    let mut out = Vec::new();
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(ui) = userinfo {
        let (u, p) = match ui.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (ui, None),
        };
        if !u.is_empty() {
            out.push(("user".to_owned(), percent_decode(u)?));
        }
        if let Some(p) = p {
            out.push(("password".to_owned(), percent_decode(p)?));
        }
    }
    if !hosts.is_empty() {
        let mut host_list = Vec::new();
        let mut port_list = Vec::new();
        for h in hosts.split(',') {
            let (host, port) = if let Some(r) = h.strip_prefix('[') {
                let (host, after) = r.split_once(']').ok_or("invalid IPv6 host in url")?;
                (host.to_owned(), after.strip_prefix(':').map(str::to_owned))
            } else {
                match h.rsplit_once(':') {
                    Some((host, port)) => (host.to_owned(), Some(port.to_owned())),
                    None => (h.to_owned(), None),
                }
            };
            if !host.is_empty() {
                host_list.push(percent_decode(&host)?);
            }
            if let Some(p) = port.filter(|p| !p.is_empty()) {
                port_list.push(p);
            }
        }
        if !host_list.is_empty() {
            out.push(("host".to_owned(), host_list.join(",")));
        }
        if !port_list.is_empty() {
            out.push(("port".to_owned(), port_list.join(",")));
        }
    }
    if !path.is_empty() {
        out.push(("dbname".to_owned(), percent_decode(path)?));
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((percent_decode(k)?, percent_decode(&v.replace('+', " "))?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    use crate::common::escape::PercentError;
    crate::common::escape::percent_decode(s).map_err(|e| {
        match e {
            PercentError::BadEscape => "invalid percent-encoding in url",
            PercentError::NotUtf8 => "invalid UTF-8 in url",
        }
        .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn key_value_form() {
        let kv = parse_connection_string(
            "host=localhost user=postgres password='a b\\'c' port=5432 connect_timeout=10 database=dapr_test",
        )
        .unwrap();
        assert_eq!(
            kv,
            vec![
                ("host".into(), "localhost".into()),
                ("user".into(), "postgres".into()),
                ("password".into(), "a b'c".into()),
                ("port".into(), "5432".into()),
                ("connect_timeout".into(), "10".into()),
                ("dbname".into(), "dapr_test".into()),
            ]
        );
        assert!(parse_connection_string("host").is_err());
        assert!(parse_connection_string("password='open").is_err());
    }

    #[test]
    fn url_form() {
        let kv = parse_connection_string(
            "postgres://dapr:s%40cret@db.example.com:5433/dapr?sslmode=verify-ca&pool_max_conns=7",
        )
        .unwrap();
        assert_eq!(
            kv,
            vec![
                ("user".into(), "dapr".into()),
                ("password".into(), "s@cret".into()),
                ("host".into(), "db.example.com".into()),
                ("port".into(), "5433".into()),
                ("dbname".into(), "dapr".into()),
                ("sslmode".into(), "verify-ca".into()),
                ("pool_max_conns".into(), "7".into()),
            ]
        );
        let kv = parse_connection_string("postgresql://[::1]:5432,h2:5434/db").unwrap();
        assert_eq!(kv[0], ("host".into(), "::1,h2".into()));
        assert_eq!(kv[1], ("port".into(), "5432,5434".into()));
    }

    #[test]
    fn defaults_and_aliases() {
        let c = PostgresConfig::from_properties(&props(&[("url", "host=h user=u")])).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(20));
        assert_eq!(c.connect_timeout, Duration::from_secs(20));
        assert_eq!(c.exec_mode, ExecMode::CacheStatement);
        assert_eq!(c.ssl_mode, SslMode::Prefer);
        assert!(c.max_conns >= 4);
        assert_eq!(c.max_idle_time, None);
        assert_eq!(c.get("host"), Some("h"));
        let c = PostgresConfig::from_properties(&props(&[
            ("connectionString", "host=a"),
            ("url", "host=b"),
            ("timeoutInSeconds", "30"),
        ]))
        .unwrap();
        assert_eq!(c.get("host"), Some("a"));
        assert_eq!(c.timeout, Duration::from_secs(30));
        let e = PostgresConfig::from_properties(&props(&[
            ("connectionString", "host=a"),
            ("timeout", "500ms"),
        ]))
        .unwrap_err();
        assert_eq!(e.field, "timeout");
        let e = PostgresConfig::from_properties(&props(&[])).unwrap_err();
        assert_eq!(e.field, "connectionString");
    }

    #[test]
    fn overrides_and_pool_keys() {
        let c = PostgresConfig::from_properties(&props(&[
            ("connectionString", "postgres://u:p@h:1/db?pool_max_conns=7&pool_max_conn_idle_time=30s&pool_min_conns=1&search_path=x"),
            ("host", "other"),
            ("port", "6543"),
            ("database", "db2"),
            ("password", "pw"),
            ("sslRootCert", "/ca.pem"),
        ]))
        .unwrap();
        assert_eq!(c.get("host"), Some("other"));
        assert_eq!(c.get("port"), Some("6543"));
        assert_eq!(c.get("dbname"), Some("db2"));
        assert_eq!(c.get("password"), Some("pw"));
        assert_eq!(c.ssl_root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(c.max_conns, 7);
        assert_eq!(c.max_idle_time, Some(Duration::from_secs(30)));
        assert!(c.get("pool_max_conns").is_none());
        let driver = c.driver_config().unwrap();
        assert_eq!(driver.get_options(), Some("-c search_path=x"));
        assert_eq!(driver.get_ports(), &[6543]);
        let c = PostgresConfig::from_properties(&props(&[
            ("connectionString", "host=h pool_max_conns=7"),
            ("maxConns", "3"),
            ("connectionMaxIdleTime", "1m"),
        ]))
        .unwrap();
        assert_eq!(c.max_conns, 3);
        assert_eq!(c.max_idle_time, Some(Duration::from_secs(60)));
        assert!(
            PostgresConfig::from_properties(&props(&[(
                "connectionString",
                "host=h pool_max_conns=x"
            )]))
            .is_err()
        );
    }

    #[test]
    fn exec_modes_and_ssl_modes() {
        for (v, m) in [
            ("cache_describe", ExecMode::CacheDescribe),
            ("describe_exec", ExecMode::DescribeExec),
            ("exec", ExecMode::Exec),
            ("simple_protocol", ExecMode::SimpleProtocol),
        ] {
            let c =
                PostgresConfig::from_properties(&props(&[("url", "host=h"), ("queryExecMode", v)]))
                    .unwrap();
            assert_eq!(c.exec_mode, m);
        }
        assert!(
            PostgresConfig::from_properties(&props(&[
                ("url", "host=h"),
                ("queryExecMode", "fast")
            ]))
            .is_err()
        );
        let c = PostgresConfig::from_properties(&props(&[("url", "host=h sslmode=verify-full")]))
            .unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert!(
            PostgresConfig::from_properties(&props(&[("url", "host=h sslmode=maybe")])).is_err()
        );
    }

    #[test]
    fn token_auth_is_flagged() {
        let c =
            PostgresConfig::from_properties(&props(&[("url", "host=h"), ("useAzureAD", "true")]))
                .unwrap();
        assert!(c.unsupported.is_some());
    }

    #[test]
    fn debug_hides_connection_values() {
        let c = PostgresConfig::from_properties(&props(&[(
            "connectionString",
            "postgres://app:hunter2@db:5432/app?sslmode=disable",
        )]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("password"),
            "key names stay visible: {shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
