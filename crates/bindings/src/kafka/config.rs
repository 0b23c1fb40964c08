//! The metadata of `bindings.kafka`, decoded the way daprd's shared Kafka code does it
//! (`common/component/kafka/metadata.go`): mapstructure names matched case-insensitively, with
//! a handful of keys daprd reads with an exact-case map lookup, and the legacy `authRequired`
//! flag upgraded to `authType` first.

use std::time::Duration;

use bindery_core::duration::parse_go_duration;
use bindery_core::{ConfigError, ConfigWarning, Field, FieldType, Properties};
use regex::Regex;

// ---- fields, in the order metadata.yaml lists them (plus what the code reads) ----

pub const BROKERS: Field = Field::new(
    "brokers",
    FieldType::String,
    "Comma-separated list of Kafka brokers (host:port).",
)
.required()
.example("localhost:9092");
pub const TOPICS: Field = Field::new(
    "topics",
    FieldType::String,
    "Comma-separated topics the input binding subscribes to (no trimming). Without topics the \
     input side logs a warning and reads nothing.",
)
.exact_case()
.input_only()
.example("mytopic1,topic2");
pub const PUBLISH_TOPIC: Field = Field::new(
    "publishTopic",
    FieldType::String,
    "The topic every `create` publishes to. There is no per-request topic.",
)
.exact_case()
.output_only()
.example("mytopic");
pub const CONSUMER_GROUP: Field = Field::new(
    "consumerGroup",
    FieldType::String,
    "Consumer group of the input binding. When empty, a `consumerID` key (any case) is used. \
     daprd does not inject one for bindings, so set it explicitly for input.",
)
.input_only()
.example("group1");
pub const CONSUMER_ID: Field = Field::new(
    "consumerID",
    FieldType::String,
    "Fallback for `consumerGroup` when that is empty.",
)
.input_only();
pub const CLIENT_ID: Field = Field::new(
    "clientID",
    FieldType::String,
    "Client id sent with every request to the brokers.",
)
.aliases(&["clientId"])
.default_value("sarama");
pub const AUTH_TYPE: Field = Field::new(
    "authType",
    FieldType::String,
    "none | password (SASL PLAIN or SCRAM) | mtls | certificate (TLS with a CA) are supported; \
     oidc, oidc_private_key_jwt and awsiam are validated like daprd but refused when the \
     binding is built. Required unless the legacy `authRequired` is given.",
)
.example("none");
pub const AUTH_REQUIRED: Field = Field::new(
    "authRequired",
    FieldType::Bool,
    "Deprecated. Used only when authType is empty: false means `none`; true means `password` \
     when saslPassword is set, else `mtls`.",
);
pub const SASL_USERNAME: Field = Field::new(
    "saslUsername",
    FieldType::String,
    "SASL username (authType password).",
);
pub const SASL_PASSWORD: Field = Field::new(
    "saslPassword",
    FieldType::String,
    "SASL password (authType password).",
)
.sensitive();
pub const SASL_MECHANISM: Field = Field::new(
    "saslMechanism",
    FieldType::String,
    "SHA-256 or SHA-512 select SCRAM (exact spelling); anything else means PLAIN.",
)
.default_value("PLAINTEXT");
pub const INITIAL_OFFSET: Field = Field::new(
    "initialOffset",
    FieldType::String,
    "Where a consumer group without a committed offset starts: newest or oldest (values \
     case-insensitive).",
)
.exact_case()
.input_only()
.default_value("newest");
pub const MAX_MESSAGE_BYTES: Field = Field::new(
    "maxMessageBytes",
    FieldType::Number,
    "Largest message the producer sends, in bytes. 0 keeps the client default (1000000); \
     metadata.yaml's 1024 is not what the code does.",
)
.default_value("0");
pub const CONSUME_RETRY_ENABLED: Field = Field::new(
    "consumeRetryEnabled",
    FieldType::Bool,
    "Retry an event the app failed with the backOff* policy instead of logging and moving on. \
     false by default for the binding. Same as `onAppFailure: retry`.",
)
.input_only()
.default_value("false");
pub const CONSUME_RETRY_INTERVAL: Field = Field::new(
    "consumeRetryInterval",
    FieldType::Duration,
    "Wait before re-joining the consumer group after a consume error. A bare number is \
     milliseconds when the key is spelt exactly `consumeRetryInterval`, seconds otherwise.",
)
.input_only()
.default_value("100ms");
pub const ON_APP_FAILURE: Field = Field::new(
    "onAppFailure",
    FieldType::String,
    "bindery extension. What to do when the app fails an event: `skip` (daprd's default: log \
     and move on; a later success commits past it) or `retry` (redeliver with the backOff* \
     policy, never committing past the failed event; with the default policy this retries \
     until success or shutdown, so delivery is at-least-once). Defaults to `retry` when \
     consumeRetryEnabled is true, else `skip`; when given it overrides consumeRetryEnabled.",
)
.input_only()
.example("retry");
pub const BACKOFF_POLICY: Field = Field::new(
    "backOffPolicy",
    FieldType::String,
    "Retry policy for failed events: constant or exponential. The `backOff` prefix is \
     case-sensitive.",
)
.exact_case()
.input_only()
.default_value("constant");
pub const BACKOFF_DURATION: Field = Field::new(
    "backOffDuration",
    FieldType::Duration,
    "Constant policy delay (bare number = milliseconds).",
)
.exact_case()
.input_only()
.default_value("5s");
pub const BACKOFF_INITIAL_INTERVAL: Field = Field::new(
    "backOffInitialInterval",
    FieldType::Duration,
    "Exponential policy first delay.",
)
.exact_case()
.input_only()
.default_value("500ms");
pub const BACKOFF_MAX_INTERVAL: Field = Field::new(
    "backOffMaxInterval",
    FieldType::Duration,
    "Exponential policy largest delay.",
)
.exact_case()
.input_only()
.default_value("60s");
pub const BACKOFF_MAX_RETRIES: Field = Field::new(
    "backOffMaxRetries",
    FieldType::Number,
    "Retries before giving up on an event (then it is skipped, as in daprd); -1 = forever.",
)
.exact_case()
.input_only()
.default_value("-1");
pub const BACKOFF_MULTIPLIER: Field = Field::new(
    "backOffMultiplier",
    FieldType::Number,
    "Exponential policy growth factor.",
)
.exact_case()
.input_only()
.default_value("1.5");
pub const BACKOFF_RANDOMIZATION_FACTOR: Field = Field::new(
    "backOffRandomizationFactor",
    FieldType::Number,
    "Exponential policy jitter.",
)
.exact_case()
.input_only()
.default_value("0.5");
pub const BACKOFF_MAX_ELAPSED_TIME: Field = Field::new(
    "backOffMaxElapsedTime",
    FieldType::Duration,
    "Exponential policy: give up on an event after this long (0 = never).",
)
.exact_case()
.input_only()
.default_value("15m");
pub const HEARTBEAT_INTERVAL: Field = Field::new(
    "heartbeatInterval",
    FieldType::Duration,
    "Interval between heartbeats to the group coordinator.",
)
.input_only()
.default_value("3s");
pub const SESSION_TIMEOUT: Field = Field::new(
    "sessionTimeout",
    FieldType::Duration,
    "Time without heartbeats after which the coordinator drops a consumer.",
)
.input_only()
.default_value("10s");
pub const VERSION: Field = Field::new(
    "version",
    FieldType::String,
    "Kafka cluster version (validated like sarama: `x.y.z` or `0.x.y.z`). librdkafka \
     negotiates protocol versions itself, so this is otherwise informational.",
)
.default_value("2.0.0.0");
pub const COMPRESSION: Field = Field::new(
    "compression",
    FieldType::String,
    "Producer compression: none, gzip, snappy, lz4 or zstd.",
)
.default_value("none");
pub const PRODUCER_REQUIRED_ACKS: Field = Field::new(
    "producerRequiredAcks",
    FieldType::String,
    "all, local or none.",
)
.output_only()
.default_value("all");
pub const PRODUCER_RETRY_MAX: Field = Field::new(
    "producerRetryMax",
    FieldType::Number,
    "Producer retries per message (must be >= 0).",
)
.output_only()
.default_value("5");
pub const DIAL_TIMEOUT: Field = Field::new(
    "dialTimeout",
    FieldType::Duration,
    "TCP connection setup timeout; also bounds how long building the binding waits for the \
     brokers.",
)
.default_value("30s");
pub const READ_TIMEOUT: Field = Field::new(
    "readTimeout",
    FieldType::Duration,
    "Broker request timeout (librdkafka socket.timeout.ms is the larger of read and write).",
)
.default_value("30s");
pub const WRITE_TIMEOUT: Field = Field::new(
    "writeTimeout",
    FieldType::Duration,
    "Broker request timeout; also how long `create` waits for its delivery report.",
)
.default_value("30s");
pub const METADATA_TIMEOUT: Field = Field::new(
    "metadataTimeout",
    FieldType::Duration,
    "Accepted for compatibility; librdkafka derives metadata timeouts itself.",
)
.default_value("0");
pub const TOPIC_METADATA_REFRESH: Field = Field::new(
    "clientConnectionTopicMetadataRefreshInterval",
    FieldType::Duration,
    "How often topic metadata is refreshed (code default 8m; metadata.yaml says 9m).",
)
.default_value("8m");
pub const KEEP_ALIVE: Field = Field::new(
    "clientConnectionKeepAliveInterval",
    FieldType::Duration,
    "Any value above 0 turns on TCP keep-alive (librdkafka has no interval setting).",
)
.default_value("0");
pub const REBALANCE_STRATEGY: Field = Field::new(
    "consumerGroupRebalanceStrategy",
    FieldType::String,
    "range, roundrobin or sticky (librdkafka's cooperative-sticky). Unknown values log a \
     warning and use range.",
)
.input_only()
.default_value("range");
pub const ESCAPE_HEADERS: Field = Field::new(
    "escapeHeaders",
    FieldType::Bool,
    "URL-query-escape the key and header values handed to the app.",
)
.input_only()
.default_value("false");
pub const EXCLUDE_HEADER_META_REGEX: Field = Field::new(
    "excludeHeaderMetaRegex",
    FieldType::String,
    "Metadata keys matching this regular expression are not turned into record headers \
     (output) and headers matching it are not turned into metadata (input).",
)
.example("^rawPayload|valueSchemaType$");
pub const SKIP_VERIFY: Field = Field::new(
    "skipVerify",
    FieldType::Bool,
    "Skip TLS certificate verification (unsafe).",
)
.default_value("false");
pub const DISABLE_TLS: Field = Field::new(
    "disableTls",
    FieldType::Bool,
    "Connect without TLS. TLS is also off whenever authType is none.",
)
.default_value("false");
pub const CA_CERT: Field = Field::new(
    "caCert",
    FieldType::String,
    "PEM certificate authority for the brokers' TLS certificates.",
);
pub const CLIENT_CERT: Field = Field::new(
    "clientCert",
    FieldType::String,
    "PEM client certificate (authType mtls).",
);
pub const CLIENT_KEY: Field = Field::new(
    "clientKey",
    FieldType::String,
    "PEM client key (authType mtls).",
)
.sensitive();
pub const CHANNEL_BUFFER_SIZE: Field = Field::new(
    "channelBufferSize",
    FieldType::Number,
    "Accepted for compatibility (sarama's channel size); validated, otherwise unused.",
)
.exact_case()
.default_value("256");
pub const CONSUMER_FETCH_MIN: Field = Field::new(
    "consumerFetchMin",
    FieldType::Number,
    "Minimum bytes per fetch (fetch.min.bytes).",
)
.exact_case()
.input_only()
.default_value("1");
pub const CONSUMER_FETCH_DEFAULT: Field = Field::new(
    "consumerFetchDefault",
    FieldType::Number,
    "Bytes fetched per partition per request (max.partition.fetch.bytes).",
)
.exact_case()
.input_only()
.default_value("1048576");
pub const OIDC_TOKEN_ENDPOINT: Field = Field::new(
    "oidcTokenEndpoint",
    FieldType::String,
    "authType oidc (not supported by bindery).",
);
pub const OIDC_CLIENT_ID: Field = Field::new(
    "oidcClientID",
    FieldType::String,
    "authType oidc (not supported by bindery).",
);
pub const OIDC_CLIENT_SECRET: Field = Field::new(
    "oidcClientSecret",
    FieldType::String,
    "authType oidc (not supported by bindery).",
)
.sensitive();
pub const OIDC_SCOPES: Field = Field::new(
    "oidcScopes",
    FieldType::String,
    "authType oidc (not supported by bindery).",
)
.default_value("openid");
pub const OIDC_EXTENSIONS: Field = Field::new(
    "oidcExtensions",
    FieldType::String,
    "authType oidc: JSON object of extensions (not supported by bindery).",
);
pub const OIDC_CLIENT_ASSERTION_CERT: Field = Field::new(
    "oidcClientAssertionCert",
    FieldType::String,
    "authType oidc_private_key_jwt (not supported by bindery).",
);
pub const OIDC_CLIENT_ASSERTION_KEY: Field = Field::new(
    "oidcClientAssertionKey",
    FieldType::String,
    "authType oidc_private_key_jwt (not supported by bindery).",
)
.sensitive();
pub const OIDC_RESOURCE: Field = Field::new(
    "oidcResource",
    FieldType::String,
    "authType oidc_private_key_jwt (not supported).",
);
pub const OIDC_AUDIENCE: Field = Field::new(
    "oidcAudience",
    FieldType::String,
    "authType oidc_private_key_jwt (not supported).",
);
pub const OIDC_KID: Field = Field::new(
    "oidcKid",
    FieldType::String,
    "authType oidc_private_key_jwt (not supported).",
);
pub const REGION: Field = Field::new(
    "region",
    FieldType::String,
    "authType awsiam (not supported by bindery); exact-case, falls back to awsRegion.",
)
.exact_case();
pub const AWS_REGION: Field = Field::new(
    "awsRegion",
    FieldType::String,
    "Deprecated spelling of region.",
)
.exact_case();
pub const ACCESS_KEY: Field = Field::new(
    "accessKey",
    FieldType::String,
    "authType awsiam (not supported).",
)
.exact_case();
pub const AWS_ACCESS_KEY: Field = Field::new(
    "awsAccessKey",
    FieldType::String,
    "Deprecated spelling of accessKey.",
)
.exact_case();
pub const SECRET_KEY: Field = Field::new("secretKey", FieldType::String, "authType awsiam.")
    .exact_case()
    .sensitive();
pub const AWS_SECRET_KEY: Field = Field::new(
    "awsSecretKey",
    FieldType::String,
    "Deprecated spelling of secretKey.",
)
.exact_case()
.sensitive();
pub const SESSION_TOKEN: Field = Field::new("sessionToken", FieldType::String, "authType awsiam.")
    .exact_case()
    .sensitive();
pub const AWS_SESSION_TOKEN: Field = Field::new(
    "awsSessionToken",
    FieldType::String,
    "Deprecated spelling of sessionToken.",
)
.exact_case()
.sensitive();
pub const ASSUME_ROLE_ARN: Field =
    Field::new("assumeRoleArn", FieldType::String, "authType awsiam.").exact_case();
pub const AWS_IAM_ROLE_ARN: Field = Field::new(
    "awsIamRoleArn",
    FieldType::String,
    "Deprecated spelling of assumeRoleArn.",
)
.exact_case();
pub const SESSION_NAME: Field = Field::new("sessionName", FieldType::String, "authType awsiam.")
    .exact_case()
    .default_value("DaprDefaultSession");
pub const AWS_STS_SESSION_NAME: Field = Field::new(
    "awsStsSessionName",
    FieldType::String,
    "Deprecated spelling of sessionName.",
)
.exact_case();
pub const SCHEMA_REGISTRY_URL: Field = Field::new(
    "schemaRegistryURL",
    FieldType::String,
    "Accepted; Avro schema registry support is not implemented (requests asking for \
     valueSchemaType Avro are refused).",
);
pub const SCHEMA_REGISTRY_API_KEY: Field = Field::new(
    "schemaRegistryAPIKey",
    FieldType::String,
    "Accepted, unused.",
);
pub const SCHEMA_REGISTRY_API_SECRET: Field = Field::new(
    "schemaRegistryAPISecret",
    FieldType::String,
    "Accepted, unused.",
)
.sensitive();
pub const SCHEMA_CACHING_ENABLED: Field =
    Field::new("schemaCachingEnabled", FieldType::Bool, "Accepted, unused.").default_value("true");
pub const SCHEMA_LATEST_VERSION_CACHE_TTL: Field = Field::new(
    "schemaLatestVersionCacheTTL",
    FieldType::Duration,
    "Accepted, unused.",
)
.default_value("5m");
pub const USE_AVRO_JSON: Field =
    Field::new("useAvroJSON", FieldType::Bool, "Accepted, unused.").default_value("false");

pub const FIELDS: &[Field] = &[
    BROKERS,
    TOPICS,
    PUBLISH_TOPIC,
    CONSUMER_GROUP,
    CONSUMER_ID,
    CLIENT_ID,
    AUTH_TYPE,
    AUTH_REQUIRED,
    SASL_USERNAME,
    SASL_PASSWORD,
    SASL_MECHANISM,
    INITIAL_OFFSET,
    MAX_MESSAGE_BYTES,
    CONSUME_RETRY_ENABLED,
    CONSUME_RETRY_INTERVAL,
    ON_APP_FAILURE,
    BACKOFF_POLICY,
    BACKOFF_DURATION,
    BACKOFF_INITIAL_INTERVAL,
    BACKOFF_MAX_INTERVAL,
    BACKOFF_MAX_RETRIES,
    BACKOFF_MULTIPLIER,
    BACKOFF_RANDOMIZATION_FACTOR,
    BACKOFF_MAX_ELAPSED_TIME,
    HEARTBEAT_INTERVAL,
    SESSION_TIMEOUT,
    VERSION,
    COMPRESSION,
    PRODUCER_REQUIRED_ACKS,
    PRODUCER_RETRY_MAX,
    DIAL_TIMEOUT,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    METADATA_TIMEOUT,
    TOPIC_METADATA_REFRESH,
    KEEP_ALIVE,
    REBALANCE_STRATEGY,
    ESCAPE_HEADERS,
    EXCLUDE_HEADER_META_REGEX,
    SKIP_VERIFY,
    DISABLE_TLS,
    CA_CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    CHANNEL_BUFFER_SIZE,
    CONSUMER_FETCH_MIN,
    CONSUMER_FETCH_DEFAULT,
    OIDC_TOKEN_ENDPOINT,
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    OIDC_SCOPES,
    OIDC_EXTENSIONS,
    OIDC_CLIENT_ASSERTION_CERT,
    OIDC_CLIENT_ASSERTION_KEY,
    OIDC_RESOURCE,
    OIDC_AUDIENCE,
    OIDC_KID,
    REGION,
    AWS_REGION,
    ACCESS_KEY,
    AWS_ACCESS_KEY,
    SECRET_KEY,
    AWS_SECRET_KEY,
    SESSION_TOKEN,
    AWS_SESSION_TOKEN,
    ASSUME_ROLE_ARN,
    AWS_IAM_ROLE_ARN,
    SESSION_NAME,
    AWS_STS_SESSION_NAME,
    SCHEMA_REGISTRY_URL,
    SCHEMA_REGISTRY_API_KEY,
    SCHEMA_REGISTRY_API_SECRET,
    SCHEMA_CACHING_ENABLED,
    SCHEMA_LATEST_VERSION_CACHE_TTL,
    USE_AVRO_JSON,
];

// ---- typed config ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    None,
    Password,
    Mtls,
    Certificate,
    Oidc,
    OidcPrivateKeyJwt,
    AwsIam,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Password => "password",
            AuthType::Mtls => "mtls",
            AuthType::Certificate => "certificate",
            AuthType::Oidc => "oidc",
            AuthType::OidcPrivateKeyJwt => "oidc_private_key_jwt",
            AuthType::AwsIam => "awsiam",
        }
    }

    /// Whether bindery can connect with this authentication type.
    pub fn is_supported(self) -> bool {
        !matches!(
            self,
            AuthType::Oidc | AuthType::OidcPrivateKeyJwt | AuthType::AwsIam
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialOffset {
    Newest,
    Oldest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredAcks {
    All,
    Local,
    None,
}

impl RequiredAcks {
    pub fn librdkafka_value(self) -> &'static str {
        match self {
            RequiredAcks::All => "-1",
            RequiredAcks::Local => "1",
            RequiredAcks::None => "0",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceStrategy {
    Range,
    RoundRobin,
    Sticky,
}

impl RebalanceStrategy {
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            RebalanceStrategy::Range => "range",
            RebalanceStrategy::RoundRobin => "roundrobin",
            RebalanceStrategy::Sticky => "cooperative-sticky",
        }
    }
}

/// What the input side does with an event the app did not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAppFailure {
    /// daprd's binding default: log and move on.
    Skip,
    /// daprd's `consumeRetryEnabled: true`: retry with the backOff policy.
    Retry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackOffPolicy {
    Constant,
    Exponential,
}

/// dapr/kit `retry.Config`, read from the `backOff*` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct BackOffConfig {
    pub policy: BackOffPolicy,
    pub duration: Duration,
    pub initial_interval: Duration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    pub max_interval: Duration,
    pub max_elapsed_time: Duration,
    /// `-1` (any negative) retries forever.
    pub max_retries: i64,
}

impl Default for BackOffConfig {
    fn default() -> Self {
        Self {
            policy: BackOffPolicy::Constant,
            duration: Duration::from_secs(5),
            initial_interval: Duration::from_millis(500),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(60),
            max_elapsed_time: Duration::from_secs(15 * 60),
            max_retries: -1,
        }
    }
}

impl BackOffConfig {
    pub fn start(&self) -> BackOff {
        BackOff {
            config: self.clone(),
            current: self.initial_interval,
            retries: 0,
            started: std::time::Instant::now(),
        }
    }
}

/// One retry sequence (cenkalti/backoff semantics, as dapr/kit builds it).
#[derive(Debug)]
pub struct BackOff {
    config: BackOffConfig,
    current: Duration,
    retries: i64,
    started: std::time::Instant,
}

impl BackOff {
    /// The delay before the next attempt, or `None` when the policy gives up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.config.max_retries >= 0 && self.retries >= self.config.max_retries {
            return None;
        }
        self.retries += 1;
        match self.config.policy {
            BackOffPolicy::Constant => Some(self.config.duration),
            BackOffPolicy::Exponential => {
                let elapsed = self.started.elapsed();
                if !self.config.max_elapsed_time.is_zero() && elapsed > self.config.max_elapsed_time
                {
                    return None;
                }
                let rf = self.config.randomization_factor.clamp(0.0, 1.0);
                let base = self.current.as_secs_f64();
                let delta = rf * base;
                let random = (uuid::Uuid::new_v4().as_u128() % 10_000) as f64 / 10_000.0;
                let delay = (base - delta) + random * (2.0 * delta);
                let next = (base * self.config.multiplier.max(1.0))
                    .min(self.config.max_interval.as_secs_f64());
                self.current = Duration::from_secs_f64(next.max(0.0));
                let delay = Duration::from_secs_f64(delay.max(0.0));
                if !self.config.max_elapsed_time.is_zero()
                    && elapsed + delay > self.config.max_elapsed_time
                {
                    return None;
                }
                Some(delay)
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// TLS on the wire (false when disableTls or authType none).
    pub enabled: bool,
    pub skip_verify: bool,
    pub ca_cert: Option<String>,
    /// Client certificate and key; used for authType mtls only, as in daprd.
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
}

#[derive(Clone)]
pub struct KafkaConfig {
    pub brokers: Vec<String>,
    pub topics: Vec<String>,
    pub publish_topic: Option<String>,
    pub consumer_group: String,
    pub client_id: String,
    pub auth_type: AuthType,
    pub sasl_username: String,
    pub sasl_password: String,
    pub sasl_mechanism: SaslMechanism,
    pub initial_offset: InitialOffset,
    pub max_message_bytes: usize,
    pub on_app_failure: OnAppFailure,
    pub consume_retry_interval: Duration,
    pub backoff: BackOffConfig,
    pub heartbeat_interval: Duration,
    pub session_timeout: Duration,
    pub version: Option<String>,
    pub compression: Compression,
    pub required_acks: RequiredAcks,
    pub producer_retry_max: u32,
    pub dial_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub metadata_refresh_interval: Duration,
    pub keep_alive: Duration,
    pub rebalance_strategy: RebalanceStrategy,
    /// The value given when it was not one daprd knows (daprd warns and uses range).
    pub unknown_rebalance_strategy: Option<String>,
    pub escape_headers: bool,
    pub exclude_header_meta_regex: Option<Regex>,
    pub tls: TlsConfig,
    pub consumer_fetch_min: i32,
    pub consumer_fetch_default: i32,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("publish_topic", &self.publish_topic)
            .field("consumer_group", &self.consumer_group)
            .field("client_id", &self.client_id)
            .field("auth_type", &self.auth_type)
            .field("on_app_failure", &self.on_app_failure)
            .finish_non_exhaustive()
    }
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(field, message)
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What `encoding/pem.Decode` would find a block in (a BEGIN line followed by its END line).
pub fn looks_like_pem(value: &str) -> bool {
    let Some(start) = value.find("-----BEGIN ") else {
        return false;
    };
    let rest = &value[start + "-----BEGIN ".len()..];
    let Some(label_end) = rest.find("-----") else {
        return false;
    };
    let label = &rest[..label_end];
    if label.contains('\n') {
        return false;
    }
    rest.contains(&format!("-----END {label}-----"))
}

/// sarama's `ParseKafkaVersion` shape check.
fn valid_kafka_version(value: &str) -> bool {
    if value.len() < 5 {
        return false;
    }
    let parts: Vec<&str> = value.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if value.starts_with('0') {
        parts.len() == 4 && parts[0] == "0" && parts.iter().all(numeric)
    } else {
        parts.len() == 3 && parts.iter().all(numeric)
    }
}

/// Go `strconv.Atoi`-style integer parse with Go's error text.
fn go_atoi<T: std::str::FromStr>(value: &str, func: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .map_err(|_| format!("strconv.{func}: parsing {value:?}: invalid syntax"))
}

/// Reads one `backOff*` key: the prefix is matched exactly, the rest case-insensitively (dapr/kit
/// `config.PrefixedBy` then mapstructure).
fn backoff_raw<'a>(p: &'a Properties, suffix: &str) -> Option<&'a str> {
    p.as_map().iter().find_map(|(k, v)| {
        let rest = k.strip_prefix("backOff")?;
        rest.eq_ignore_ascii_case(suffix).then_some(v.as_str())
    })
}

/// dapr/kit config durations: a bare integer is milliseconds, else a Go duration.
fn kit_config_duration(field: &Field, value: &str) -> Result<Duration, ConfigError> {
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    parse_go_duration(value).map_err(|_| err(field.name, format!("invalid duration {value:?}")))
}

fn decode_backoff(p: &Properties) -> Result<BackOffConfig, ConfigError> {
    let mut c = BackOffConfig::default();
    if let Some(v) = backoff_raw(p, "policy") {
        c.policy = match v.to_ascii_lowercase().as_str() {
            "constant" => BackOffPolicy::Constant,
            "exponential" => BackOffPolicy::Exponential,
            _ => {
                return Err(err(
                    BACKOFF_POLICY.name,
                    format!("invalid PolicyType {v:?}: unexpected back off policy type: {v}"),
                ));
            }
        };
    }
    let duration =
        |field: &Field, suffix: &str, target: &mut Duration| -> Result<(), ConfigError> {
            if let Some(v) = backoff_raw(p, suffix) {
                *target = kit_config_duration(field, v)?;
            }
            Ok(())
        };
    duration(&BACKOFF_DURATION, "duration", &mut c.duration)?;
    duration(
        &BACKOFF_INITIAL_INTERVAL,
        "initialInterval",
        &mut c.initial_interval,
    )?;
    duration(&BACKOFF_MAX_INTERVAL, "maxInterval", &mut c.max_interval)?;
    duration(
        &BACKOFF_MAX_ELAPSED_TIME,
        "maxElapsedTime",
        &mut c.max_elapsed_time,
    )?;
    let float = |field: &Field, suffix: &str, target: &mut f64| -> Result<(), ConfigError> {
        if let Some(v) = backoff_raw(p, suffix) {
            *target = v
                .parse::<f32>()
                .map_err(|_| err(field.name, format!("invalid float32 {v:?}")))?
                as f64;
        }
        Ok(())
    };
    float(&BACKOFF_MULTIPLIER, "multiplier", &mut c.multiplier)?;
    float(
        &BACKOFF_RANDOMIZATION_FACTOR,
        "randomizationFactor",
        &mut c.randomization_factor,
    )?;
    if let Some(v) = backoff_raw(p, "maxRetries") {
        c.max_retries = v
            .parse::<i64>()
            .map_err(|_| err(BACKOFF_MAX_RETRIES.name, format!("invalid int64 {v:?}")))?;
    }
    Ok(c)
}

fn duration_or(p: &Properties, field: &Field, fallback: Duration) -> Result<Duration, ConfigError> {
    Ok(p.duration(field)?.unwrap_or(fallback))
}

impl bindery_core::BindingConfig for KafkaConfig {
    /// Refuses the authentication types bindery cannot use, so `validate` says so too.
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let config = Self::decode_with(p, warnings)?;
        config.ensure_supported()?;
        Ok(config)
    }

    fn build_error(e: ConfigError) -> bindery_core::BindingError {
        super::KafkaBindingError::Config(e).into()
    }
}

impl KafkaConfig {
    /// Decodes and validates the metadata like daprd's `Init` (no I/O), returning daprd's error
    /// texts. Authentication types bindery cannot use still decode; see
    /// [`KafkaConfig::ensure_supported`].
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        Self::decode_with(p, &mut Vec::new())
    }

    fn decode_with(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        // upgradeMetadata: the legacy authRequired flag decides authType when that is empty.
        let mut auth_type_raw = p.get(AUTH_TYPE.name).unwrap_or("").to_owned();
        if auth_type_raw.is_empty()
            && let Some(required) = p.get(AUTH_REQUIRED.name).filter(|v| !v.is_empty())
        {
            {
                warnings.push(ConfigWarning::new(
                    AUTH_REQUIRED.name,
                    "authRequired is deprecated, use authType instead",
                ));
                auth_type_raw = match go_parse_bool(required) {
                    Some(true) if p.get(SASL_PASSWORD.name).is_some_and(|v| !v.is_empty()) => {
                        "password".to_owned()
                    }
                    Some(true) => "mtls".to_owned(),
                    Some(false) => "none".to_owned(),
                    None => {
                        return Err(err(
                            AUTH_REQUIRED.name,
                            "kafka error: invalid value for 'authRequired' attribute",
                        ));
                    }
                };
            }
        }

        // Typed decoding (mapstructure) comes first in daprd, so its errors win.
        let max_message_bytes = p.number::<i64>(&MAX_MESSAGE_BYTES)?.unwrap_or(0);
        let consume_retry_enabled = p.bool(&CONSUME_RETRY_ENABLED);
        let mut consume_retry_interval =
            duration_or(p, &CONSUME_RETRY_INTERVAL, Duration::from_millis(100))?;
        let heartbeat_interval = duration_or(p, &HEARTBEAT_INTERVAL, Duration::from_secs(3))?;
        let session_timeout = duration_or(p, &SESSION_TIMEOUT, Duration::from_secs(10))?;
        let escape_headers = p.bool(&ESCAPE_HEADERS);
        let tls_disable = p.bool(&DISABLE_TLS);
        let skip_verify = p.bool(&SKIP_VERIFY);
        let mut metadata_refresh_interval =
            duration_or(p, &TOPIC_METADATA_REFRESH, Duration::from_secs(8 * 60))?;
        let keep_alive = duration_or(p, &KEEP_ALIVE, Duration::ZERO)?;
        let mut dial_timeout = duration_or(p, &DIAL_TIMEOUT, Duration::from_secs(30))?;
        let mut read_timeout = duration_or(p, &READ_TIMEOUT, Duration::from_secs(30))?;
        let mut write_timeout = duration_or(p, &WRITE_TIMEOUT, Duration::from_secs(30))?;
        let _metadata_timeout = duration_or(p, &METADATA_TIMEOUT, Duration::ZERO)?;
        let producer_retry_max = p.number::<i64>(&PRODUCER_RETRY_MAX)?.unwrap_or(5);
        let _ = p.bool(&SCHEMA_CACHING_ENABLED);
        let _ = p.bool(&USE_AVRO_JSON);
        let _ = p.duration(&SCHEMA_LATEST_VERSION_CACHE_TTL)?;

        let consumer_group = match p.get(CONSUMER_GROUP.name) {
            Some(v) if !v.is_empty() => v.to_owned(),
            _ => p.get(CONSUMER_ID.name).unwrap_or("").to_owned(),
        };

        let initial_offset = match p.exact(INITIAL_OFFSET.name).unwrap_or("") {
            "" => InitialOffset::Newest,
            v if v.eq_ignore_ascii_case("oldest") => InitialOffset::Oldest,
            v if v.eq_ignore_ascii_case("newest") => InitialOffset::Newest,
            v => {
                return Err(err(
                    INITIAL_OFFSET.name,
                    format!("kafka error: invalid initialOffset: {v}"),
                ));
            }
        };

        let brokers_raw = p.get(BROKERS.name).unwrap_or("");
        if brokers_raw.is_empty() {
            return Err(err(
                BROKERS.name,
                "kafka error: missing 'brokers' attribute",
            ));
        }
        let brokers: Vec<String> = brokers_raw.split(',').map(str::to_owned).collect();

        let mut ca_cert = p
            .get(CA_CERT.name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        if let Some(v) = p.exact(CA_CERT.name).filter(|v| !v.is_empty()) {
            if !looks_like_pem(v) {
                return Err(err(CA_CERT.name, "kafka error: invalid ca certificate"));
            }
            ca_cert = Some(v.to_owned());
        }

        if auth_type_raw.is_empty() {
            return Err(err(
                AUTH_TYPE.name,
                "kafka error: 'authType' attribute was missing or empty",
            ));
        }
        let sasl_username = p.get(SASL_USERNAME.name).unwrap_or("").to_owned();
        let sasl_password = p.get(SASL_PASSWORD.name).unwrap_or("").to_owned();
        let client_cert = p
            .get(CLIENT_CERT.name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let client_key = p
            .get(CLIENT_KEY.name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let lower = auth_type_raw.to_ascii_lowercase();
        let auth_type = match lower.as_str() {
            "password" => {
                if sasl_username.is_empty() {
                    return Err(err(
                        SASL_USERNAME.name,
                        "kafka error: missing SASL Username for authType 'password'",
                    ));
                }
                if sasl_password.is_empty() {
                    return Err(err(
                        SASL_PASSWORD.name,
                        "kafka error: missing SASL Password for authType 'password'",
                    ));
                }
                AuthType::Password
            }
            "oidc" | "oidc_private_key_jwt" => {
                let at = if lower == "oidc" {
                    AuthType::Oidc
                } else {
                    AuthType::OidcPrivateKeyJwt
                };
                let name = at.as_str();
                let missing = |f: &Field, what: &str| -> Result<(), ConfigError> {
                    if p.get(f.name).unwrap_or("").is_empty() {
                        return Err(err(
                            f.name,
                            format!("kafka error: missing OIDC {what} for authType '{name}'"),
                        ));
                    }
                    Ok(())
                };
                missing(&OIDC_TOKEN_ENDPOINT, "Token Endpoint")?;
                missing(&OIDC_CLIENT_ID, "Client ID")?;
                if at == AuthType::Oidc {
                    missing(&OIDC_CLIENT_SECRET, "Client Secret")?;
                } else {
                    missing(&OIDC_CLIENT_ASSERTION_CERT, "Client Assertion Cert")?;
                    missing(&OIDC_CLIENT_ASSERTION_KEY, "Client Assertion Key")?;
                }
                if let Some(ext) = p.get(OIDC_EXTENSIONS.name).filter(|v| !v.is_empty()) {
                    let ok = serde_json::from_str::<std::collections::HashMap<String, String>>(ext)
                        .is_ok_and(|m| !m.is_empty());
                    if !ok {
                        return Err(err(
                            OIDC_EXTENSIONS.name,
                            format!(
                                "kafka error: improper OIDC Extensions format for authType '{name}'"
                            ),
                        ));
                    }
                }
                at
            }
            "mtls" => {
                if client_cert.as_deref().is_some_and(|c| !looks_like_pem(c)) {
                    return Err(err(
                        CLIENT_CERT.name,
                        "kafka error: invalid client certificate",
                    ));
                }
                if client_key.as_deref().is_some_and(|c| !looks_like_pem(c)) {
                    return Err(err(CLIENT_KEY.name, "kafka error: invalid client key"));
                }
                if client_key.is_some() != client_cert.is_some() {
                    return Err(err(
                        CLIENT_KEY.name,
                        "kafka error: clientKey or clientCert is missing",
                    ));
                }
                AuthType::Mtls
            }
            "none" => AuthType::None,
            "certificate" => {
                if ca_cert.is_none() {
                    return Err(err(
                        CA_CERT.name,
                        "missing CA certificate property 'caCert' for authType 'certificate'",
                    ));
                }
                AuthType::Certificate
            }
            "awsiam" => AuthType::AwsIam,
            _ => {
                return Err(err(
                    AUTH_TYPE.name,
                    "kafka error: invalid value for 'authType' attribute",
                ));
            }
        };
        if skip_verify {
            warnings.push(ConfigWarning::new(
                SKIP_VERIFY.name,
                "skipVerify skips the broker's certificate verification, which is unsafe",
            ));
        }

        // A bare number under the exact key means milliseconds here (daprd re-parses it).
        if let Some(v) = p
            .exact(CONSUME_RETRY_INTERVAL.name)
            .filter(|v| !v.is_empty())
            && v.parse::<i64>().is_ok()
        {
            {
                let ms = v.parse::<u32>().map_err(|_| {
                    err(
                        CONSUME_RETRY_INTERVAL.name,
                        format!(
                            "kafka error: invalid value for 'consumeRetryInterval' attribute: \
                             strconv.ParseUint: parsing {v:?}: invalid syntax"
                        ),
                    )
                })?;
                consume_retry_interval = Duration::from_millis(u64::from(ms));
            }
        }

        let version = match p.get(VERSION.name).filter(|v| !v.is_empty()) {
            Some(v) if !valid_kafka_version(v) => {
                return Err(err(VERSION.name, "kafka error: invalid kafka version"));
            }
            other => other.map(str::to_owned),
        };

        let compression = match p.get(COMPRESSION.name).unwrap_or("") {
            "" | "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => {
                return Err(err(
                    COMPRESSION.name,
                    format!("kafka error: invalid compression: {other}"),
                ));
            }
        };

        if let Some(v) = p.exact(CHANNEL_BUFFER_SIZE.name).filter(|v| !v.is_empty()) {
            go_atoi::<i64>(v, "Atoi").map_err(|e| err(CHANNEL_BUFFER_SIZE.name, e))?;
        }
        let mut consumer_fetch_default = 1024 * 1024;
        if let Some(v) = p
            .exact(CONSUMER_FETCH_DEFAULT.name)
            .filter(|v| !v.is_empty())
        {
            consumer_fetch_default =
                go_atoi::<i32>(v, "ParseInt").map_err(|e| err(CONSUMER_FETCH_DEFAULT.name, e))?;
        }
        let mut consumer_fetch_min = 1;
        if let Some(v) = p.exact(CONSUMER_FETCH_MIN.name).filter(|v| !v.is_empty()) {
            consumer_fetch_min =
                go_atoi::<i32>(v, "ParseInt").map_err(|e| err(CONSUMER_FETCH_MIN.name, e))?;
        }

        if metadata_refresh_interval.is_zero() {
            metadata_refresh_interval = Duration::from_secs(8 * 60);
        }
        for (d, default) in [
            (&mut dial_timeout, 30),
            (&mut read_timeout, 30),
            (&mut write_timeout, 30),
        ] {
            if d.is_zero() {
                *d = Duration::from_secs(default);
            }
        }

        let acks_raw = p.get(PRODUCER_REQUIRED_ACKS.name).unwrap_or("all");
        let required_acks = match acks_raw.to_ascii_lowercase().as_str() {
            "all" | "" => RequiredAcks::All,
            "local" => RequiredAcks::Local,
            "none" => {
                warnings.push(ConfigWarning::new(
                    PRODUCER_REQUIRED_ACKS.name,
                    "producerRequiredAcks is 'none' (fire-and-forget): messages may be lost \
                     silently if a broker fails to write them",
                ));
                RequiredAcks::None
            }
            _ => {
                return Err(err(
                    PRODUCER_REQUIRED_ACKS.name,
                    format!(
                        "kafka error: invalid value for 'producerRequiredAcks': {acks_raw:?} \
                         (must be \"all\", \"local\", or \"none\")"
                    ),
                ));
            }
        };
        if producer_retry_max < 0 {
            return Err(err(
                PRODUCER_RETRY_MAX.name,
                format!(
                    "kafka error: invalid value for 'producerRetryMax': {producer_retry_max} \
                     (must be >= 0)"
                ),
            ));
        }

        // Init, after metadata: mTLS cannot work without TLS.
        if auth_type == AuthType::Mtls && tls_disable {
            return Err(err(
                DISABLE_TLS.name,
                "kafka: cannot configure mTLS authentication when TLSDisable is 'true'",
            ));
        }
        if auth_type == AuthType::AwsIam {
            let region = p
                .exact(REGION.name)
                .filter(|v| !v.is_empty())
                .or_else(|| p.exact(AWS_REGION.name).filter(|v| !v.is_empty()));
            if region.is_none() {
                return Err(err(
                    REGION.name,
                    "failed to validate AWS IAM authentication fields: metadata property \
                     AWSRegion is missing",
                ));
            }
        }

        let strategy_raw = p.get(REBALANCE_STRATEGY.name);
        let (rebalance_strategy, unknown_rebalance_strategy) =
            match strategy_raw.map(str::to_ascii_lowercase).as_deref() {
                None | Some("range") => (RebalanceStrategy::Range, None),
                Some("sticky") => (RebalanceStrategy::Sticky, None),
                Some("roundrobin") => (RebalanceStrategy::RoundRobin, None),
                Some(_) => (RebalanceStrategy::Range, strategy_raw.map(str::to_owned)),
            };

        let backoff = decode_backoff(p)?;

        let on_app_failure = match p.get(ON_APP_FAILURE.name).filter(|v| !v.is_empty()) {
            None if consume_retry_enabled => OnAppFailure::Retry,
            None => OnAppFailure::Skip,
            Some(v) if v.eq_ignore_ascii_case("skip") => OnAppFailure::Skip,
            Some(v) if v.eq_ignore_ascii_case("retry") => OnAppFailure::Retry,
            Some(v) => {
                return Err(err(
                    ON_APP_FAILURE.name,
                    format!(
                        "kafka error: invalid value for 'onAppFailure': {v:?} (must be \"skip\" or \"retry\")"
                    ),
                ));
            }
        };

        // daprd compiles this with MustCompile (a bad pattern panics daprd); we refuse it.
        let exclude_header_meta_regex = match p
            .exact(EXCLUDE_HEADER_META_REGEX.name)
            .or_else(|| p.get(EXCLUDE_HEADER_META_REGEX.name))
            .filter(|v| !v.is_empty())
        {
            Some(pattern) => Some(Regex::new(pattern).map_err(|e| {
                err(
                    EXCLUDE_HEADER_META_REGEX.name,
                    format!("kafka error: invalid excludeHeaderMetaRegex: {e}"),
                )
            })?),
            None => None,
        };

        let tls_enabled = !(tls_disable || auth_type == AuthType::None);
        let tls = TlsConfig {
            enabled: tls_enabled,
            skip_verify,
            ca_cert,
            client_cert: if auth_type == AuthType::Mtls {
                client_cert
            } else {
                None
            },
            client_key: if auth_type == AuthType::Mtls {
                client_key
            } else {
                None
            },
        };

        let sasl_mechanism = match p.get(SASL_MECHANISM.name).unwrap_or("") {
            "SHA-256" => SaslMechanism::ScramSha256,
            "SHA-512" => SaslMechanism::ScramSha512,
            _ => SaslMechanism::Plain,
        };

        let client_id = match p.get(CLIENT_ID.name).or_else(|| p.get("clientId")) {
            Some(v) if !v.is_empty() => v.to_owned(),
            _ => "sarama".to_owned(),
        };

        Ok(Self {
            brokers,
            topics: p
                .exact(TOPICS.name)
                .filter(|v| !v.is_empty())
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            publish_topic: p
                .exact(PUBLISH_TOPIC.name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            consumer_group,
            client_id,
            auth_type,
            sasl_username,
            sasl_password,
            sasl_mechanism,
            initial_offset,
            max_message_bytes: usize::try_from(max_message_bytes).unwrap_or(0),
            on_app_failure,
            consume_retry_interval,
            backoff,
            heartbeat_interval,
            session_timeout,
            version,
            compression,
            required_acks,
            producer_retry_max: u32::try_from(producer_retry_max).unwrap_or(u32::MAX),
            dial_timeout,
            read_timeout,
            write_timeout,
            metadata_refresh_interval,
            keep_alive,
            rebalance_strategy,
            unknown_rebalance_strategy,
            escape_headers,
            exclude_header_meta_regex,
            tls,
            consumer_fetch_min,
            consumer_fetch_default,
        })
    }

    /// Refuses what daprd accepts but bindery cannot do.
    pub fn ensure_supported(&self) -> Result<(), ConfigError> {
        if !self.auth_type.is_supported() {
            return Err(err(
                AUTH_TYPE.name,
                format!(
                    "kafka error: authType '{}' is not supported by bindery (supported: none, \
                     password, mtls, certificate)",
                    self.auth_type.as_str()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::manifest::{Component, parse_documents};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("brokers", "localhost:9092"), ("authType", "none")]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Properties {
        let mut v = base();
        v.extend_from_slice(extra);
        props(&v)
    }

    fn error_of(p: &Properties) -> String {
        KafkaConfig::from_properties(p).unwrap_err().message
    }

    #[test]
    fn defaults_follow_the_code() {
        let c = KafkaConfig::from_properties(&with(&[])).unwrap();
        assert_eq!(c.brokers, vec!["localhost:9092"]);
        assert!(c.topics.is_empty());
        assert_eq!(c.publish_topic, None);
        assert_eq!(c.client_id, "sarama");
        assert_eq!(c.initial_offset, InitialOffset::Newest);
        assert_eq!(c.max_message_bytes, 0);
        assert_eq!(c.on_app_failure, OnAppFailure::Skip);
        assert_eq!(c.consume_retry_interval, Duration::from_millis(100));
        assert_eq!(c.backoff, BackOffConfig::default());
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.session_timeout, Duration::from_secs(10));
        assert_eq!(c.metadata_refresh_interval, Duration::from_secs(480));
        assert_eq!(c.required_acks, RequiredAcks::All);
        assert_eq!(c.producer_retry_max, 5);
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.rebalance_strategy, RebalanceStrategy::Range);
        assert!(!c.tls.enabled, "authType none never uses TLS");
        assert_eq!(c.sasl_mechanism, SaslMechanism::Plain);
    }

    #[test]
    fn required_fields_and_their_daprd_errors() {
        assert_eq!(
            error_of(&props(&[("authType", "none")])),
            "kafka error: missing 'brokers' attribute"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1")])),
            "kafka error: 'authType' attribute was missing or empty"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "kerberos")])),
            "kafka error: invalid value for 'authType' attribute"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "password")])),
            "kafka error: missing SASL Username for authType 'password'"
        );
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "password"),
                ("saslUsername", "u")
            ])),
            "kafka error: missing SASL Password for authType 'password'"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "certificate")])),
            "missing CA certificate property 'caCert' for authType 'certificate'"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "oidc")])),
            "kafka error: missing OIDC Token Endpoint for authType 'oidc'"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "awsiam")])),
            "failed to validate AWS IAM authentication fields: metadata property AWSRegion is missing"
        );
    }

    #[test]
    fn legacy_auth_required_upgrades_to_auth_type() {
        let c =
            KafkaConfig::from_properties(&props(&[("brokers", "a:1"), ("authRequired", "false")]))
                .unwrap();
        assert_eq!(c.auth_type, AuthType::None);
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authRequired", "true"),
            ("saslUsername", "u"),
            ("saslPassword", "p"),
        ]))
        .unwrap();
        assert_eq!(c.auth_type, AuthType::Password);
        assert!(c.tls.enabled, "password auth uses TLS unless disableTls");
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authRequired", "yes")])),
            "kafka error: invalid value for 'authRequired' attribute"
        );
        // authRequired true without a password means mTLS.
        let c = KafkaConfig::from_properties(&props(&[("brokers", "a:1"), ("authRequired", "1")]))
            .unwrap();
        assert_eq!(c.auth_type, AuthType::Mtls);
        // An explicit authType wins.
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "NONE"),
            ("authRequired", "true"),
        ]))
        .unwrap();
        assert_eq!(c.auth_type, AuthType::None);
    }

    #[test]
    fn exact_case_keys() {
        let c = KafkaConfig::from_properties(&with(&[
            ("PublishTopic", "ignored"),
            ("Topics", "ignored"),
            ("InitialOffset", "bogus"),
        ]))
        .unwrap();
        assert_eq!(c.publish_topic, None);
        assert!(c.topics.is_empty());
        assert_eq!(c.initial_offset, InitialOffset::Newest);
        let c = KafkaConfig::from_properties(&with(&[
            ("publishTopic", "out"),
            ("topics", "a, b"),
            ("initialOffset", "OLDEST"),
        ]))
        .unwrap();
        assert_eq!(c.publish_topic.as_deref(), Some("out"));
        assert_eq!(c.topics, vec!["a", " b"], "no trimming, as in daprd");
        assert_eq!(c.initial_offset, InitialOffset::Oldest);
        assert_eq!(
            error_of(&with(&[("initialOffset", "latest")])),
            "kafka error: invalid initialOffset: latest"
        );
    }

    #[test]
    fn consumer_group_falls_back_to_consumer_id() {
        let c = KafkaConfig::from_properties(&with(&[("CONSUMERID", "cid")])).unwrap();
        assert_eq!(c.consumer_group, "cid");
        let c =
            KafkaConfig::from_properties(&with(&[("consumerGroup", ""), ("consumerID", "cid")]))
                .unwrap();
        assert_eq!(c.consumer_group, "cid");
        let c =
            KafkaConfig::from_properties(&with(&[("consumergroup", "g"), ("consumerID", "cid")]))
                .unwrap();
        assert_eq!(c.consumer_group, "g");
    }

    #[test]
    fn retry_settings() {
        let c = KafkaConfig::from_properties(&with(&[("consumeRetryEnabled", "true")])).unwrap();
        assert_eq!(c.on_app_failure, OnAppFailure::Retry);
        let c = KafkaConfig::from_properties(&with(&[
            ("consumeRetryEnabled", "true"),
            ("onAppFailure", "skip"),
        ]))
        .unwrap();
        assert_eq!(c.on_app_failure, OnAppFailure::Skip);
        let c = KafkaConfig::from_properties(&with(&[("onappfailure", "Retry")])).unwrap();
        assert_eq!(c.on_app_failure, OnAppFailure::Retry);
        assert!(error_of(&with(&[("onAppFailure", "drop")])).contains("onAppFailure"));
        // consumeRetryInterval: exact key + bare number = ms; other spellings = seconds.
        let c = KafkaConfig::from_properties(&with(&[("consumeRetryInterval", "200")])).unwrap();
        assert_eq!(c.consume_retry_interval, Duration::from_millis(200));
        let c = KafkaConfig::from_properties(&with(&[("consumeretryinterval", "2")])).unwrap();
        assert_eq!(c.consume_retry_interval, Duration::from_secs(2));
        let c = KafkaConfig::from_properties(&with(&[("consumeRetryInterval", "1s")])).unwrap();
        assert_eq!(c.consume_retry_interval, Duration::from_secs(1));
        // backOff*: exact prefix, case-insensitive rest, bare numbers are ms.
        let c = KafkaConfig::from_properties(&with(&[
            ("backOffDuration", "50"),
            ("backOffMAXRETRIES", "3"),
            ("backOffPolicy", "Exponential"),
            ("backoffMultiplier", "9"),
        ]))
        .unwrap();
        assert_eq!(c.backoff.duration, Duration::from_millis(50));
        assert_eq!(c.backoff.max_retries, 3);
        assert_eq!(c.backoff.policy, BackOffPolicy::Exponential);
        assert_eq!(c.backoff.multiplier, 1.5, "wrong-case prefix is ignored");
        assert!(
            error_of(&with(&[("backOffPolicy", "linear")]))
                .contains("unexpected back off policy type: linear")
        );
    }

    #[test]
    fn backoff_sequences() {
        let mut b = BackOffConfig {
            max_retries: 2,
            duration: Duration::from_millis(7),
            ..Default::default()
        }
        .start();
        assert_eq!(b.next_delay(), Some(Duration::from_millis(7)));
        assert_eq!(b.next_delay(), Some(Duration::from_millis(7)));
        assert_eq!(b.next_delay(), None);
        let mut b = BackOffConfig::default().start();
        for _ in 0..100 {
            assert_eq!(
                b.next_delay(),
                Some(Duration::from_secs(5)),
                "default retries forever"
            );
        }
        let mut b = BackOffConfig {
            policy: BackOffPolicy::Exponential,
            initial_interval: Duration::from_millis(100),
            randomization_factor: 0.0,
            multiplier: 2.0,
            max_interval: Duration::from_millis(300),
            ..Default::default()
        }
        .start();
        let delays: Vec<_> = (0..4)
            .map(|_| b.next_delay().unwrap().as_millis())
            .collect();
        assert_eq!(delays, vec![100, 200, 300, 300]);
    }

    #[test]
    fn other_validations() {
        assert_eq!(
            error_of(&with(&[("version", "2.0.0.0")])),
            "kafka error: invalid kafka version"
        );
        assert!(KafkaConfig::from_properties(&with(&[("version", "0.10.2.0")])).is_ok());
        assert!(KafkaConfig::from_properties(&with(&[("version", "3.6.0")])).is_ok());
        assert_eq!(
            error_of(&with(&[("compression", "brotli")])),
            "kafka error: invalid compression: brotli"
        );
        assert_eq!(
            error_of(&with(&[("producerRequiredAcks", "some")])),
            r#"kafka error: invalid value for 'producerRequiredAcks': "some" (must be "all", "local", or "none")"#
        );
        assert_eq!(
            error_of(&with(&[("producerRetryMax", "-1")])),
            "kafka error: invalid value for 'producerRetryMax': -1 (must be >= 0)"
        );
        assert_eq!(
            error_of(&with(&[("consumerFetchMin", "x")])),
            r#"strconv.ParseInt: parsing "x": invalid syntax"#
        );
        assert_eq!(
            error_of(&with(&[("caCert", "not a pem")])),
            "kafka error: invalid ca certificate"
        );
        assert!(error_of(&with(&[("maxMessageBytes", "big")])).contains("big"));
        assert!(
            error_of(&with(&[("excludeHeaderMetaRegex", "(")])).contains("excludeHeaderMetaRegex")
        );
        let c =
            KafkaConfig::from_properties(&with(&[("consumerGroupRebalanceStrategy", "Sticky")]))
                .unwrap();
        assert_eq!(c.rebalance_strategy, RebalanceStrategy::Sticky);
        let c = KafkaConfig::from_properties(&with(&[("consumerGroupRebalanceStrategy", "x")]))
            .unwrap();
        assert_eq!(c.rebalance_strategy, RebalanceStrategy::Range);
        assert_eq!(c.unknown_rebalance_strategy.as_deref(), Some("x"));
    }

    #[test]
    fn tls_and_sasl() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "password"),
            ("saslUsername", "u"),
            ("saslPassword", "p"),
            ("saslMechanism", "SHA-512"),
            ("disableTls", "true"),
        ]))
        .unwrap();
        assert_eq!(c.sasl_mechanism, SaslMechanism::ScramSha512);
        assert!(!c.tls.enabled);
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "mtls"),
            ("caCert", pem),
            ("clientCert", pem),
            ("clientKey", pem),
            ("skipVerify", "true"),
        ]))
        .unwrap();
        assert!(c.tls.enabled && c.tls.skip_verify);
        assert!(c.tls.client_cert.is_some() && c.tls.ca_cert.is_some());
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "mtls"),
                ("clientCert", pem)
            ])),
            "kafka error: clientKey or clientCert is missing"
        );
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "mtls"),
                ("disableTls", "true")
            ])),
            "kafka: cannot configure mTLS authentication when TLSDisable is 'true'"
        );
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "mtls"),
                ("clientCert", "x"),
                ("clientKey", pem)
            ])),
            "kafka error: invalid client certificate"
        );
    }

    #[test]
    fn unsupported_auth_types_decode_but_are_refused() {
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "oidc"),
            ("oidcTokenEndpoint", "https://x"),
            ("oidcClientID", "id"),
            ("oidcClientSecret", "s"),
        ]))
        .unwrap();
        let e = c.ensure_supported().unwrap_err();
        assert!(
            e.message.contains("authType 'oidc' is not supported"),
            "{e}"
        );
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "awsiam"),
            ("region", "us-east-1"),
        ]))
        .unwrap();
        assert!(c.ensure_supported().is_err());
        assert!(
            KafkaConfig::from_properties(&with(&[]))
                .unwrap()
                .ensure_supported()
                .is_ok()
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "password"),
            ("saslUsername", "u"),
            ("saslPassword", "hunter2"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn pem_detection() {
        assert!(looks_like_pem("-----BEGIN X-----\nabc\n-----END X-----"));
        assert!(!looks_like_pem("-----BEGIN X-----\nabc\n-----END Y-----"));
        assert!(!looks_like_pem("plain"));
    }

    #[test]
    fn corpus_component_files_decode() {
        let root = crate::common::corpus_tests_dir().unwrap_or_default();
        let mut decoded = 0;
        for dir in ["config/bindings/kafka", "certification/bindings/kafka"] {
            let mut stack = vec![root.join(dir)];
            while let Some(path) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&path) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let p = entry.path();
                    if p.is_dir() {
                        stack.push(p);
                        continue;
                    }
                    if !matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                        continue;
                    }
                    let text = std::fs::read_to_string(&p).unwrap();
                    for doc in parse_documents(&p.display().to_string(), &text) {
                        let Ok(doc) = doc else { continue };
                        let Ok(Some(component)) = Component::from_document(&doc) else {
                            continue;
                        };
                        if !component.spec_type.eq_ignore_ascii_case("bindings.kafka") {
                            continue;
                        }
                        let mut map = std::collections::HashMap::new();
                        for item in &component.metadata {
                            map.insert(item.name.clone(), item.value.clone());
                        }
                        let p2 = Properties::new(map).unwrap();
                        let c = KafkaConfig::from_properties(&p2)
                            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                        c.ensure_supported().unwrap();
                        decoded += 1;
                    }
                }
            }
        }
        assert!(
            decoded >= 5,
            "expected the kafka corpus files, decoded {decoded}"
        );
    }
}
