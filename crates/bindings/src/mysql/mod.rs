//! `bindings.mysql`: runs SQL against MySQL or MariaDB (components-contrib `bindings/mysql`).
//!
//! Operations `exec`, `query` and `close`, with `?` placeholders. `query` answers a JSON array
//! of objects keyed by column name (keys sorted, as Go marshals maps), or `null` when there are
//! no rows, reproducing go-sql-driver + daprd's conversion:
//! - NULL columns are left out, except binary columns and columns of type NULL, which daprd
//!   scans into non-nil pointers and so shows as `null`;
//! - integers and floats are numbers (TINYINT(1) is 1 or 0);
//! - DATE/DATETIME/TIMESTAMP are RFC 3339 in UTC (`parseTime` is forced; zero dates become
//!   `0001-01-01T00:00:00Z`);
//! - DECIMAL, TIME, ENUM, SET and text columns are strings;
//! - binary columns (BLOB, VARBINARY, BIT, ...) are base64;
//! - MySQL's native `JSON` type is base64 of its text (daprd scans it as raw bytes). MariaDB has
//!   no such wire type: its JSON columns are LONGTEXT and come out as strings, which is what
//!   daprd shows against MariaDB too.
//!
//! Every call checks its pooled connection with a ping first and replaces it when the server
//! went away, so the binding recovers by itself after a server restart (Go's database/sql does
//! the same with its bad-connection retries).
//!
//! bindery bounds each whole operation (connection, ping, query, rows) by the DSN's
//! `readTimeout`, or by the dial timeout (`timeout`, default 20 s) when it has none, and answers
//! `i/o timeout`; daprd's driver waits on a dead link until TCP gives up (minutes).

mod config;

use crate::sql::{self, SqlOutcome};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::gojson::{format_go_float, to_go_json};
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InvokeRequest, InvokeResponse, OutputBinding,
};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{
    Column, Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, QueryResult, Row, SslOpts,
    Value,
};
use serde_json::Value as Json;

pub use config::{Address, Dsn, MysqlConfig, Tls, parse_dsn};

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "exec",
        description: "Run a statement (DDL, INSERT, UPDATE, DELETE); answers rows-affected in the metadata.",
    },
    Operation {
        name: "query",
        description: "Run a SELECT; answers a JSON array of objects keyed by column name, or null.",
    },
    Operation {
        name: "close",
        description: "Close the connection pool; later exec and query calls fail.",
    },
];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.mysql",
    aliases: &[],
    status: "alpha",
    summary: "Run SQL statements and queries against MySQL and MariaDB.",
    fields: config::FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<MysqlConfig>,
    build_input: None,
    build_output: Some(build_output),
};

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<MysqlConfig>()?;
        let binding = MysqlBinding::connect(config).await?;
        Ok(Box::new(binding) as Box<dyn OutputBinding>)
    })
}

/// How many times a call replaces a dead pooled connection before giving up.
const BAD_CONN_RETRIES: usize = 3;

/// The output binding.
pub struct MysqlBinding {
    pool: Mutex<Option<Pool>>,
    connect_timeout: Duration,
    /// Bound on one whole operation (connection, query, reading the rows).
    operation_timeout: Duration,
}

impl MysqlBinding {
    pub async fn connect(config: MysqlConfig) -> Result<Self, BindingError> {
        let opts = options(&config)?;
        let pool = Pool::new(opts);
        let connect_timeout = config.dsn.dial_timeout.unwrap_or(Duration::from_secs(20));
        let ping = async {
            let mut conn = pool.get_conn().await?;
            conn.ping().await?;
            Ok::<_, mysql_async::Error>(())
        };
        match tokio::time::timeout(connect_timeout, ping).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = pool.disconnect().await;
                return Err(BindingError::unavailable(format!(
                    "unable to ping the DB: {}",
                    describe(&e)
                )));
            }
            Err(_) => {
                let _ = pool.disconnect().await;
                return Err(BindingError::unavailable(
                    "unable to ping the DB: i/o timeout",
                ));
            }
        }
        Ok(Self {
            pool: Mutex::new(Some(pool)),
            connect_timeout,
            // daprd's driver waits without bound on a dead link unless the DSN has
            // `readTimeout`; bindery bounds every operation, by default as the dial.
            operation_timeout: config.dsn.read_timeout.unwrap_or(connect_timeout),
        })
    }

    fn pool(&self) -> Result<Pool, BindingError> {
        self.pool
            .lock()
            .map_err(|_| BindingError::other("component state poisoned"))?
            .clone()
            .ok_or_else(|| BindingError::closed("component is closed"))
    }

    async fn shut(&self) {
        let pool = self.pool.lock().ok().and_then(|mut p| p.take());
        if let Some(pool) = pool {
            let _ = pool.disconnect().await;
        }
    }

    /// A pooled connection that answered a ping.
    async fn conn(&self) -> Result<Conn, BindingError> {
        let pool = self.pool()?;
        let mut last = None;
        for _ in 0..BAD_CONN_RETRIES {
            let attempt = async {
                let mut conn = pool.get_conn().await?;
                conn.ping().await?;
                Ok::<_, mysql_async::Error>(conn)
            };
            match tokio::time::timeout(self.connect_timeout, attempt).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    return Err(BindingError::unavailable(
                        "error executing query: i/o timeout",
                    ));
                }
            }
        }
        let e = last.map(|e| describe(&e)).unwrap_or_default();
        Err(BindingError::unavailable(format!(
            "error executing query: {e}"
        )))
    }

    async fn run(&self, sql: &str, params: &[Json]) -> Result<(Vec<Row>, u64), BindingError> {
        let timeout = self.operation_timeout;
        tokio::time::timeout(timeout, self.run_unbounded(sql, params))
            .await
            .unwrap_or_else(|_| {
                Err(BindingError::unavailable(format!(
                    "error executing query: i/o timeout (after {timeout:?})"
                )))
            })
    }

    async fn run_unbounded(
        &self,
        sql: &str,
        params: &[Json],
    ) -> Result<(Vec<Row>, u64), BindingError> {
        let mut conn = self.conn().await?;
        let outcome = if params.is_empty() {
            match conn.query_iter(sql).await {
                Ok(r) => consume(r).await,
                Err(e) => Err(e),
            }
        } else {
            let values: Vec<Value> = params.iter().map(param_value).collect();
            match conn.exec_iter(sql, values).await {
                Ok(r) => consume(r).await,
                Err(e) => Err(e),
            }
        };
        outcome.map_err(|e| classify(&e, format!("error executing query: {}", describe(&e))))
    }
}

async fn consume<P: Protocol>(
    mut result: QueryResult<'_, 'static, P>,
) -> Result<(Vec<Row>, u64), mysql_async::Error> {
    let mut rows = Vec::new();
    let mut affected = 0;
    // Take the first result set's rows; drain the rest (multi-statement text queries).
    let mut first = true;
    while !result.is_empty() {
        let set: Vec<Row> = result.collect().await?;
        if first {
            rows = set;
            affected = result.affected_rows();
            first = false;
        } else {
            affected = result.affected_rows();
        }
    }
    if first {
        affected = result.affected_rows();
    }
    Ok((rows, affected))
}

fn options(config: &MysqlConfig) -> Result<Opts, BindingError> {
    let dsn = &config.dsn;
    let mut b = OptsBuilder::default()
        .user(dsn.user.clone())
        .pass(dsn.password.as_ref().map(|p| p.expose().clone()))
        .db_name(dsn.db.clone())
        .prefer_socket(false);
    b = match &dsn.address {
        Address::Tcp { host, port } => b.ip_or_hostname(host.clone()).tcp_port(*port),
        Address::Unix(path) => b.socket(Some(path.clone())),
    };
    if !dsn.session_vars.is_empty() {
        let init: Vec<String> = dsn
            .session_vars
            .iter()
            .map(|(k, v)| format!("SET {k}={v}"))
            .collect();
        b = b.init(init);
    }
    let ssl = match dsn.tls {
        Tls::Off => None,
        Tls::Verify => Some(SslOpts::default()),
        Tls::SkipVerify => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Tls::Custom => {
            // daprd registers the `custom` TLS config only when pemPath is set.
            let path = config.pem_path.clone().ok_or_else(|| {
                BindingError::invalid("invalid value / unknown config name: custom")
            })?;
            std::fs::metadata(&path).map_err(|e| {
                BindingError::invalid(format!("error reading PEM file from {path}: {e}"))
            })?;
            Some(SslOpts::default().with_root_certs(vec![std::path::PathBuf::from(path).into()]))
        }
    };
    if ssl.is_some() {
        crate::common::tls::install_ring_provider();
    }
    b = b.ssl_opts(ssl);
    let max = config.max_open_conns.unwrap_or(100).max(1);
    let min = config.max_idle_conns.unwrap_or(2).min(max);
    let constraints = PoolConstraints::new(min, max)
        .ok_or_else(|| BindingError::invalid("invalid pool constraints"))?;
    let mut pool = PoolOpts::default().with_constraints(constraints);
    if let Some(idle) = config.conn_max_idle_time {
        pool = pool.with_inactive_connection_ttl(idle);
    }
    if let Some(life) = config.conn_max_lifetime {
        pool = pool.with_abs_conn_ttl(Some(life));
    }
    Ok(b.pool_opts(pool).into())
}

/// go-sql-driver's `MySQLError.Error()`: `Error 1064 (42000): message`.
fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("Error {} ({}): {}", s.code, s.state, s.message),
        other => other.to_string(),
    }
}

/// Server-reported SQL errors are the request's fault, except the few that mean the server is
/// overloaded or going away; I/O and connection errors are retriable.
fn classify(e: &mysql_async::Error, message: String) -> BindingError {
    match e {
        mysql_async::Error::Server(s) => {
            if matches!(
                s.code,
                1040 | 1053 | 1077 | 1078 | 1079 | 1080 | 1152 | 1153 | 1205 | 1213 | 1927
            ) {
                BindingError::unavailable(message)
            } else {
                BindingError::invalid(message)
            }
        }
        mysql_async::Error::Io(_) => BindingError::unavailable(message),
        mysql_async::Error::Driver(d) => {
            use mysql_async::DriverError::*;
            match d {
                ConnectionClosed
                | PoolDisconnected
                | PacketOutOfOrder
                | UnexpectedPacket { .. } => BindingError::unavailable(message),
                _ => BindingError::invalid(message),
            }
        }
        mysql_async::Error::Url(_) => BindingError::invalid(message),
        mysql_async::Error::Other(_) => BindingError::unavailable(message),
    }
}

/// A JSON parameter as a MySQL value. Integral numbers go as integers, other numbers as
/// doubles, bools as 1/0 (as go-sql-driver sends them). Arrays and objects, which
/// go-sql-driver refuses, are sent as their JSON text.
fn param_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::NULL,
        Json::Bool(b) => Value::Int(i64::from(*b)),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Double(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => Value::Bytes(s.clone().into_bytes()),
        other => Value::Bytes(other.to_string().into_bytes()),
    }
}

const BINARY_CHARSET: u16 = 63;

/// How daprd ends up encoding a column, from go-sql-driver's scan type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Time,
    Text,
    /// Scanned into `[]byte` / `sql.RawBytes`: base64, and `null` (not omitted) when NULL.
    Bytes,
    /// MySQL's type NULL: always `null`.
    Null,
}

fn kind(column: &Column) -> Kind {
    use ColumnType::*;
    match column.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG => Kind::Int,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Kind::Float,
        MYSQL_TYPE_DATE
        | MYSQL_TYPE_NEWDATE
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_DATETIME2 => Kind::Time,
        MYSQL_TYPE_JSON => Kind::Bytes,
        MYSQL_TYPE_NULL => Kind::Null,
        MYSQL_TYPE_BIT
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_GEOMETRY
            if column.character_set() == BINARY_CHARSET =>
        {
            Kind::Bytes
        }
        _ => Kind::Text,
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&to_go_json(&Json::String(s.to_owned())));
}

fn base64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Encodes one non-NULL value. Returns `None` to leave the column out.
fn encode(column: &Column, value: &Value) -> Option<Vec<u8>> {
    let k = kind(column);
    let mut out = Vec::new();
    match (value, k) {
        (Value::NULL, Kind::Bytes | Kind::Null) => out.extend_from_slice(b"null"),
        (Value::NULL, _) => return None,
        (_, Kind::Null) => out.extend_from_slice(b"null"),
        (Value::Int(i), _) => out.extend_from_slice(i.to_string().as_bytes()),
        (Value::UInt(u), _) => out.extend_from_slice(u.to_string().as_bytes()),
        (Value::Float(f), _) => {
            let f = f.to_string().parse::<f64>().unwrap_or(f64::from(*f));
            out.extend_from_slice(format_go_float(f).as_bytes());
        }
        (Value::Double(f), _) => out.extend_from_slice(format_go_float(*f).as_bytes()),
        (Value::Date(y, mo, d, h, mi, s, us), _) => {
            write_str(&mut out, &datetime(*y, *mo, *d, *h, *mi, *s, *us))
        }
        (Value::Time(neg, days, h, m, s, us), _) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let mut t = format!("{}{hours:02}:{m:02}:{s:02}", if *neg { "-" } else { "" });
            if *us != 0 {
                t.push_str(&format!(".{us:06}"));
            }
            write_str(&mut out, &t);
        }
        (Value::Bytes(b), Kind::Int) => {
            let s = std::str::from_utf8(b).ok()?;
            if s.parse::<i128>().is_ok() {
                out.extend_from_slice(s.as_bytes());
            } else {
                write_str(&mut out, s);
            }
        }
        (Value::Bytes(b), Kind::Float) => {
            let s = std::str::from_utf8(b).ok()?;
            match s.parse::<f64>() {
                Ok(f) if f.is_finite() => out.extend_from_slice(format_go_float(f).as_bytes()),
                _ => write_str(&mut out, s),
            }
        }
        (Value::Bytes(b), Kind::Time) => {
            let s = String::from_utf8_lossy(b);
            write_str(
                &mut out,
                &text_datetime(&s).unwrap_or_else(|| s.into_owned()),
            );
        }
        (Value::Bytes(b), Kind::Bytes) => write_str(&mut out, &base64(b)),
        (Value::Bytes(b), Kind::Text) => match std::str::from_utf8(b) {
            Ok(s) => write_str(&mut out, s),
            Err(_) => write_str(&mut out, &String::from_utf8_lossy(b)),
        },
    }
    Some(out)
}

/// RFC 3339 (Go's RFC3339Nano) for a UTC date-time; the zero date is Go's zero time.
fn datetime(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> String {
    if y == 0 && mo == 0 && d == 0 {
        return "0001-01-01T00:00:00Z".to_owned();
    }
    let mut t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if us != 0 {
        t.push_str(format!(".{us:06}").trim_end_matches('0'));
    }
    t.push('Z');
    t
}

/// Parses the text protocol's `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`.
fn text_datetime(s: &str) -> Option<String> {
    let (date, time) = s.split_once(' ').unwrap_or((s, "00:00:00"));
    let mut dp = date.split('-');
    let y: u16 = dp.next()?.parse().ok()?;
    let mo: u8 = dp.next()?.parse().ok()?;
    let d: u8 = dp.next()?.parse().ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.split(':');
    let h: u8 = tp.next()?.parse().ok()?;
    let mi: u8 = tp.next()?.parse().ok()?;
    let sec: u8 = tp.next()?.parse().ok()?;
    let us: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").get(..6)?.parse().ok()?
    };
    Some(datetime(y, mo, d, h, mi, sec, us))
}

/// Rows as daprd marshals them: objects with sorted keys, or `null` for no rows.
fn rows_json(rows: &[Row]) -> Vec<u8> {
    if rows.is_empty() {
        return b"null".to_vec();
    }
    let mut out = Vec::new();
    out.push(b'[');
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            out.push(b',');
        }
        let columns = row.columns_ref();
        let mut fields: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (i, column) in columns.iter().enumerate() {
            let value = row.as_ref(i).unwrap_or(&Value::NULL);
            if let Some(encoded) = encode(column, value) {
                fields.insert(column.name_str().as_bytes().to_vec(), encoded);
            }
        }
        out.push(b'{');
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, &String::from_utf8_lossy(name));
            out.push(b':');
            out.extend_from_slice(value);
        }
        out.push(b'}');
    }
    out.push(b']');
    out
}

#[async_trait]
impl OutputBinding for MysqlBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        if request.operation == "close" {
            self.shut().await;
            return Ok(None);
        }
        self.pool()?;
        let (sql, params) = sql::statement(&request)?;
        sql::timed(&request.operation, &sql, async {
            match request.operation.as_str() {
                "exec" => {
                    let (_, rows_affected) = self.run(&sql, &params).await?;
                    Ok(SqlOutcome::Exec { rows_affected })
                }
                "query" => {
                    let (rows, _) = self.run(&sql, &params).await?;
                    Ok(SqlOutcome::Query {
                        data: rows_json(&rows),
                    })
                }
                other => Err(sql::unknown_operation(other)),
            }
        })
        .await
    }

    async fn close(&self) -> Result<(), BindingError> {
        self.shut().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::testing::corpus_components;

    #[test]
    fn corpus_component_files_decode() {
        let Some(components) = corpus_components(
            &DESCRIPTOR,
            &["certification/bindings/mysql/components/standard/mysql.yaml"],
        ) else {
            return;
        };
        let mut decoded = 0;
        for c in &components {
            assert!(DESCRIPTOR.matches(&c.component.spec_type.to_lowercase()));
            let config = MysqlConfig::from_properties(&c.properties()).unwrap();
            assert_eq!(config.dsn.db.as_deref(), Some("dapr_test"));
            options(&config).unwrap();
            decoded += 1;
        }
        assert_eq!(decoded, 1);
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            text_datetime("2022-01-28 10:04:55").unwrap(),
            "2022-01-28T10:04:55Z"
        );
        assert_eq!(
            text_datetime("2022-01-28 10:04:55.120").unwrap(),
            "2022-01-28T10:04:55.12Z"
        );
        assert_eq!(text_datetime("2022-01-28").unwrap(), "2022-01-28T00:00:00Z");
        assert_eq!(
            text_datetime("0000-00-00 00:00:00").unwrap(),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(
            datetime(2020, 9, 24, 11, 45, 5, 500_000),
            "2020-09-24T11:45:05.5Z"
        );
    }

    #[test]
    fn params() {
        assert_eq!(param_value(&serde_json::json!(1)), Value::Int(1));
        assert_eq!(param_value(&serde_json::json!(1.5)), Value::Double(1.5));
        assert_eq!(param_value(&serde_json::json!(true)), Value::Int(1));
        assert_eq!(param_value(&serde_json::json!(null)), Value::NULL);
        assert_eq!(
            param_value(&serde_json::json!("x")),
            Value::Bytes(b"x".to_vec())
        );
    }
}
