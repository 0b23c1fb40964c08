//! What can go wrong in the Kafka binding, and how it maps onto [`BindingError`].

use bindery_core::{BindingError, ConfigError};
use rdkafka::error::KafkaError as RdKafkaError;

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
    /// sarama's ErrUnknownTopicOrPartition text, with the topic named.
    #[error(
        "kafka: Failed to produce message to topic {0}: kafka server: Request was for a topic or \
         partition that does not exist on this broker"
    )]
    UnknownTopic(String),
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
            | KafkaBindingError::UnknownTopic(_)
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
