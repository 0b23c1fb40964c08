//! Input side: a consumer-group member that hands each record to the app and stores its offset
//! for commit only once the app accepted it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bindery_core::{BindingError, InputBinding, InputContext, InputEvent};
use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError as RdKafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::TopicPartitionList;

use super::client::{LogContext, consumer_client_config};
use super::config::{KafkaConfig, OnAppFailure};
use super::error::KafkaBindingError;
use crate::common::escape::query_escape;

const KEY: &str = "__key";
const OFFSET: &str = "__offset";
const TOPIC: &str = "__topic";
const TIMESTAMP: &str = "__timestamp";
const PARTITION: &str = "__partition";
/// What Go's `time.Time{}.UnixMilli()` gives for a record without a timestamp.
const GO_ZERO_TIME_MILLIS: i64 = -62_135_596_800_000;

pub struct KafkaInput {
    name: String,
    config: Arc<KafkaConfig>,
}

impl KafkaInput {
    pub fn new(name: String, config: KafkaConfig) -> Result<Self, KafkaBindingError> {
        if !config.topics.is_empty() && config.consumer_group.is_empty() {
            return Err(KafkaBindingError::NoConsumerGroup);
        }
        if let Some(strategy) = &config.unknown_rebalance_strategy {
            tracing::warn!(
                component = name.as_str(),
                "Invalid consumer group rebalance strategy: {strategy}. Using default strategy: 'range'"
            );
        }
        Ok(Self {
            name,
            config: Arc::new(config),
        })
    }
}

/// Commits what was processed before partitions go away, and logs assignments.
struct GroupContext {
    log: LogContext,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message);
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let name = self.log.name.as_str();
        match rebalance {
            Rebalance::Revoke(partitions) => {
                // Offsets are stored only for events the app accepted: committing them now
                // hands the partitions over without losing or replaying processed work.
                commit_stored(consumer, name, "revoke");
                tracing::info!(
                    component = name,
                    "kafka partitions revoked: {}",
                    describe(partitions)
                );
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(
                    component = name,
                    "kafka partitions assigned: {}",
                    describe(partitions)
                );
            }
            Rebalance::Error(e) => tracing::warn!(component = name, "kafka rebalance error: {e}"),
        }
    }
}

fn describe(partitions: &TopicPartitionList) -> String {
    partitions
        .elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Commits the stored offsets synchronously; "nothing to commit" is not an error.
fn commit_stored<C: Consumer<X>, X: ConsumerContext>(consumer: &C, name: &str, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => tracing::debug!(component = name, "kafka offsets committed ({when})"),
        Err(RdKafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(component = name, "kafka offset commit failed ({when}): {e}"),
    }
}

/// The event handed to the app: the record value and daprd's metadata keys plus the headers.
fn to_event(message: &BorrowedMessage<'_>, config: &KafkaConfig, name: &str) -> InputEvent {
    let mut metadata = HashMap::with_capacity(5 + message.headers().map_or(0, |h| h.count()));
    let escape = |v: &[u8]| {
        let text = String::from_utf8_lossy(v);
        if config.escape_headers {
            query_escape(&text)
        } else {
            text.into_owned()
        }
    };
    if let Some(key) = message.key() {
        metadata.insert(KEY.to_owned(), escape(key));
    }
    metadata.insert(OFFSET.to_owned(), message.offset().to_string());
    metadata.insert(TOPIC.to_owned(), message.topic().to_owned());
    let millis = message
        .timestamp()
        .to_millis()
        .unwrap_or(GO_ZERO_TIME_MILLIS);
    metadata.insert(TIMESTAMP.to_owned(), millis.to_string());
    metadata.insert(PARTITION.to_owned(), message.partition().to_string());
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            if config
                .exclude_header_meta_regex
                .as_ref()
                .is_some_and(|re| re.is_match(header.key))
            {
                tracing::debug!(
                    component = name,
                    "skipping header {} excluded from metadata",
                    header.key
                );
                continue;
            }
            metadata.insert(
                header.key.to_owned(),
                escape(header.value.unwrap_or_default()),
            );
        }
    }
    InputEvent {
        data: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
        metadata,
    }
}

fn key_b64(message: &BorrowedMessage<'_>) -> String {
    base64::engine::general_purpose::STANDARD.encode(message.key().unwrap_or_default())
}

/// How handling one record ended.
enum Outcome {
    /// Accepted by the app: its offset may be committed.
    Accepted,
    /// Failed and left behind (daprd's skip); later successes commit past it.
    Skipped,
    /// Shutdown came while retrying: the record stays uncommitted and is redelivered later.
    Interrupted,
}

async fn handle(message: &BorrowedMessage<'_>, config: &KafkaConfig, cx: &InputContext) -> Outcome {
    let name = cx.name();
    let event = to_event(message, config, name);
    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
    tracing::debug!(
        component = name,
        "Processing Kafka message: {topic}/{partition}/{offset}"
    );
    match config.on_app_failure {
        OnAppFailure::Skip => match cx.deliver(event).await {
            Ok(_) => Outcome::Accepted,
            Err(e) => {
                tracing::error!(
                    component = name,
                    "Error processing Kafka message: {topic}/{partition}/{offset} [key={}]. Error: {e}.",
                    key_b64(message)
                );
                Outcome::Skipped
            }
        },
        OnAppFailure::Retry => {
            let mut backoff = config.backoff.start();
            let mut failed = false;
            loop {
                match cx.deliver(event.clone()).await {
                    Ok(_) => {
                        if failed {
                            tracing::info!(
                                component = name,
                                "Successfully processed Kafka message after it previously failed: \
                                 {topic}/{partition}/{offset} [key={}]",
                                key_b64(message)
                            );
                        }
                        return Outcome::Accepted;
                    }
                    Err(e) => {
                        if !failed {
                            tracing::warn!(
                                component = name,
                                "Error processing Kafka message: {topic}/{partition}/{offset} \
                                 [key={}]. Error: {e}. Retrying...",
                                key_b64(message)
                            );
                            failed = true;
                        }
                        let Some(delay) = backoff.next_delay() else {
                            tracing::error!(
                                component = name,
                                "Too many failed attempts at processing Kafka message: \
                                 {topic}/{partition}/{offset} [key={}]. Error: {e}.",
                                key_b64(message)
                            );
                            return Outcome::Skipped;
                        };
                        tokio::select! {
                            _ = cx.shutdown().cancelled() => {
                                tracing::debug!(
                                    component = name,
                                    "Kafka message processing aborted due to shutdown; will be \
                                     redelivered: {topic}/{partition}/{offset}"
                                );
                                return Outcome::Interrupted;
                            }
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
    }
}

#[async_trait]
impl InputBinding for KafkaInput {
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let name = self.name.clone();
        if self.config.topics.is_empty() {
            tracing::warn!(
                component = name.as_str(),
                "kafka binding: no topic defined, input bindings will not be started"
            );
            cx.shutdown().cancelled().await;
            return Ok(());
        }
        let context = GroupContext {
            log: LogContext { name: name.clone() },
        };
        let consumer: StreamConsumer<GroupContext> = consumer_client_config(&self.config)
            .create_with_context(context)
            .map_err(KafkaBindingError::Client)?;
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| {
            BindingError::unavailable(format!("kafka error: cannot subscribe to {topics:?}: {e}"))
        })?;
        tracing::info!(
            component = name.as_str(),
            "kafka input subscribed to {topics:?} in group {}",
            self.config.consumer_group
        );

        loop {
            let received = tokio::select! {
                biased;
                _ = cx.shutdown().cancelled() => break,
                received = consumer.recv() => received,
            };
            match received {
                Ok(message) => match handle(&message, &self.config, &cx).await {
                    Outcome::Accepted => store(&consumer, &message, &name),
                    Outcome::Skipped => {}
                    Outcome::Interrupted => break,
                },
                Err(e) => {
                    tracing::warn!(
                        component = name.as_str(),
                        "Error consuming {topics:?}. Retrying...: {e}"
                    );
                    tokio::select! {
                        _ = cx.shutdown().cancelled() => break,
                        _ = tokio::time::sleep(self.config.consume_retry_interval.max(Duration::from_millis(10))) => {}
                    }
                }
            }
        }

        // Commit what the app accepted, then leave the group (blocking calls: off the runtime).
        tokio::task::spawn_blocking(move || {
            commit_stored(&consumer, &name, "shutdown");
            consumer.unsubscribe();
            drop(consumer);
            tracing::debug!(component = name.as_str(), "kafka input closed");
        })
        .await
        .map_err(|e| BindingError::other(format!("kafka error: closing consumer: {e}")))?;
        Ok(())
    }
}

fn store(consumer: &StreamConsumer<GroupContext>, message: &BorrowedMessage<'_>, name: &str) {
    let result: KafkaResult<()> = consumer.store_offset_from_message(message);
    if let Err(e) = result {
        // The partition was revoked meanwhile: its new owner starts from the last commit.
        tracing::debug!(
            component = name,
            "kafka offset {}/{}/{} not stored: {e}",
            message.topic(),
            message.partition(),
            message.offset()
        );
    }
}
