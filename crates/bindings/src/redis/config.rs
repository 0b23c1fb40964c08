//! The metadata of `bindings.redis`: the shared Redis settings of components-contrib
//! (`common/component/redis/settings.go`), decoded without I/O.
//!
//! What the Rust client honours and what it only accepts:
//!
//! | field | effect here |
//! |---|---|
//! | `redisHost`, `redisPort`, `redisUsername`, `redisPassword`, `redisDB`, `redisType` | used |
//! | `enableTLS`, `insecureSkipTLSVerify`, `clientCert`, `clientKey` | used (rustls) |
//! | `redisMaxRetries`, `redisMinRetryInterval`, `redisMaxRetryInterval` | command retries on connection errors, with exponential backoff between the two intervals; also the reconnect backoff |
//! | `dialTimeout` | connect timeout |
//! | `readTimeout`, `writeTimeout` | response timeout (the larger of the two; `-1` on either means none) |
//! | `poolSize`, `poolTimeout`, `maxConnAge`, `minIdleConns`, `idleCheckFrequency`, `idleTimeout` | validated, otherwise unused: the client multiplexes one connection (per node) instead of pooling |
//! | `failover` + `sentinel*` | validated; building fails with "not supported by bindery" |
//! | `useEntraID` (`useAzureAD`), `useOIDC` + `oidc*` | validated; building fails with "not supported by bindery" |

use std::time::Duration;

use bindery_core::duration::parse_duration_or_seconds;
use bindery_core::{ConfigError, Field, FieldType, Properties, Sensitive};

pub const REDIS_HOST: Field = Field::new(
    "redisHost",
    FieldType::String,
    "Redis address `host:port`; in cluster mode a comma-separated list of addresses.",
)
.required()
.example("localhost:6379");
pub const REDIS_PORT: Field = Field::new(
    "redisPort",
    FieldType::String,
    "Port used when redisHost has none; must match the host's port when both are given.",
)
.example("6379");
pub const REDIS_USERNAME: Field = Field::new(
    "redisUsername",
    FieldType::String,
    "ACL username (Redis 6 or later).",
)
.default_value("");
pub const REDIS_PASSWORD: Field = Field::new(
    "redisPassword",
    FieldType::String,
    "Password for the AUTH command.",
)
.default_value("")
.sensitive();
pub const REDIS_DB: Field = Field::new(
    "redisDB",
    FieldType::Number,
    "Database selected after connecting; ignored in cluster mode.",
)
.default_value("0");
pub const REDIS_TYPE: Field = Field::new(
    "redisType",
    FieldType::String,
    "`node` for a single server, `cluster` for Redis Cluster.",
)
.default_value("node");
pub const ENABLE_TLS: Field =
    Field::new("enableTLS", FieldType::Bool, "Connect with TLS.").default_value("false");
pub const INSECURE_SKIP_TLS_VERIFY: Field = Field::new(
    "insecureSkipTLSVerify",
    FieldType::Bool,
    "Accept any server certificate (testing only).",
)
.default_value("false");
pub const CLIENT_CERT: Field = Field::new(
    "clientCert",
    FieldType::String,
    "PEM client certificate for mutual TLS (needs clientKey).",
);
pub const CLIENT_KEY: Field = Field::new(
    "clientKey",
    FieldType::String,
    "PEM private key of clientCert.",
)
.sensitive();
pub const FAILOVER: Field = Field::new(
    "failover",
    FieldType::Bool,
    "Redis Sentinel failover. Not supported by bindery: `true` makes building fail.",
)
.default_value("false");
pub const SENTINEL_MASTER_NAME: Field = Field::new(
    "sentinelMasterName",
    FieldType::String,
    "Sentinel master name; required when failover is true.",
);
pub const SENTINEL_USERNAME: Field = Field::new(
    "sentinelUsername",
    FieldType::String,
    "Sentinel username (failover only).",
);
pub const SENTINEL_PASSWORD: Field = Field::new(
    "sentinelPassword",
    FieldType::String,
    "Sentinel password (failover only).",
)
.sensitive();
pub const MAX_RETRIES: Field = Field::new(
    "redisMaxRetries",
    FieldType::Number,
    "How often a command is retried after a connection error.",
)
.default_value("3");
pub const MIN_RETRY_INTERVAL: Field = Field::new(
    "redisMinRetryInterval",
    FieldType::Duration,
    "Smallest backoff between retries; `-1` disables backoff.",
)
.default_value("8ms");
pub const MAX_RETRY_INTERVAL: Field = Field::new(
    "redisMaxRetryInterval",
    FieldType::Duration,
    "Largest backoff between retries; `-1` disables backoff.",
)
.default_value("512ms");
pub const DIAL_TIMEOUT: Field = Field::new(
    "dialTimeout",
    FieldType::Duration,
    "Timeout for establishing a connection.",
)
.default_value("5s");
pub const READ_TIMEOUT: Field = Field::new(
    "readTimeout",
    FieldType::Duration,
    "Timeout for a reply; `-1` means no timeout.",
)
.default_value("3s");
pub const WRITE_TIMEOUT: Field = Field::new(
    "writeTimeout",
    FieldType::Duration,
    "Timeout for writes; defaults to readTimeout. Applied together with readTimeout.",
);
pub const POOL_SIZE: Field = Field::new(
    "poolSize",
    FieldType::Number,
    "Accepted for compatibility; bindery multiplexes one connection.",
);
pub const POOL_TIMEOUT: Field = Field::new(
    "poolTimeout",
    FieldType::Duration,
    "Accepted for compatibility; unused.",
);
pub const MAX_CONN_AGE: Field = Field::new(
    "maxConnAge",
    FieldType::Duration,
    "Accepted for compatibility; unused.",
);
pub const MIN_IDLE_CONNS: Field = Field::new(
    "minIdleConns",
    FieldType::Number,
    "Accepted for compatibility; unused.",
)
.default_value("0");
pub const IDLE_CHECK_FREQUENCY: Field = Field::new(
    "idleCheckFrequency",
    FieldType::Duration,
    "Accepted for compatibility; unused (`-1` allowed).",
)
.default_value("1m");
pub const IDLE_TIMEOUT: Field = Field::new(
    "idleTimeout",
    FieldType::Duration,
    "Accepted for compatibility; unused (`-1` allowed).",
)
.default_value("5m");
pub const USE_ENTRA_ID: Field = Field::new(
    "useEntraID",
    FieldType::Bool,
    "Azure Entra ID authentication. Not supported by bindery: `true` makes building fail.",
)
.aliases(&["useAzureAD"])
.default_value("false");
pub const USE_OIDC: Field = Field::new(
    "useOIDC",
    FieldType::Bool,
    "OIDC private_key_jwt authentication. Not supported by bindery: `true` makes building fail.",
)
.default_value("false");
pub const OIDC_TOKEN_ENDPOINT: Field = Field::new(
    "oidcTokenEndpoint",
    FieldType::String,
    "OIDC token endpoint (useOIDC).",
);
pub const OIDC_CLIENT_ID: Field = Field::new(
    "oidcClientID",
    FieldType::String,
    "OIDC client id (useOIDC).",
);
pub const OIDC_CLIENT_ASSERTION_CERT: Field = Field::new(
    "oidcClientAssertionCert",
    FieldType::String,
    "OIDC client assertion certificate (useOIDC).",
);
pub const OIDC_CLIENT_ASSERTION_KEY: Field = Field::new(
    "oidcClientAssertionKey",
    FieldType::String,
    "OIDC client assertion key (useOIDC).",
)
.sensitive();
pub const OIDC_RESOURCE: Field = Field::new(
    "oidcResource",
    FieldType::String,
    "OIDC resource (useOIDC).",
);
pub const OIDC_AUDIENCE: Field = Field::new(
    "oidcAudience",
    FieldType::String,
    "OIDC audience (useOIDC).",
);
pub const OIDC_SCOPES: Field =
    Field::new("oidcScopes", FieldType::String, "OIDC scopes (useOIDC).").default_value("openid");
pub const OIDC_KID: Field = Field::new("oidcKid", FieldType::String, "OIDC key id (useOIDC).");
pub const OIDC_CA_CERT: Field = Field::new(
    "oidcCACert",
    FieldType::String,
    "OIDC token endpoint CA (useOIDC).",
);

pub const FIELDS: &[Field] = &[
    REDIS_HOST,
    REDIS_PORT,
    REDIS_USERNAME,
    REDIS_PASSWORD,
    REDIS_DB,
    REDIS_TYPE,
    ENABLE_TLS,
    INSECURE_SKIP_TLS_VERIFY,
    CLIENT_CERT,
    CLIENT_KEY,
    FAILOVER,
    SENTINEL_MASTER_NAME,
    SENTINEL_USERNAME,
    SENTINEL_PASSWORD,
    MAX_RETRIES,
    MIN_RETRY_INTERVAL,
    MAX_RETRY_INTERVAL,
    DIAL_TIMEOUT,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    POOL_SIZE,
    POOL_TIMEOUT,
    MAX_CONN_AGE,
    MIN_IDLE_CONNS,
    IDLE_CHECK_FREQUENCY,
    IDLE_TIMEOUT,
    USE_ENTRA_ID,
    USE_OIDC,
    OIDC_TOKEN_ENDPOINT,
    OIDC_CLIENT_ID,
    OIDC_CLIENT_ASSERTION_CERT,
    OIDC_CLIENT_ASSERTION_KEY,
    OIDC_RESOURCE,
    OIDC_AUDIENCE,
    OIDC_SCOPES,
    OIDC_KID,
    OIDC_CA_CERT,
];

/// A duration that may be switched off with a negative value (`-1`), as go-redis allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Off,
    On(Duration),
}

impl Toggle {
    pub fn get(self) -> Option<Duration> {
        match self {
            Toggle::Off => None,
            Toggle::On(d) => Some(d),
        }
    }
}

/// Authentication schemes daprd offers that bindery does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    Failover,
    EntraId,
    Oidc,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// The `redisHost` text, for error messages (daprd prints it as given).
    pub host_text: String,
    pub hosts: Vec<(String, u16)>,
    pub cluster: bool,
    pub username: Option<String>,
    pub password: Option<Sensitive<String>>,
    pub db: i64,
    pub tls: bool,
    pub insecure_skip_verify: bool,
    pub client_cert: Option<String>,
    pub client_key: Option<Sensitive<String>>,
    pub max_retries: usize,
    pub min_retry_interval: Toggle,
    pub max_retry_interval: Toggle,
    pub dial_timeout: Duration,
    pub response_timeout: Option<Duration>,
    /// Set when the metadata asks for something bindery refuses at build time.
    pub unsupported: Option<Unsupported>,
}

impl bindery_core::BindingConfig for RedisConfig {
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

/// `(the redisHost text as given, the hosts, cluster)`.
type Hosts = (String, Vec<(String, u16)>, bool);

/// `redisHost` (one `host:port`, or a comma-separated list for `redisType: cluster`) with
/// `redisPort` as the default port.
fn hosts(p: &Properties) -> Result<Hosts, ConfigError> {
    let host_text = p.required_string(&REDIS_HOST, "redisHost is required")?;
    let port = p
        .string(&REDIS_PORT)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let port = port
        .map(|s| {
            s.parse::<u16>()
                .map_err(|_| ConfigError::new(REDIS_PORT.name, format!("invalid redisPort {s:?}")))
        })
        .transpose()?;
    let redis_type = p
        .string(&REDIS_TYPE)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let cluster = match redis_type.as_str() {
        "" | "node" => false,
        "cluster" => true,
        other => {
            return Err(ConfigError::new(
                REDIS_TYPE.name,
                format!("redis type error: unknown redis type: {other}"),
            ));
        }
    };
    let parts: Vec<&str> = if cluster {
        host_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        vec![host_text.trim()]
    };
    let mut hosts = Vec::with_capacity(parts.len());
    for part in parts {
        hosts.push(split_host_port(part, port)?);
    }
    if hosts.is_empty() {
        return Err(ConfigError::new(REDIS_HOST.name, "redisHost is required"));
    }
    Ok((host_text, hosts, cluster))
}

/// Command retries (count and the interval bounds) and the dial and response timeouts.
fn retries_and_timeouts(p: &Properties) -> Result<RetriesAndTimeouts, ConfigError> {
    let max_retries = p.number::<i64>(&MAX_RETRIES)?.unwrap_or(3).max(0) as usize;
    let min_retry_interval =
        toggle(p, &MIN_RETRY_INTERVAL)?.unwrap_or(Toggle::On(Duration::from_millis(8)));
    let max_retry_interval =
        toggle(p, &MAX_RETRY_INTERVAL)?.unwrap_or(Toggle::On(Duration::from_millis(512)));
    let dial_timeout = match toggle(p, &DIAL_TIMEOUT)? {
        Some(Toggle::On(d)) if !d.is_zero() => d,
        _ => Duration::from_secs(5),
    };
    let read = toggle(p, &READ_TIMEOUT)?.unwrap_or(Toggle::On(Duration::from_secs(3)));
    let write = toggle(p, &WRITE_TIMEOUT)?.unwrap_or(read);
    let response_timeout = match (read, write) {
        (Toggle::On(r), Toggle::On(w)) if !r.is_zero() || !w.is_zero() => Some(r.max(w)),
        (Toggle::On(_), Toggle::On(_)) => Some(Duration::from_secs(3)),
        _ => None,
    };
    Ok(RetriesAndTimeouts {
        max_retries,
        min_retry_interval,
        max_retry_interval,
        dial_timeout,
        response_timeout,
    })
}

struct RetriesAndTimeouts {
    max_retries: usize,
    min_retry_interval: Toggle,
    max_retry_interval: Toggle,
    dial_timeout: Duration,
    response_timeout: Option<Duration>,
}

/// Pool settings accepted for compatibility: decoded so a bad value still fails validation.
fn check_pool_settings(p: &Properties) -> Result<(), ConfigError> {
    p.number::<i64>(&POOL_SIZE)?;
    p.number::<i64>(&MIN_IDLE_CONNS)?;
    for field in [
        &POOL_TIMEOUT,
        &MAX_CONN_AGE,
        &IDLE_CHECK_FREQUENCY,
        &IDLE_TIMEOUT,
    ] {
        toggle(p, field)?;
    }
    Ok(())
}

/// What the metadata asks for that bindery refuses when building (failover, Entra ID, OIDC),
/// after checking the fields daprd requires for it.
fn unsupported(p: &Properties) -> Result<Option<Unsupported>, ConfigError> {
    let mut unsupported = None;
    if p.bool(&FAILOVER) {
        if non_empty(p.string(&SENTINEL_MASTER_NAME)).is_none() {
            return Err(ConfigError::new(
                SENTINEL_MASTER_NAME.name,
                "sentinelMasterName is required when failover is true",
            ));
        }
        unsupported = Some(Unsupported::Failover);
    }
    if p.bool(&USE_ENTRA_ID) {
        unsupported = unsupported.or(Some(Unsupported::EntraId));
    }
    if p.bool(&USE_OIDC) {
        for field in [
            &OIDC_TOKEN_ENDPOINT,
            &OIDC_CLIENT_ID,
            &OIDC_CLIENT_ASSERTION_CERT,
            &OIDC_CLIENT_ASSERTION_KEY,
        ] {
            if non_empty(p.string(field)).is_none() {
                return Err(ConfigError::new(
                    field.name,
                    format!("{} is required when useOIDC is true", field.name),
                ));
            }
        }
        unsupported = unsupported.or(Some(Unsupported::Oidc));
    }
    Ok(unsupported)
}

impl RedisConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let (host_text, hosts, cluster) = hosts(p)?;
        let db = p.number::<i64>(&REDIS_DB)?.unwrap_or(0);
        if db < 0 {
            return Err(ConfigError::new(
                REDIS_DB.name,
                "redisDB must not be negative",
            ));
        }
        let tls = p.bool(&ENABLE_TLS);
        let client_cert = non_empty(p.string(&CLIENT_CERT));
        let client_key = non_empty(p.string(&CLIENT_KEY)).map(Sensitive::new);
        if client_cert.is_some() != client_key.is_some() {
            return Err(ConfigError::new(
                CLIENT_CERT.name,
                "clientCert and clientKey must be given together",
            ));
        }

        let RetriesAndTimeouts {
            max_retries,
            min_retry_interval,
            max_retry_interval,
            dial_timeout,
            response_timeout,
        } = retries_and_timeouts(p)?;
        check_pool_settings(p)?;
        let unsupported = unsupported(p)?;
        Ok(Self {
            host_text,
            hosts,
            cluster,
            username: non_empty(p.string(&REDIS_USERNAME)),
            password: non_empty(p.string(&REDIS_PASSWORD)).map(Sensitive::new),
            db,
            tls,
            insecure_skip_verify: p.bool(&INSECURE_SKIP_TLS_VERIFY),
            client_cert,
            client_key,
            max_retries,
            min_retry_interval,
            max_retry_interval,
            dial_timeout,
            response_timeout,
            unsupported,
        })
    }

    /// The delay before retry number `attempt` (0-based), go-redis style: exponential from the
    /// minimum, capped at the maximum.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let (Toggle::On(min), Toggle::On(max)) = (self.min_retry_interval, self.max_retry_interval)
        else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        min.saturating_mul(factor).min(max.max(min))
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Reads a duration field where a negative number means "off".
fn toggle(p: &Properties, field: &Field) -> Result<Option<Toggle>, ConfigError> {
    let raw = match p.raw(field).map(str::trim) {
        Some(v) if !v.is_empty() => v,
        _ => match field.default {
            Some(d) => d,
            None => return Ok(None),
        },
    };
    if raw.starts_with('-') {
        return Ok(Some(Toggle::Off));
    }
    parse_duration_or_seconds(raw)
        .map(|d| Some(Toggle::On(d)))
        .map_err(|e| ConfigError::new(field.name, e))
}

/// Splits `host[:port]` (IPv6 in brackets), reconciling with `redisPort`.
fn split_host_port(text: &str, port: Option<u16>) -> Result<(String, u16), ConfigError> {
    let (host, own_port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| {
            ConfigError::new(REDIS_HOST.name, format!("invalid redisHost {text:?}"))
        })?;
        let own = after.strip_prefix(':').filter(|s| !s.is_empty());
        (host.to_owned(), own)
    } else if text.matches(':').count() == 1 {
        let (host, own) = text.split_once(':').unwrap_or((text, ""));
        (host.to_owned(), Some(own))
    } else {
        (text.to_owned(), None)
    };
    let own_port = own_port
        .map(|s| {
            s.parse::<u16>().map_err(|_| {
                ConfigError::new(
                    REDIS_HOST.name,
                    format!("invalid port in redisHost {text:?}"),
                )
            })
        })
        .transpose()?;
    if host.is_empty() {
        return Err(ConfigError::new(
            REDIS_HOST.name,
            format!("invalid redisHost {text:?}"),
        ));
    }
    let port = match (own_port, port) {
        (Some(a), Some(b)) if a != b => {
            return Err(ConfigError::new(
                REDIS_PORT.name,
                format!("redisPort {b} does not match the port {a} in redisHost"),
            ));
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => 6379,
    };
    Ok((host, port))
}

/// The TTL of a request, per components-contrib's `TryGetTTL`: `ttl` then `ttlInSeconds`
/// (case-insensitive); a Go duration (negative ones become 0) or else whole seconds (> 0).
pub fn request_ttl(metadata: &bindery_core::Metadata) -> Result<Option<Duration>, String> {
    let value = ["ttl", "ttlInSeconds"].iter().find_map(|key| {
        metadata
            .get(*key)
            .or_else(|| {
                metadata
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_empty())
    });
    let Some(value) = value else {
        return Ok(None);
    };
    if let Some(d) = parse_signed_go_duration(value) {
        return Ok(Some(d));
    }
    match value.parse::<i64>() {
        Ok(n) if n <= 0 => Err(format!(
            "ttl value must be higher than zero: actual is '{n}'"
        )),
        Ok(n) => Ok(Some(Duration::from_secs(n as u64))),
        Err(_) => Err(format!(
            "ttl value must be a valid integer: actual is '{value}'"
        )),
    }
}

/// Go's `time.ParseDuration`, with negative results clamped to zero. `None` when it fails.
fn parse_signed_go_duration(value: &str) -> Option<Duration> {
    let (negative, rest) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    // Go accepts a bare "0" but no other number without a unit.
    if rest != "0" && rest.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let parsed = bindery_core::duration::parse_go_duration(rest).ok()?;
    Some(if negative { Duration::ZERO } else { parsed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn defaults() {
        let c = RedisConfig::from_properties(&props(&[("redisHost", "localhost")])).unwrap();
        assert_eq!(c.hosts, vec![("localhost".to_owned(), 6379)]);
        assert!(!c.cluster && !c.tls);
        assert_eq!(c.db, 0);
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.min_retry_interval, Toggle::On(Duration::from_millis(8)));
        assert_eq!(c.max_retry_interval, Toggle::On(Duration::from_millis(512)));
        assert_eq!(c.dial_timeout, Duration::from_secs(5));
        assert_eq!(c.response_timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.password, None);
        assert_eq!(c.unsupported, None);
    }

    #[test]
    fn host_and_port_rules() {
        let c = RedisConfig::from_properties(&props(&[("redisHost", "h"), ("redisPort", "6380")]))
            .unwrap();
        assert_eq!(c.hosts, vec![("h".to_owned(), 6380)]);
        let c =
            RedisConfig::from_properties(&props(&[("redisHost", "h:6381"), ("redisPort", "6381")]))
                .unwrap();
        assert_eq!(c.hosts, vec![("h".to_owned(), 6381)]);
        let e =
            RedisConfig::from_properties(&props(&[("redisHost", "h:6381"), ("redisPort", "6380")]))
                .unwrap_err();
        assert_eq!(e.field, "redisPort");
        let c = RedisConfig::from_properties(&props(&[("redisHost", "[::1]:7000")])).unwrap();
        assert_eq!(c.hosts, vec![("::1".to_owned(), 7000)]);
        let c = RedisConfig::from_properties(&props(&[
            ("redisHost", "a:7000, b:7001,c"),
            ("redisType", "cluster"),
        ]))
        .unwrap();
        assert!(c.cluster);
        assert_eq!(c.hosts.len(), 3);
        assert_eq!(c.hosts[2], ("c".to_owned(), 6379));
        let e = RedisConfig::from_properties(&props(&[])).unwrap_err();
        assert_eq!(e.field, "redisHost");
        let e = RedisConfig::from_properties(&props(&[("redisHost", "h"), ("redisType", "ring")]))
            .unwrap_err();
        assert_eq!(e.field, "redisType");
    }

    #[test]
    fn retry_and_timeouts() {
        let c = RedisConfig::from_properties(&props(&[
            ("redisHost", "h"),
            ("redisMaxRetries", "5"),
            ("redisMinRetryInterval", "100ms"),
            ("redisMaxRetryInterval", "3s"),
            ("dialTimeout", "10s"),
            ("readTimeout", "-1"),
            ("idleTimeout", "-1"),
            ("idleCheckFrequency", "-1"),
        ]))
        .unwrap();
        assert_eq!(c.max_retries, 5);
        assert_eq!(c.retry_delay(0), Duration::from_millis(100));
        assert_eq!(c.retry_delay(2), Duration::from_millis(400));
        assert_eq!(c.retry_delay(10), Duration::from_secs(3));
        assert_eq!(c.dial_timeout, Duration::from_secs(10));
        assert_eq!(c.response_timeout, None);
        let c = RedisConfig::from_properties(&props(&[
            ("redisHost", "h"),
            ("redisMinRetryInterval", "-1"),
        ]))
        .unwrap();
        assert_eq!(c.retry_delay(3), Duration::ZERO);
        let c = RedisConfig::from_properties(&props(&[
            ("redisHost", "h"),
            ("readTimeout", "1s"),
            ("writeTimeout", "4s"),
        ]))
        .unwrap();
        assert_eq!(c.response_timeout, Some(Duration::from_secs(4)));
        assert!(
            RedisConfig::from_properties(&props(&[("redisHost", "h"), ("dialTimeout", "soon")]))
                .is_err()
        );
    }

    #[test]
    fn unsupported_modes_are_recognised() {
        let e = RedisConfig::from_properties(&props(&[("redisHost", "h"), ("failover", "true")]))
            .unwrap_err();
        assert_eq!(e.field, "sentinelMasterName");
        let c = RedisConfig::from_properties(&props(&[
            ("redisHost", "h"),
            ("failover", "true"),
            ("sentinelMasterName", "mymaster"),
        ]))
        .unwrap();
        assert_eq!(c.unsupported, Some(Unsupported::Failover));
        let c = RedisConfig::from_properties(&props(&[("redisHost", "h"), ("useAzureAD", "true")]))
            .unwrap();
        assert_eq!(c.unsupported, Some(Unsupported::EntraId));
        let e = RedisConfig::from_properties(&props(&[("redisHost", "h"), ("useOIDC", "true")]))
            .unwrap_err();
        assert_eq!(e.field, "oidcTokenEndpoint");
    }

    #[test]
    fn client_cert_needs_key() {
        let e = RedisConfig::from_properties(&props(&[("redisHost", "h"), ("clientCert", "PEM")]))
            .unwrap_err();
        assert_eq!(e.field, "clientCert");
    }

    #[test]
    fn ttl_follows_try_get_ttl() {
        let md = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        assert_eq!(request_ttl(&HashMap::new()).unwrap(), None);
        assert_eq!(request_ttl(&md("ttl", "")).unwrap(), None);
        assert_eq!(
            request_ttl(&md("ttl", "10")).unwrap(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            request_ttl(&md("TTL", "1m")).unwrap(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            request_ttl(&md("ttlInSeconds", "5")).unwrap(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            request_ttl(&md("ttl", "-5s")).unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(request_ttl(&md("ttl", "0")).unwrap(), Some(Duration::ZERO));
        assert_eq!(
            request_ttl(&md("ttl", "-5")).unwrap_err(),
            "ttl value must be higher than zero: actual is '-5'"
        );
        assert_eq!(
            request_ttl(&md("ttl", "soon")).unwrap_err(),
            "ttl value must be a valid integer: actual is 'soon'"
        );
        let both = HashMap::from([
            ("ttl".to_owned(), "7".to_owned()),
            ("ttlInSeconds".to_owned(), "9".to_owned()),
        ]);
        assert_eq!(request_ttl(&both).unwrap(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn debug_hides_credentials() {
        let c = RedisConfig::from_properties(&props(&[
            ("redisHost", "localhost:6379"),
            ("redisPassword", "hunter2"),
            ("enableTLS", "true"),
            ("clientCert", "CERT"),
            ("clientKey", "KEY-hunter3"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("localhost"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
    }
}
