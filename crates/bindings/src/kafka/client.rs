//! librdkafka settings for the producer and the consumer, its log routing, and sarama's
//! partitioner.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError as RdKafkaError;

use super::config::{AuthType, InitialOffset, KafkaConfig};

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
            .set("sasl.password", c.sasl_password.expose());
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
            cc.set("ssl.certificate.pem", cert)
                .set("ssl.key.pem", key.expose());
        }
    }
    cc
}

pub(super) fn producer_client_config(c: &KafkaConfig) -> ClientConfig {
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

pub(super) fn consumer_client_config(c: &KafkaConfig) -> ClientConfig {
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
pub(super) struct LogContext {
    pub name: String,
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

/// sarama's default hash partitioner: FNV-1a 32 of the key, as a signed 32-bit number modulo
/// the partition count, made non-negative.
pub(super) fn sarama_hash_partition(key: &[u8], partitions: i32) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in key {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let partition = (hash as i32) % partitions.max(1);
    partition.wrapping_abs()
}
