//! The metadata fields, in the order metadata.yaml lists them (plus what the code reads).

use bindery_core::{Field, FieldType};

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
