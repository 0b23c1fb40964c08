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
//! - partitions are delivered in parallel, one record at a time and in order within each (as
//!   daprd does); with `maxConcurrentDeliveries: N` up to N records at once, several of one
//!   partition among them, and an offset is committed only once every earlier record of its
//!   partition is done.

mod client;
pub mod config;
mod error;
mod input;
mod offsets;
mod output;

use bindery_core::descriptor::BoxFuture;
use bindery_core::descriptor::Operation;
use bindery_core::{BindingDescriptor, BindingError, BuildContext, InputBinding, OutputBinding};

pub use config::KafkaConfig;
pub use error::KafkaBindingError;

#[cfg(test)]
use crate::common::escape::query_escape;
#[cfg(test)]
use client::{consumer_client_config, producer_client_config, sarama_hash_partition};

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
