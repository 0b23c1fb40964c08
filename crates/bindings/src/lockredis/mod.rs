//! `lock.redis`: Dapr's standalone Redis lock store (components-contrib `lock/redis`), for
//! bindings that must act once across replicas (`bindings.cron`'s `lockStore`).
//!
//! Same semantics as Dapr's: TryLock is `SET key owner NX PX expiry`; Unlock runs a Lua script
//! that deletes the key only when its value is the caller's owner id (missing key: "does not
//! exist"; another owner: "belongs to others"). The metadata is the Redis binding's
//! (`redisHost`, `redisPassword`, `redisUsername`, `redisDB`, `enableTLS`, timeouts, retries).
//!
//! Deviations from daprd: `renew` (a second Lua script: `PEXPIRE` only while the caller owns
//! the key) is bindery's own, for leases; Dapr's lock API itself is not served. Like Dapr's
//! standalone lock, failover (Sentinel) is refused; bindery also refuses `redisType: cluster`
//! and client certificates (`clientCert`/`clientKey`). Dapr refuses a server with connected
//! replicas (`INFO replication`); bindery does not check.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::BoxFuture;
use bindery_core::lock::{LockStore, LockStoreDescriptor, UnlockStatus};
use bindery_core::{BindingError, Properties};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use crate::redis::{RedisConfig, Unsupported};

pub const DESCRIPTOR: LockStoreDescriptor = LockStoreDescriptor {
    type_name: "lock.redis",
    build,
};

/// Dapr's unlock script: -1 when the key is missing, -2 when another owner holds it.
const UNLOCK: &str = "local v = redis.call('get', KEYS[1]); if v == false then return -1 end; \
     if v ~= ARGV[1] then return -2 end; return redis.call('del', KEYS[1])";
/// Extends the key's expiry only while ARGV[1] owns it.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
     return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

fn build(properties: Properties) -> BoxFuture<Result<Arc<dyn LockStore>, BindingError>> {
    Box::pin(async move {
        let config = RedisConfig::from_properties(&properties)
            .map_err(|e| BindingError::invalid(e.message))?;
        Ok(Arc::new(RedisLockStore::connect(config).await?) as Arc<dyn LockStore>)
    })
}

pub struct RedisLockStore {
    connection: ConnectionManager,
}

impl RedisLockStore {
    /// Connects and PINGs, as Dapr's InitLockStore does.
    pub async fn connect(config: RedisConfig) -> Result<Self, BindingError> {
        let refuse = |what: &str| {
            BindingError::invalid(format!(
                "[standaloneRedisLock]: InitLockStore error. {what} is not supported"
            ))
        };
        match config.unsupported {
            Some(Unsupported::Failover) => return Err(refuse("Failover")),
            Some(Unsupported::EntraId) => return Err(refuse("useEntraID")),
            Some(Unsupported::Oidc) => return Err(refuse("useOIDC")),
            None => {}
        }
        if config.cluster {
            return Err(refuse("redisType cluster"));
        }
        if config.client_cert.is_some() || config.client_key.is_some() {
            return Err(refuse("a client certificate"));
        }
        let (host, port) = config.hosts[0].clone();
        let addr = if config.tls {
            let _ = rustls::crypto::ring::default_provider().install_default();
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
        let connect_error = |e: redis::RedisError| {
            BindingError::unavailable(format!(
                "[standaloneRedisLock]: error connecting to redis at {}: {e}",
                config.host_text
            ))
        };
        let info = addr
            .into_connection_info()
            .map_err(connect_error)?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(connect_error)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.dial_timeout))
            .set_response_timeout(config.response_timeout.or(Some(Duration::from_secs(3))))
            .set_number_of_retries(config.max_retries.max(1));
        let mut connection = tokio::time::timeout(
            config.dial_timeout.saturating_mul(2),
            ConnectionManager::new_with_config(client, manager),
        )
        .await
        .map_err(|_| {
            BindingError::unavailable(format!(
                "[standaloneRedisLock]: error connecting to redis at {}: timed out",
                config.host_text
            ))
        })?
        .map_err(connect_error)?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map_err(connect_error)?;
        Ok(Self { connection })
    }
}

fn millis(expiry: Duration) -> u64 {
    u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn failed(e: redis::RedisError) -> BindingError {
    BindingError::unavailable(format!("[standaloneRedisLock]: {e}"))
}

#[async_trait]
impl LockStore for RedisLockStore {
    async fn try_lock(
        &self,
        resource_id: &str,
        owner: &str,
        expiry: Duration,
    ) -> Result<bool, BindingError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(resource_id)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(millis(expiry))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        Ok(set.is_some())
    }

    async fn renew(
        &self,
        resource_id: &str,
        owner: &str,
        expiry: Duration,
    ) -> Result<bool, BindingError> {
        let extended: i64 = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(resource_id)
            .arg(owner)
            .arg(millis(expiry))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        Ok(extended == 1)
    }

    async fn unlock(&self, resource_id: &str, owner: &str) -> Result<UnlockStatus, BindingError> {
        let status: i64 = redis::cmd("EVAL")
            .arg(UNLOCK)
            .arg(1)
            .arg(resource_id)
            .arg(owner)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        Ok(match status {
            -1 => UnlockStatus::LockDoesNotExist,
            -2 => UnlockStatus::LockBelongsToOthers,
            _ => UnlockStatus::Success,
        })
    }
}
