//! `bindings.kafka`: publish to one topic (output `create`) and consume topics in a consumer
//! group (input), with daprd's metadata (`bindings/kafka/kafka.go` over
//! `common/component/kafka`). Built on librdkafka (rdkafka) instead of sarama.
//!
//! Delivery contract of the input side:
//! - an event's offset is stored for commit only after the app answered `Ok`; stored offsets are
//!   committed every second, before partitions are revoked in a rebalance, and on shutdown;
//! - on an app error, `onAppFailure: skip` (daprd's default, `consumeRetryEnabled: false`) logs
//!   and moves on, so a later success commits past the failed event; `onAppFailure: retry`
//!   (`consumeRetryEnabled: true`) redelivers it with the `backOff*` policy and never commits
//!   past it (with the default endless policy: at-least-once);
//! - events are handed to the app one at a time (daprd: one at a time per partition).

pub mod config;
mod input;
mod output;

use std::time::Duration;

use bindery_core::descriptor::BoxFuture;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, ConfigError, InputBinding, OutputBinding,
};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError as RdKafkaError;

pub use config::KafkaConfig;
use config::{AuthType, InitialOffset};

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.kafka",
    aliases: &[],
    status: "stable",
    summary: "Publish records to a Kafka topic and consume topics in a consumer group.",
    fields: config::FIELDS,
    operations: &[Operation {
        name: "create",
        description: "Publish `data` to publishTopic. Request metadata `partitionKey` or `__key` \
                      sets the record key, `partitionNumber` pins the partition, and every \
                      request metadata entry becomes a record header (unless it matches \
                      excludeHeaderMetaRegex). Waits for the broker's acknowledgement; no \
                      response body.",
    }],
    decode: bindery_core::decode_as::<KafkaConfig>,
    build_input: Some(build_input),
    build_output: Some(build_output),
};

/// What can go wrong in this component.
#[derive(Debug, thiserror::Error)]
pub enum KafkaBindingError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("failed to get latest Kafka clients for initialization: {0}")]
    Connect(String),
    #[error("kafka error: cannot create client: {0}")]
    Client(RdKafkaError),
    #[error("kafka error: publishTopic is not set, the binding has no topic to publish to")]
    NoPublishTopic,
    #[error("{0}")]
    BadRequest(String),
    #[error("kafka: Failed to produce message to topic {topic}: {message}")]
    Produce {
        topic: String,
        message: String,
        retriable: bool,
    },
    #[error(
        "kafka error: consumerGroup is not set; the input binding needs consumerGroup (or consumerID)"
    )]
    NoConsumerGroup,
    #[error("component is closed")]
    Closed,
}

impl From<KafkaBindingError> for BindingError {
    fn from(e: KafkaBindingError) -> Self {
        let message = e.to_string();
        match &e {
            KafkaBindingError::Config(_)
            | KafkaBindingError::NoPublishTopic
            | KafkaBindingError::BadRequest(_)
            | KafkaBindingError::NoConsumerGroup
            | KafkaBindingError::Client(_) => BindingError::invalid(message),
            KafkaBindingError::Produce {
                retriable: false, ..
            } => BindingError::invalid(message),
            KafkaBindingError::Connect(_) | KafkaBindingError::Produce { .. } => {
                BindingError::unavailable(message)
            }
            KafkaBindingError::Closed => BindingError::closed(message),
        }
        .with_source(e)
    }
}

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<KafkaConfig>()?;
        let output = output::KafkaOutput::connect(cx.name, config).await?;
        Ok(Box::new(output) as Box<dyn OutputBinding>)
    })
}

fn build_input(cx: BuildContext) -> BoxFuture<Result<Box<dyn InputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<KafkaConfig>()?;
        let input = input::KafkaInput::new(cx.name, config)?;
        Ok(Box::new(input) as Box<dyn InputBinding>)
    })
}

fn millis(d: Duration) -> String {
    d.as_millis().clamp(1, i32::MAX as u128).to_string()
}

/// Settings shared by the producer and the consumer.
fn base_client_config(c: &KafkaConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", c.brokers.join(","))
        .set("client.id", &c.client_id)
        .set("socket.connection.setup.timeout.ms", millis(c.dial_timeout))
        .set(
            "socket.timeout.ms",
            millis(c.read_timeout.max(c.write_timeout)),
        )
        .set(
            "topic.metadata.refresh.interval.ms",
            millis(c.metadata_refresh_interval),
        )
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "2000")
        .set("log_level", "6");
    if !c.keep_alive.is_zero() {
        cc.set("socket.keepalive.enable", "true");
    }
    let sasl = c.auth_type == AuthType::Password;
    let protocol = match (sasl, c.tls.enabled) {
        (false, false) => "plaintext",
        (false, true) => "ssl",
        (true, false) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    cc.set("security.protocol", protocol);
    if sasl {
        cc.set("sasl.mechanism", c.sasl_mechanism.librdkafka_name())
            .set("sasl.username", &c.sasl_username)
            .set("sasl.password", &c.sasl_password);
    }
    if c.tls.enabled {
        if let Some(ca) = &c.tls.ca_cert {
            cc.set("ssl.ca.pem", ca);
        }
        if c.tls.skip_verify {
            cc.set("enable.ssl.certificate.verification", "false")
                .set("ssl.endpoint.identification.algorithm", "none");
        }
        if let (Some(cert), Some(key)) = (&c.tls.client_cert, &c.tls.client_key) {
            cc.set("ssl.certificate.pem", cert).set("ssl.key.pem", key);
        }
    }
    cc
}

fn producer_client_config(c: &KafkaConfig) -> ClientConfig {
    let mut cc = base_client_config(c);
    cc.set("acks", c.required_acks.librdkafka_value())
        .set("retries", c.producer_retry_max.to_string())
        .set("retry.backoff.ms", "100")
        .set("message.timeout.ms", millis(c.write_timeout))
        .set("compression.codec", c.compression.as_str())
        .set("linger.ms", "0");
    if c.max_message_bytes >= 1000 {
        cc.set("message.max.bytes", c.max_message_bytes.to_string());
    }
    cc
}

fn consumer_client_config(c: &KafkaConfig) -> ClientConfig {
    let mut cc = base_client_config(c);
    cc.set("group.id", &c.consumer_group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match c.initial_offset {
                InitialOffset::Oldest => "earliest",
                InitialOffset::Newest => "latest",
            },
        )
        .set("heartbeat.interval.ms", millis(c.heartbeat_interval))
        .set("session.timeout.ms", millis(c.session_timeout))
        .set(
            "partition.assignment.strategy",
            c.rebalance_strategy.librdkafka_name(),
        )
        .set("fetch.min.bytes", c.consumer_fetch_min.max(1).to_string())
        .set(
            "max.partition.fetch.bytes",
            c.consumer_fetch_default.max(1).to_string(),
        );
    cc
}

/// Routes librdkafka's own log lines and client errors into `tracing`.
#[derive(Debug, Clone)]
struct LogContext {
    name: String,
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let name = self.name.as_str();
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(component = name, "librdkafka {fac}: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(component = name, "librdkafka {fac}: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(component = name, "librdkafka {fac}: {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(component = name, "librdkafka {fac}: {message}")
            }
        }
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        tracing::warn!(
            component = self.name.as_str(),
            "kafka client error: {error}: {reason}"
        );
    }
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// sarama's default hash partitioner: FNV-1a 32 of the key, as a signed 32-bit number modulo
/// the partition count, made non-negative.
pub(crate) fn sarama_hash_partition(key: &[u8], partitions: i32) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in key {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let partition = (hash as i32) % partitions.max(1);
    partition.wrapping_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Properties;

    #[test]
    fn query_escape_matches_go() {
        assert_eq!(query_escape("a b&c=d/é~"), "a+b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn hash_partitioner_matches_sarama() {
        // FNV-1a("") = 0x811c9dc5, negative as i32: -2128831035 % 10 = -5 -> 5.
        assert_eq!(sarama_hash_partition(b"", 10), 5);
        // FNV-1a("a") = 0xe40c292c -> -468965076 % 7 = -6 -> 6.
        assert_eq!(sarama_hash_partition(b"a", 7), 6);
        for key in [b"k1".as_slice(), b"order-42", b"\xff\x00"] {
            let p = sarama_hash_partition(key, 12);
            assert!((0..12).contains(&p));
        }
    }

    #[test]
    fn descriptor_lists_create_and_both_directions() {
        assert!(DESCRIPTOR.supports_operation("create"));
        assert!(DESCRIPTOR.has_input() && DESCRIPTOR.has_output());
        assert!(DESCRIPTOR.example_yaml().contains("brokers"));
        let p =
            Properties::from_pairs([("brokers", "a:1"), ("authType", "awsiam"), ("region", "x")]);
        assert!(DESCRIPTOR.validate(&p).is_err());
        let p = Properties::from_pairs([("brokers", "a:1"), ("authType", "none")]);
        assert!(DESCRIPTOR.validate(&p).is_ok());
    }

    #[test]
    fn client_configs() {
        let p = Properties::from_pairs([
            ("brokers", "a:1,b:2"),
            ("authType", "password"),
            ("saslUsername", "u"),
            ("saslPassword", "p"),
            ("saslMechanism", "SHA-256"),
            ("consumerGroup", "g"),
            ("initialOffset", "oldest"),
        ]);
        let c = KafkaConfig::from_properties(&p).unwrap();
        let cc = consumer_client_config(&c);
        assert_eq!(cc.get("bootstrap.servers"), Some("a:1,b:2"));
        assert_eq!(cc.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(cc.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(cc.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(cc.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(cc.get("group.id"), Some("g"));
        let pc = producer_client_config(&c);
        assert_eq!(pc.get("acks"), Some("-1"));
        assert_eq!(pc.get("retries"), Some("5"));
        assert_eq!(pc.get("message.max.bytes"), None);
    }
}
