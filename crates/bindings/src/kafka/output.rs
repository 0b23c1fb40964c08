//! Output side: a producer that publishes each `create` to `publishTopic` and waits for the
//! broker's acknowledgement (daprd uses a sarama SyncProducer).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse, OutputBinding};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use tokio::sync::Mutex;

use super::client::{LogContext, producer_client_config, sarama_hash_partition};
use super::config::KafkaConfig;
use super::error::KafkaBindingError;

const PARTITION_KEY: &str = "partitionKey";
const KEY: &str = "__key";
const PARTITION_NUMBER: &str = "partitionNumber";
const VALUE_SCHEMA_TYPE: &str = "valueSchemaType";

type Producer_ = FutureProducer<LogContext>;

pub struct KafkaOutput {
    name: String,
    config: Arc<KafkaConfig>,
    producer: Arc<Producer_>,
    /// Partition counts per topic, for sarama-compatible key hashing.
    partitions: Mutex<HashMap<String, (i32, Instant)>>,
    closed: AtomicBool,
}

impl KafkaOutput {
    /// Creates the producer and checks that the brokers answer (daprd's Init fetches metadata).
    pub async fn connect(name: String, config: KafkaConfig) -> Result<Self, KafkaBindingError> {
        let context = LogContext { name: name.clone() };
        let producer: Producer_ = producer_client_config(&config)
            .create_with_context(context)
            .map_err(KafkaBindingError::Client)?;
        let producer = Arc::new(producer);
        let probe = Arc::clone(&producer);
        let timeout = config.dial_timeout;
        tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, timeout))
            .await
            .map_err(|e| KafkaBindingError::Connect(e.to_string()))?
            .map_err(|e| {
                KafkaBindingError::Connect(format!(
                    "kafka: client has run out of available brokers to talk to: {e}"
                ))
            })?;
        tracing::debug!(component = name.as_str(), "kafka output connected");
        Ok(Self {
            name,
            config: Arc::new(config),
            producer,
            partitions: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The topic's partition count, cached for the metadata refresh interval; `Ok(None)` when
    /// the brokers did not say (the send then waits for the topic as librdkafka does).
    /// A topic the brokers report as unknown is an error at once: librdkafka would wait
    /// `message.timeout.ms` for it on the first record, then fail every later one without asking
    /// again. Not cached, so a topic created afterwards is found on the next call.
    async fn partition_count(&self, topic: &str) -> Result<Option<i32>, KafkaBindingError> {
        let mut cache = self.partitions.lock().await;
        if let Some((count, at)) = cache.get(topic)
            && at.elapsed() < self.config.metadata_refresh_interval
        {
            return Ok(Some(*count));
        }
        let producer = Arc::clone(&self.producer);
        let owned = topic.to_owned();
        let timeout = self.config.read_timeout.min(Duration::from_secs(10));
        let fetched = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(Some(&owned), timeout)
        })
        .await;
        let Ok(Ok(metadata)) = fetched else {
            return Ok(None);
        };
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(None);
        };
        match found.error().map(RDKafkaErrorCode::from) {
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                return Err(KafkaBindingError::UnknownTopic(topic.to_owned()));
            }
            Some(_) => return Ok(None),
            None if found.partitions().is_empty() => return Ok(None),
            None => {}
        }
        let Ok(count) = i32::try_from(found.partitions().len()) else {
            return Ok(None);
        };
        cache.insert(topic.to_owned(), (count, Instant::now()));
        Ok(Some(count))
    }

    async fn forget_partitions(&self, topic: &str) {
        self.partitions.lock().await.remove(topic);
    }

    async fn publish(&self, request: InvokeRequest) -> Result<(), KafkaBindingError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(KafkaBindingError::Closed);
        }
        let topic = self
            .config
            .publish_topic
            .as_deref()
            .ok_or(KafkaBindingError::NoPublishTopic)?;
        check_value_schema_type(&request.metadata)?;
        let parts = self.record_parts(&request.metadata)?;

        let max = self.config.max_message_bytes;
        if max > 0 {
            let size = request.data.len() + parts.key.map_or(0, str::len) + parts.header_bytes;
            if size > max {
                return Err(KafkaBindingError::Produce {
                    topic: topic.to_owned(),
                    message: "kafka server: Message was too large, server rejected it to avoid \
                              allocation error"
                        .to_owned(),
                    retriable: false,
                });
            }
        }

        let count = self.partition_count(topic).await?;
        let partition = partition(parts.partition_number, parts.key, count)?;
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
            .payload(request.data.as_ref())
            .headers(parts.headers);
        if let Some(k) = parts.key {
            record = record.key(k);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        self.send(topic, record).await
    }

    /// The record key, the pinned partition and the headers from the request metadata. Sorted
    /// so that the outcome does not depend on map order (daprd's is random).
    fn record_parts<'a>(
        &self,
        metadata: &'a HashMap<String, String>,
    ) -> Result<RecordParts<'a>, KafkaBindingError> {
        let mut entries: Vec<(&String, &String)> = metadata.iter().collect();
        entries.sort();
        let mut parts = RecordParts {
            key: None,
            partition_number: None,
            headers: OwnedHeaders::new_with_capacity(entries.len()),
            header_bytes: 0,
        };
        for (name, value) in entries {
            match name.as_str() {
                PARTITION_KEY | KEY => parts.key = Some(value),
                PARTITION_NUMBER => parts.partition_number = Some(parse_partition_number(value)?),
                _ => {}
            }
            if self
                .config
                .exclude_header_meta_regex
                .as_ref()
                .is_some_and(|re| re.is_match(name))
            {
                tracing::debug!(
                    component = self.name.as_str(),
                    "skipping metadata {name} excluded from headers"
                );
                continue;
            }
            parts.header_bytes += name.len() + value.len();
            parts.headers = parts.headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        Ok(parts)
    }

    /// Sends and waits for the delivery report.
    async fn send(
        &self,
        topic: &str,
        record: FutureRecord<'_, str, [u8]>,
    ) -> Result<(), KafkaBindingError> {
        match self
            .producer
            .send(record, Timeout::After(self.config.write_timeout))
            .await
        {
            Ok(delivery) => {
                tracing::debug!(
                    component = self.name.as_str(),
                    "published to {topic} partition {} offset {}",
                    delivery.partition,
                    delivery.offset
                );
                Ok(())
            }
            Err((e, _)) => {
                if matches!(
                    e,
                    RdKafkaError::MessageProduction(
                        RDKafkaErrorCode::UnknownPartition
                            | RDKafkaErrorCode::UnknownTopicOrPartition
                    )
                ) {
                    self.forget_partitions(topic).await;
                }
                let retriable = !matches!(
                    e,
                    RdKafkaError::MessageProduction(
                        RDKafkaErrorCode::MessageSizeTooLarge
                            | RDKafkaErrorCode::InvalidMessageSize
                    )
                );
                Err(KafkaBindingError::Produce {
                    topic: topic.to_owned(),
                    message: e.to_string(),
                    retriable,
                })
            }
        }
    }
}

/// The partition to write to: the pinned one (checked against the partition count when
/// known), else the key's sarama hash, else librdkafka's choice.
fn partition(
    partition_number: Option<i32>,
    key: Option<&str>,
    count: Option<i32>,
) -> Result<Option<i32>, KafkaBindingError> {
    Ok(match (partition_number, key) {
        (Some(n), _) => {
            if let Some(count) = count
                && n >= count
            {
                return Err(KafkaBindingError::BadRequest(format!(
                    "partition number {n} is out of range, topic has {count} partitions"
                )));
            }
            Some(n)
        }
        (None, Some(k)) => count.map(|count| sarama_hash_partition(k.as_bytes(), count)),
        (None, None) => None,
    })
}

/// What a record takes from the request metadata.
struct RecordParts<'a> {
    key: Option<&'a str>,
    partition_number: Option<i32>,
    headers: OwnedHeaders,
    /// Header names and values, counted against maxMessageBytes.
    header_bytes: usize,
}

/// Only "none" is usable without a schema registry.
fn check_value_schema_type(metadata: &HashMap<String, String>) -> Result<(), KafkaBindingError> {
    let Some((_, v)) = metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(VALUE_SCHEMA_TYPE))
    else {
        return Ok(());
    };
    match v.to_ascii_lowercase().as_str() {
        "none" => Ok(()),
        "avro" => Err(KafkaBindingError::BadRequest(
            "kafka error: valueSchemaType Avro needs a schema registry, which bindery does not \
             support"
                .to_owned(),
        )),
        _ => Err(KafkaBindingError::BadRequest(format!(
            "error parsing schema type. '{v}' is not a supported value"
        ))),
    }
}

fn parse_partition_number(value: &str) -> Result<i32, KafkaBindingError> {
    let n: i64 = value.parse().map_err(|_| {
        KafkaBindingError::BadRequest(format!(
            "invalid partitionNumber metadata value {value:?}: strconv.ParseInt: parsing {value:?}: invalid syntax"
        ))
    })?;
    let n = i32::try_from(n).map_err(|_| {
        KafkaBindingError::BadRequest(format!(
            "invalid partitionNumber metadata value {value:?}: strconv.ParseInt: parsing {value:?}: value out of range"
        ))
    })?;
    if n < 0 {
        return Err(KafkaBindingError::BadRequest(format!(
            "partitionNumber must be non-negative, got {n}"
        )));
    }
    Ok(n)
}

#[async_trait]
impl OutputBinding for KafkaOutput {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        self.publish(request).await?;
        Ok(None)
    }

    async fn close(&self) -> Result<(), BindingError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let producer = Arc::clone(&self.producer);
        let timeout = self.config.write_timeout;
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| {
                BindingError::other(format!("kafka error: failed to close producer: {e}"))
            })?;
        flushed
            .map_err(|e| BindingError::other(format!("kafka error: failed to close producer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_numbers() {
        assert_eq!(parse_partition_number("3").unwrap(), 3);
        assert_eq!(
            parse_partition_number("-1").unwrap_err().to_string(),
            "partitionNumber must be non-negative, got -1"
        );
        assert_eq!(
            parse_partition_number("x").unwrap_err().to_string(),
            r#"invalid partitionNumber metadata value "x": strconv.ParseInt: parsing "x": invalid syntax"#
        );
    }
}
