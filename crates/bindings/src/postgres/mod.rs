//! `bindings.postgres` (alias `bindings.postgresql`): runs SQL against PostgreSQL
//! (components-contrib `bindings/postgres`).
//!
//! Operations `exec` (rows affected), `query` (rows as JSON arrays of values in column order)
//! and `close`. A deadpool pool of tokio-postgres connections recovers by itself after a server
//! restart: broken connections are dropped when they are returned or checked out, and new ones
//! are opened on demand. `exec` without params uses the simple protocol (several statements are
//! allowed), like pgx; everything else is prepared, with parameters sent as text so the server
//! converts them to the statement's types. Connecting honours `sslmode` the way pgx does
//! (`prefer`/`require` do not verify the certificate, `verify-ca` checks the chain,
//! `verify-full` also the host name). `sslcert`/`sslkey` client certificates are not supported.

mod config;
mod tls;
mod values;

use crate::sql::{self, SqlOutcome};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InvokeRequest, InvokeResponse, OutputBinding,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::ToSql;

pub use config::{ExecMode, PostgresConfig, SslMode, parse_connection_string};
pub use values::rfc3339_nano;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "exec",
        description: "Run a statement (DDL, INSERT, UPDATE, DELETE); answers rows-affected in the metadata.",
    },
    Operation {
        name: "query",
        description: "Run a SELECT; answers a JSON array with one array of column values per row.",
    },
    Operation {
        name: "close",
        description: "Close the connection pool; later exec and query calls fail.",
    },
];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.postgres",
    aliases: &["bindings.postgresql"],
    status: "stable",
    summary: "Run SQL statements and queries against PostgreSQL.",
    fields: config::FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<PostgresConfig>,
    build_input: None,
    build_output: Some(build_output),
};

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<PostgresConfig>()?;
        let binding = PostgresBinding::connect(config).await?;
        Ok(Box::new(binding) as Box<dyn OutputBinding>)
    })
}

/// The output binding.
pub struct PostgresBinding {
    pool: Pool,
    exec_mode: ExecMode,
    /// Bound on one operation (daprd's `timeout`): waiting for a connection and the query.
    timeout: std::time::Duration,
    closed: AtomicBool,
    reaper: Option<tokio::task::JoinHandle<()>>,
}

impl PostgresBinding {
    /// Builds the pool and pings within `timeout`, as daprd's Init does.
    pub async fn connect(config: PostgresConfig) -> Result<Self, BindingError> {
        if let Some(what) = config.unsupported {
            return Err(BindingError::invalid(format!(
                "postgres binding: {what} is not supported by bindery"
            )));
        }
        let driver = config
            .driver_config()
            .map_err(|e| BindingError::invalid(format!("unable to connect to the DB: {e}")))?;
        let tls = tls::connector(&config)
            .map_err(|e| BindingError::invalid(format!("unable to connect to the DB: {e}")))?;
        let manager = Manager::from_config(
            driver,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_conns)
            .wait_timeout(Some(config.timeout))
            .create_timeout(Some(config.timeout))
            .recycle_timeout(Some(config.timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| BindingError::invalid(format!("unable to connect to the DB: {e}")))?;

        let ping = async {
            let client = pool.get().await.map_err(pool_error_text)?;
            client.simple_query("").await.map_err(|e| describe(&e))?;
            Ok::<(), String>(())
        };
        match tokio::time::timeout(config.timeout, ping).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(BindingError::unavailable(format!(
                    "failed to ping the DB: {e}"
                )));
            }
            Err(_) => {
                return Err(BindingError::unavailable(
                    "failed to ping the DB: context deadline exceeded",
                ));
            }
        }

        let reaper = config.max_idle_time.map(|idle| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let period = (idle / 2).max(std::time::Duration::from_secs(1));
                loop {
                    tokio::time::sleep(period).await;
                    if pool.is_closed() {
                        return;
                    }
                    pool.retain(|_, metrics| metrics.last_used() < idle);
                }
            })
        });

        Ok(Self {
            pool,
            exec_mode: config.exec_mode,
            timeout: config.timeout,
            closed: AtomicBool::new(false),
            reaper,
        })
    }

    fn shut(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.pool.close();
            if let Some(r) = &self.reaper {
                r.abort();
            }
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, BindingError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Closed => BindingError::closed("component is closed"),
            PoolError::Backend(e) => {
                classify(&e, format!("error executing query: {}", describe(&e)))
            }
            other => BindingError::unavailable(format!(
                "error executing query: {}",
                pool_error_text(other)
            )),
        })
    }

    async fn statement(
        &self,
        client: &deadpool_postgres::Object,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if self.exec_mode.caches() {
            client.prepare_cached(sql).await
        } else {
            client.prepare(sql).await
        }
    }

    async fn exec(&self, sql: &str, params: &[Value]) -> Result<u64, BindingError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let client = self.bounded_client(deadline).await?;
        let run = async {
            if params.is_empty() {
                let messages = client.simple_query(sql).await?;
                let affected = messages
                    .iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::CommandComplete(n) => Some(*n),
                        _ => None,
                    })
                    .next_back()
                    .unwrap_or(0);
                return Ok(affected);
            }
            let stmt = self.statement(&client, sql).await?;
            let args = bind(&stmt, params);
            let refs: Vec<&(dyn ToSql + Sync)> =
                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            client.execute(&stmt, &refs).await
        };
        let outcome = tokio::time::timeout_at(deadline, run).await;
        self.settle(client, outcome)
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<u8>, BindingError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let client = self.bounded_client(deadline).await?;
        let run = async {
            let stmt = self.statement(&client, sql).await?;
            let args = bind(&stmt, params);
            let refs: Vec<&(dyn ToSql + Sync)> =
                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            let rows = client.query(&stmt, &refs).await?;
            let mut out = Vec::with_capacity(64 + rows.len() * 32);
            out.push(b'[');
            for (r, row) in rows.iter().enumerate() {
                if r > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                for (i, column) in row.columns().iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let raw: values::Raw<'_> = row.try_get(i)?;
                    values::write_value(&mut out, column.type_(), raw.0);
                }
                out.push(b']');
            }
            out.push(b']');
            Ok::<_, tokio_postgres::Error>(out)
        };
        let outcome = tokio::time::timeout_at(deadline, run).await;
        self.settle(client, outcome)
    }

    /// A pooled connection, waiting no later than `deadline` (the operation's `timeout`).
    async fn bounded_client(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<deadpool_postgres::Object, BindingError> {
        tokio::time::timeout_at(deadline, self.client())
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }

    /// The outcome of one operation. A connection whose operation timed out may sit on a dead
    /// link with a request in flight: it leaves the pool instead of serving the next call.
    fn settle<T>(
        &self,
        client: deadpool_postgres::Object,
        outcome: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, BindingError> {
        match outcome {
            Ok(result) => result.map_err(|e| query_error(&e)),
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                Err(self.timed_out())
            }
        }
    }

    fn timed_out(&self) -> BindingError {
        BindingError::unavailable(format!(
            "error executing query: context deadline exceeded (timeout {:?})",
            self.timeout
        ))
    }
}

impl Drop for PostgresBinding {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Pairs each JSON parameter with the statement's parameter type. Extra or missing values are
/// left to the driver, which reports the count mismatch.
fn bind(stmt: &tokio_postgres::Statement, params: &[Value]) -> Vec<values::TextParam> {
    params
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let ty = stmt
                .params()
                .get(i)
                .cloned()
                .unwrap_or(tokio_postgres::types::Type::TEXT);
            values::param_text(v, &ty)
        })
        .collect()
}

/// pgx's `PgError.Error()`: `ERROR: message (SQLSTATE code)`; the driver's text otherwise.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => e.to_string(),
    }
}

fn pool_error_text(e: PoolError) -> String {
    match e {
        PoolError::Backend(e) => describe(&e),
        PoolError::Timeout(_) => {
            "timeout: context deadline exceeded while acquiring a connection".to_owned()
        }
        PoolError::Closed => "component is closed".to_owned(),
        other => other.to_string(),
    }
}

fn query_error(e: &tokio_postgres::Error) -> BindingError {
    classify(e, format!("error executing query: {}", describe(e)))
}

/// SQL errors (syntax, constraints, types) are the request's fault; lost connections and
/// server shutdowns are retriable.
fn classify(e: &tokio_postgres::Error, message: String) -> BindingError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let transient = code.starts_with("08") || code.starts_with("57P") || code.starts_with("53");
        return if transient {
            BindingError::unavailable(message)
        } else {
            BindingError::invalid(message)
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut io = false;
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            io = true;
            break;
        }
        source = s.source();
    }
    if e.is_closed()
        || io
        || e.to_string().contains("timeout")
        || e.to_string().contains("connection")
    {
        BindingError::unavailable(message)
    } else {
        BindingError::invalid(message)
    }
}

#[async_trait]
impl OutputBinding for PostgresBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        // `close` succeeds even when already closed.
        if request.operation == "close" {
            self.shut();
            return Ok(None);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(BindingError::closed("component is closed"));
        }
        let (sql, params) = sql::statement(&request)?;
        sql::timed(&request.operation, &sql, async {
            match request.operation.as_str() {
                "exec" => Ok(SqlOutcome::Exec {
                    rows_affected: self.exec(&sql, &params).await?,
                }),
                "query" => Ok(SqlOutcome::Query {
                    data: self.query(&sql, &params).await?,
                }),
                other => Err(sql::unknown_operation(other)),
            }
        })
        .await
    }

    async fn close(&self) -> Result<(), BindingError> {
        self.shut();
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
            &[
                "config/bindings/postgresql",
                "certification/bindings/postgres/components",
            ],
        ) else {
            return;
        };
        let mut decoded = 0;
        for c in &components {
            // The conformance runner substitutes `${{...}}` placeholders; so do we.
            let props = c.properties_mapped(|_, value| {
                if value.starts_with("${{") {
                    "host=db.example.com user=app sslmode=require".to_owned()
                } else {
                    value.to_owned()
                }
            });
            let config = PostgresConfig::from_properties(&props)
                .unwrap_or_else(|e| panic!("{}: {e}", c.relative()));
            config.driver_config().unwrap();
            decoded += 1;
        }
        assert!(
            decoded >= 3,
            "only {decoded} postgres component files decoded"
        );
    }
}
