//! `bindings.redis`: an output binding that stores, reads, deletes and increments one key per
//! call (components-contrib `bindings/redis`).
//!
//! Single servers go through a [`ConnectionManager`], which reconnects by itself in the
//! background; Redis Cluster goes through the crate's async cluster connection. Commands that
//! fail because the connection broke are retried `redisMaxRetries` times with go-redis style
//! backoff, as go-redis does. Data is stored exactly as given: over HTTP a JSON string keeps its
//! quotes, like daprd.

mod config;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InvokeRequest, InvokeResponse, OutputBinding,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{
    ClientTlsConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, RedisError,
    TlsCertificates,
};

pub use config::{RedisConfig, Toggle, Unsupported, request_ttl};

/// What the key-based operations answer when `key` is missing.
pub const MISSING_KEY: &str = "redis binding: missing key in request metadata";

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create",
        description: "SET the key to the request data; EXPIRE it when ttl/ttlInSeconds is given.",
    },
    Operation {
        name: "get",
        description: "GET the key (GETDEL when `delete` is \"true\"); a missing key answers with empty data.",
    },
    Operation {
        name: "delete",
        description: "DEL the key.",
    },
    Operation {
        name: "increment",
        description: "INCR the key (EXPIRE it when a ttl is given); the new value is not returned.",
    },
];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.redis",
    aliases: &[],
    status: "stable",
    summary: "Set, get, delete and increment Redis keys.",
    fields: config::FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<RedisConfig>,
    build_input: None,
    build_output: Some(build_output),
};

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<RedisConfig>()?;
        let binding = RedisBinding::connect(config).await?;
        Ok(Box::new(binding) as Box<dyn OutputBinding>)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RedisBindingError {
    #[error("redis binding: {0} is not supported by bindery")]
    Unsupported(&'static str),
    #[error("redis binding: error connecting to redis at {host}: {source}")]
    Connect { host: String, source: RedisError },
    #[error("redis binding: invalid TLS settings: {0}")]
    Tls(String),
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Command(RedisError),
    #[error("redis binding: component is closed")]
    Closed,
}

impl From<RedisBindingError> for BindingError {
    fn from(e: RedisBindingError) -> Self {
        let message = e.to_string();
        match e {
            RedisBindingError::Unsupported(_)
            | RedisBindingError::Tls(_)
            | RedisBindingError::Request(_) => BindingError::invalid(message),
            RedisBindingError::Connect { source, .. } => {
                BindingError::unavailable(message).with_source(source)
            }
            RedisBindingError::Command(source) => {
                if is_connection_error(&source) {
                    BindingError::unavailable(message).with_source(source)
                } else {
                    BindingError::invalid(message).with_source(source)
                }
            }
            RedisBindingError::Closed => BindingError::closed(message),
        }
    }
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

#[derive(Clone)]
enum Connection {
    Node(Arc<Node>),
    Cluster(ClusterConnection),
}

/// The one server's connection manager, replaced when a command times out.
struct Node {
    current: std::sync::RwLock<ConnectionManager>,
    client: redis::Client,
    config: ConnectionManagerConfig,
}

impl Node {
    /// A response timeout leaves the manager on a connection that may be dead (a blackholed
    /// link, a peer gone without a FIN): the manager reconnects only on I/O errors, which such
    /// a link never gives. Start over on a fresh connection instead, as go-redis drops a
    /// connection whose read timed out.
    fn replace_after_timeout(&self) {
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                if let Ok(mut current) = self.current.write() {
                    *current = fresh;
                }
                tracing::debug!(
                    component = "bindings.redis",
                    "Redis command timed out; using a new connection."
                );
            }
            Err(e) => {
                tracing::warn!(component = "bindings.redis", error = %e, "Could not replace a timed-out Redis connection.")
            }
        }
    }
}

impl Connection {
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        match self {
            Connection::Node(node) => {
                let mut current = match node.current.read() {
                    Ok(c) => c.clone(),
                    Err(poisoned) => poisoned.into_inner().clone(),
                };
                let result = cmd.query_async(&mut current).await;
                if result.as_ref().is_err_and(RedisError::is_timeout) {
                    node.replace_after_timeout();
                }
                result
            }
            Connection::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
    }
}

/// The output binding.
pub struct RedisBinding {
    config: RedisConfig,
    connection: Connection,
    closed: AtomicBool,
}

impl RedisBinding {
    /// Connects and PINGs, as daprd's Init does.
    pub async fn connect(config: RedisConfig) -> Result<Self, RedisBindingError> {
        match config.unsupported {
            Some(Unsupported::Failover) => {
                return Err(RedisBindingError::Unsupported("failover (Redis Sentinel)"));
            }
            Some(Unsupported::EntraId) => {
                return Err(RedisBindingError::Unsupported(
                    "useEntraID (Azure AD authentication)",
                ));
            }
            Some(Unsupported::Oidc) => {
                return Err(RedisBindingError::Unsupported(
                    "useOIDC (OIDC authentication)",
                ));
            }
            None => {}
        }
        if config.tls {
            // rustls needs a process-wide provider; ignore "already installed".
            crate::common::tls::install_ring_provider();
        }
        let certs = tls_certificates(&config)?;
        let connection = if config.cluster {
            connect_cluster(&config, certs).await?
        } else {
            connect_node(&config, certs).await?
        };
        let binding = Self {
            config,
            connection,
            closed: AtomicBool::new(false),
        };
        binding.ping().await?;
        Ok(binding)
    }

    /// PING, with daprd's error text.
    pub async fn ping(&self) -> Result<(), RedisBindingError> {
        self.connection
            .query::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
            .map_err(|source| RedisBindingError::Connect {
                host: self.config.host_text.clone(),
                source,
            })
    }

    /// Runs one command, bounded by `dialTimeout` + `readTimeout` in all (retries and
    /// reconnecting included) unless `readTimeout` is off: on a dead link the manager's own
    /// reconnect attempts would otherwise keep a call waiting until the link returns.
    async fn run<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisBindingError> {
        let Some(read) = self.config.response_timeout else {
            return self.run_with_retries(cmd).await;
        };
        match tokio::time::timeout(self.config.dial_timeout + read, self.run_with_retries(cmd))
            .await
        {
            Ok(result) => result,
            Err(_) => {
                if let Connection::Node(node) = &self.connection {
                    node.replace_after_timeout();
                }
                Err(RedisBindingError::Command(timeout_error()))
            }
        }
    }

    /// Runs one command, retrying connection failures like go-redis (`redisMaxRetries`).
    async fn run_with_retries<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisBindingError> {
        let mut attempt: u32 = 0;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(RedisBindingError::Closed);
            }
            match self.connection.query(cmd).await {
                Ok(value) => return Ok(value),
                Err(e)
                    if is_connection_error(&e) && (attempt as usize) < self.config.max_retries =>
                {
                    tracing::debug!(component = "bindings.redis", error = %e, attempt, "Redis command failed; retrying.");
                    tokio::time::sleep(self.config.retry_delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(RedisBindingError::Command(e)),
            }
        }
    }

    async fn expire(&self, key: &str, request: &InvokeRequest) -> Result<(), RedisBindingError> {
        if let Some(ttl) = request_ttl(&request.metadata).map_err(RedisBindingError::Request)? {
            // daprd sends int(ttl.Seconds()): sub-second TTLs truncate to 0.
            self.run::<redis::Value>(redis::cmd("EXPIRE").arg(key).arg(ttl.as_secs()))
                .await?;
        }
        Ok(())
    }

    async fn handle(
        &self,
        request: InvokeRequest,
    ) -> Result<Option<InvokeResponse>, RedisBindingError> {
        let key = match request.metadata.get("key") {
            Some(k) if !k.is_empty() => k.clone(),
            _ => return Err(RedisBindingError::Request(MISSING_KEY.to_owned())),
        };
        match request.operation.as_str() {
            "create" => {
                self.run::<redis::Value>(redis::cmd("SET").arg(&key).arg(&request.data[..]))
                    .await?;
                self.expire(&key, &request).await?;
                Ok(None)
            }
            "get" => {
                let name = if request.metadata.get("delete").map(String::as_str) == Some("true") {
                    "GETDEL"
                } else {
                    "GET"
                };
                let value: Option<Vec<u8>> = self.run(redis::cmd(name).arg(&key)).await?;
                Ok(Some(InvokeResponse {
                    data: value.unwrap_or_default().into(),
                    metadata: Default::default(),
                }))
            }
            "delete" => {
                self.run::<redis::Value>(redis::cmd("DEL").arg(&key))
                    .await?;
                Ok(None)
            }
            "increment" => {
                self.run::<redis::Value>(redis::cmd("INCR").arg(&key))
                    .await?;
                self.expire(&key, &request).await?;
                Ok(None)
            }
            other => Err(RedisBindingError::Request(format!(
                "invalid operation type: {other}"
            ))),
        }
    }
}

#[async_trait]
impl OutputBinding for RedisBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        self.handle(request).await.map_err(Into::into)
    }

    async fn close(&self) -> Result<(), BindingError> {
        // Connections close when the binding is dropped; refuse further work now.
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

fn timeout_error() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "i/o timeout",
    ))
}

fn connect_error(config: &RedisConfig, source: RedisError) -> RedisBindingError {
    RedisBindingError::Connect {
        host: config.host_text.clone(),
        source,
    }
}

/// A cluster client over every `redisHost` node.
async fn connect_cluster(
    config: &RedisConfig,
    certs: Option<TlsCertificates>,
) -> Result<Connection, RedisBindingError> {
    let connect_err = |source: RedisError| connect_error(config, source);
    let nodes: Vec<redis::ConnectionInfo> = config
        .hosts
        .iter()
        .map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p).into_connection_info())
        .collect::<Result<_, _>>()
        .map_err(connect_err)?;
    let mut builder = ClusterClientBuilder::new(nodes)
        .retries(config.max_retries as u32)
        .connection_timeout(config.dial_timeout);
    if let Some(t) = config.response_timeout {
        builder = builder.response_timeout(t);
    }
    if let (Toggle::On(min), Toggle::On(max)) =
        (config.min_retry_interval, config.max_retry_interval)
    {
        builder = builder
            .min_retry_wait(min.as_millis() as u64)
            .max_retry_wait(max.as_millis() as u64);
    }
    if let Some(u) = &config.username {
        builder = builder.username(u);
    }
    if let Some(pw) = &config.password {
        builder = builder.password(pw.expose());
    }
    if config.tls {
        builder = builder.tls(if config.insecure_skip_verify {
            redis::TlsMode::Insecure
        } else {
            redis::TlsMode::Secure
        });
        if let Some(certs) = certs {
            builder = builder.certs(certs);
        }
    }
    let client = builder.build().map_err(connect_err)?;
    let conn = tokio::time::timeout(config.dial_timeout, client.get_async_connection())
        .await
        .map_err(|_| connect_err(timeout_error()))?
        .map_err(connect_err)?;
    Ok(Connection::Cluster(conn))
}

/// A connection manager (reconnecting on its own) to the one `redisHost`.
async fn connect_node(
    config: &RedisConfig,
    certs: Option<TlsCertificates>,
) -> Result<Connection, RedisBindingError> {
    let connect_err = |source: RedisError| connect_error(config, source);
    let (host, port) = config.hosts[0].clone();
    let addr = if config.tls {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: config.insecure_skip_verify,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let mut settings = RedisConnectionInfo::default().set_db(config.db);
    if let Some(u) = &config.username {
        settings = settings.set_username(u);
    }
    if let Some(pw) = &config.password {
        settings = settings.set_password(pw.expose());
    }
    let info = addr
        .into_connection_info()
        .map_err(connect_err)?
        .set_redis_settings(settings);
    let client = match certs {
        Some(certs) => redis::Client::build_with_tls(info, certs),
        None => redis::Client::open(info),
    }
    .map_err(connect_err)?;
    let mut manager = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.dial_timeout))
        .set_response_timeout(config.response_timeout)
        .set_number_of_retries(config.max_retries.max(1));
    if let (Toggle::On(min), Toggle::On(max)) =
        (config.min_retry_interval, config.max_retry_interval)
    {
        manager = manager.set_min_delay(min).set_max_delay(max.max(min));
    }
    let conn = tokio::time::timeout(
        config.dial_timeout.saturating_mul(2),
        ConnectionManager::new_with_config(client.clone(), manager.clone()),
    )
    .await
    .map_err(|_| connect_err(timeout_error()))?
    .map_err(connect_err)?;
    Ok(Connection::Node(Arc::new(Node {
        current: std::sync::RwLock::new(conn),
        client,
        config: manager,
    })))
}

fn tls_certificates(config: &RedisConfig) -> Result<Option<TlsCertificates>, RedisBindingError> {
    if !config.tls {
        return Ok(None);
    }
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => Ok(Some(TlsCertificates {
            client_tls: Some(ClientTlsConfig {
                client_cert: cert.clone().into_bytes(),
                client_key: key.expose().clone().into_bytes(),
            }),
            root_cert: None,
        })),
        (None, None) => Ok(None),
        _ => Err(RedisBindingError::Tls(
            "clientCert and clientKey must be given together".into(),
        )),
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
                "config/bindings/redis",
                "certification/bindings/redis/components",
            ],
        ) else {
            return;
        };
        let mut decoded = 0;
        for c in &components {
            RedisConfig::from_properties(&c.properties())
                .unwrap_or_else(|e| panic!("{}: {e}", c.relative()));
            decoded += 1;
        }
        assert!(decoded >= 6, "only {decoded} redis component files decoded");
    }
}
