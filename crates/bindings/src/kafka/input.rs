//! Input side: a consumer-group member. Records of different partitions are delivered in
//! parallel, one at a time and in order within a partition, as daprd does; with
//! `maxConcurrentDeliveries: N`, up to N records at once, several of one partition among them.
//! Either way an offset is stored for commit only once its record and every earlier record of
//! its partition are done ([`Offsets`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use bindery_core::{BindingError, InputBinding, InputContext, InputEvent};
use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::client::{LogContext, consumer_client_config};
use super::config::{KafkaConfig, OnAppFailure};
use super::error::KafkaBindingError;
use super::offsets::{Offsets, Ticket};
use crate::common::escape::query_escape;

/// Records taken off the consumer and not yet done, when `maxConcurrentDeliveries` is not set:
/// the bound that holds the consumer back while partitions are busy.
const BUFFERED_RECORDS: usize = 1024;

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

/// How long a consumer may stay without partitions after losing its group session before a
/// new consumer replaces it. librdkafka rejoins by itself once its dead connections time out
/// (`socket.timeout.ms`, the larger of `readTimeout` and `writeTimeout`) and a broker answers
/// again; this is the last resort for a consumer that never does, which would otherwise stop
/// delivering without an error (seen once under heavy load after a blackhole, cause unknown).
fn regroup_after(config: &KafkaConfig) -> Duration {
    config.session_timeout + config.read_timeout.max(config.write_timeout) + REGROUP_MARGIN
}

const REGROUP_MARGIN: Duration = Duration::from_secs(5);

/// Commits what was processed before partitions go away, keeps [`Offsets`] in step with the
/// assignment, notes when the group session was lost, and logs it.
struct GroupContext {
    log: LogContext,
    offsets: Mutex<Offsets>,
    /// Set when the assignment was lost (session timed out), cleared by the next assignment.
    session_lost_at: Mutex<Option<Instant>>,
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
                if consumer.assignment_lost() {
                    // The session timed out: the partitions may have a new owner already, and
                    // librdkafka refuses commits for a lost assignment. What was not committed
                    // is delivered again.
                    lock(&self.session_lost_at).get_or_insert_with(Instant::now);
                    lock(&self.offsets).revoked(elements(partitions));
                    tracing::warn!(
                        component = name,
                        "kafka group session lost; partitions revoked, rejoining: {}",
                        describe(partitions)
                    );
                    return;
                }
                // Offsets are stored only for records done with: committing them now hands the
                // partitions over without losing or replaying finished work. Records still in
                // delivery are not committed; the partitions' next owner delivers them again.
                commit_stored(consumer, name, "revoke");
                lock(&self.offsets).revoked(elements(partitions));
                tracing::info!(
                    component = name,
                    "kafka partitions revoked: {}",
                    describe(partitions)
                );
            }
            Rebalance::Assign(partitions) => {
                *lock(&self.session_lost_at) = None;
                lock(&self.offsets).assigned(elements(partitions));
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

fn lock<T>(shared: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere never leaves the state half-updated (each call is one small step).
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn elements(partitions: &TopicPartitionList) -> Vec<(String, i32)> {
    partitions
        .elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
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

/// A record taken off the consumer, owned so that another task can deliver it.
struct Record {
    ticket: Ticket,
    key: Option<Vec<u8>>,
    event: InputEvent,
}

impl Record {
    fn key_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.as_deref().unwrap_or_default())
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

/// How handling one record ended.
enum Outcome {
    /// Accepted by the app: its offset may be committed.
    Accepted,
    /// Failed and left behind (daprd's skip); later successes commit past it.
    Skipped,
    /// Shutdown (or the partition's revocation) came before the app accepted it: the record
    /// stays uncommitted and is delivered again, here or by the partition's next owner.
    Interrupted,
}

/// Delivers one record, retrying under `onAppFailure: retry` for as long as `still_ours` holds
/// (the partition is still assigned under the record's assignment).
async fn handle(
    record: &Record,
    config: &KafkaConfig,
    cx: &InputContext,
    still_ours: impl Fn() -> bool,
) -> Outcome {
    let name = cx.name();
    let Ticket {
        topic,
        partition,
        offset,
        ..
    } = &record.ticket;
    tracing::debug!(
        component = name,
        "Processing Kafka message: {topic}/{partition}/{offset}"
    );
    let mut backoff = config.backoff.start();
    let mut failed = false;
    loop {
        let e = match cx.deliver(record.event.clone()).await {
            Ok(_) => {
                if failed {
                    tracing::info!(
                        component = name,
                        "Successfully processed Kafka message after it previously failed: \
                         {topic}/{partition}/{offset} [key={}]",
                        record.key_b64()
                    );
                }
                return Outcome::Accepted;
            }
            // A failure because the sidecar is stopping says nothing about the record: never
            // skip past it then.
            Err(_) if cx.shutdown().is_cancelled() => return Outcome::Interrupted,
            Err(e) => e,
        };
        if config.on_app_failure == OnAppFailure::Skip {
            tracing::error!(
                component = name,
                "Error processing Kafka message: {topic}/{partition}/{offset} [key={}]. Error: {e}.",
                record.key_b64()
            );
            return Outcome::Skipped;
        }
        if !failed {
            tracing::warn!(
                component = name,
                "Error processing Kafka message: {topic}/{partition}/{offset} [key={}]. \
                 Error: {e}. Retrying...",
                record.key_b64()
            );
            failed = true;
        }
        let Some(delay) = backoff.next_delay() else {
            tracing::error!(
                component = name,
                "Too many failed attempts at processing Kafka message: \
                 {topic}/{partition}/{offset} [key={}]. Error: {e}.",
                record.key_b64()
            );
            return Outcome::Skipped;
        };
        if !still_ours() {
            tracing::debug!(
                component = name,
                "Kafka partition revoked while retrying; its next owner delivers it again: \
                 {topic}/{partition}/{offset}"
            );
            return Outcome::Interrupted;
        }
        tokio::select! {
            _ = cx.shutdown().cancelled() => {
                tracing::debug!(
                    component = name,
                    "Kafka message processing aborted due to shutdown; will be redelivered: \
                     {topic}/{partition}/{offset}"
                );
                return Outcome::Interrupted;
            }
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// What every delivery task shares.
struct Shared {
    name: String,
    config: Arc<KafkaConfig>,
    consumer: StreamConsumer<GroupContext>,
    cx: InputContext,
}

impl Shared {
    /// The consumer's own state: offsets and group session, kept by its rebalance callbacks.
    fn group(&self) -> &GroupContext {
        self.consumer.context()
    }

    /// Delivers one record and stores its partition's offset if the committable point moved.
    /// False when shutdown interrupted it (its partition's later records are left too).
    async fn deliver(&self, record: Record) -> bool {
        let still_ours = || lock(&self.group().offsets).is_current(&record.ticket);
        let outcome = handle(&record, &self.config, &self.cx, still_ours).await;
        if matches!(outcome, Outcome::Interrupted) {
            return !self.cx.shutdown().is_cancelled();
        }
        let Some(last_done) = lock(&self.group().offsets).finish(&record.ticket) else {
            return true;
        };
        let Ticket {
            topic, partition, ..
        } = &record.ticket;
        if let Err(e) = self.consumer.store_offset(topic, *partition, last_done) {
            // The partition was revoked meanwhile: its new owner starts from the last commit.
            tracing::debug!(
                component = self.name.as_str(),
                "kafka offset {topic}/{partition}/{last_done} not stored: {e}"
            );
        }
        true
    }
}

/// One partition's records, delivered in order by one task.
struct PartitionWorker {
    assignment: u64,
    queue: mpsc::UnboundedSender<(Record, OwnedSemaphorePermit)>,
    task: JoinHandle<()>,
}

impl PartitionWorker {
    /// Starts after `previous` (the partition's worker under an earlier assignment) finished,
    /// so that order holds across a rebalance too.
    fn start(shared: Arc<Shared>, assignment: u64, previous: Option<JoinHandle<()>>) -> Self {
        let (queue, mut records) = mpsc::unbounded_channel::<(Record, OwnedSemaphorePermit)>();
        let task = tokio::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            while let Some((record, _permit)) = records.recv().await {
                // Records of a revoked assignment, or taken before a shutdown, are left to be
                // delivered again from the committed offset.
                if shared.cx.shutdown().is_cancelled()
                    || !lock(&shared.group().offsets).is_current(&record.ticket)
                {
                    continue;
                }
                if !shared.deliver(record).await {
                    break;
                }
            }
        });
        Self {
            assignment,
            queue,
            task,
        }
    }
}

/// Hands records to the app: one worker per partition (order kept within it), or one task per
/// record under `maxConcurrentDeliveries`.
enum Dispatch {
    PerPartition(HashMap<(String, i32), PartitionWorker>),
    Concurrent(JoinSet<()>),
}

impl Dispatch {
    fn send(&mut self, shared: &Arc<Shared>, record: Record, permit: OwnedSemaphorePermit) {
        match self {
            Self::PerPartition(workers) => {
                let ticket = &record.ticket;
                let key = (ticket.topic.clone(), ticket.partition);
                let stale = workers
                    .get(&key)
                    .is_some_and(|w| w.assignment != ticket.assignment || w.queue.is_closed());
                if stale {
                    let previous = workers.remove(&key).map(|w| w.task);
                    let worker =
                        PartitionWorker::start(shared.clone(), ticket.assignment, previous);
                    workers.insert(key.clone(), worker);
                }
                let worker = workers.entry(key).or_insert_with(|| {
                    PartitionWorker::start(shared.clone(), record.ticket.assignment, None)
                });
                // A worker that stopped (shutdown) drops the record: it stays uncommitted.
                let _ = worker.queue.send((record, permit));
            }
            Self::Concurrent(tasks) => {
                while tasks.try_join_next().is_some() {}
                let shared = shared.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    shared.deliver(record).await;
                });
            }
        }
    }

    /// Waits for the records in delivery (queued ones are left uncommitted).
    async fn finish(self) {
        match self {
            Self::PerPartition(workers) => {
                for (_, worker) in workers {
                    drop(worker.queue);
                    let _ = worker.task.await;
                }
            }
            Self::Concurrent(tasks) => {
                tasks.join_all().await;
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
        loop {
            let shared = self.subscribe(&cx)?;
            let limit = self.config.max_concurrent_deliveries;
            let dispatch = match limit {
                Some(_) => Dispatch::Concurrent(JoinSet::new()),
                None => Dispatch::PerPartition(HashMap::new()),
            };
            let (dispatch, ended) =
                consume(&shared, dispatch, limit.unwrap_or(BUFFERED_RECORDS)).await;
            dispatch.finish().await;
            match ended {
                Ended::Shutdown => {
                    // Commit what the app accepted, then leave the group (blocking calls: off
                    // the runtime).
                    let name = name.clone();
                    return tokio::task::spawn_blocking(move || {
                        commit_stored(&shared.consumer, &name, "shutdown");
                        shared.consumer.unsubscribe();
                        drop(shared);
                        tracing::debug!(component = name.as_str(), "kafka input closed");
                    })
                    .await
                    .map_err(|e| {
                        BindingError::other(format!("kafka error: closing consumer: {e}"))
                    });
                }
                Ended::Regroup(waited) => {
                    tracing::warn!(
                        component = name.as_str(),
                        "kafka consumer still has no partitions {:.0}s after losing its group \
                         session; replacing it with a new consumer",
                        waited.as_secs_f64()
                    );
                    // Closing the old consumer may wait for brokers it cannot reach: it closes on
                    // a thread of its own while the new one starts. Its uncommitted records are
                    // delivered again by whoever owns their partitions next.
                    drop(tokio::task::spawn_blocking(move || drop(shared)));
                }
            }
        }
    }
}

impl KafkaInput {
    /// A new consumer, subscribed to the binding's topics.
    fn subscribe(&self, cx: &InputContext) -> Result<Arc<Shared>, BindingError> {
        let name = self.name.as_str();
        let context = GroupContext {
            log: LogContext {
                name: name.to_owned(),
            },
            offsets: Mutex::new(Offsets::default()),
            session_lost_at: Mutex::new(None),
        };
        let consumer: StreamConsumer<GroupContext> = consumer_client_config(&self.config)
            .create_with_context(context)
            .map_err(KafkaBindingError::Client)?;
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| {
            BindingError::unavailable(format!("kafka error: cannot subscribe to {topics:?}: {e}"))
        })?;
        tracing::info!(
            component = name,
            "kafka input subscribed to {topics:?} in group {}",
            self.config.consumer_group
        );
        Ok(Arc::new(Shared {
            name: name.to_owned(),
            config: self.config.clone(),
            consumer,
            cx: cx.clone(),
        }))
    }
}

/// Why [`consume`] stopped.
enum Ended {
    Shutdown,
    /// The consumer lost its group session this long ago and never got partitions again.
    Regroup(Duration),
}

/// Takes records off the consumer until shutdown, at most `limit` of them not yet done, or
/// until the consumer has been without partitions for [`regroup_after`] since it lost its group
/// session.
async fn consume(shared: &Arc<Shared>, mut dispatch: Dispatch, limit: usize) -> (Dispatch, Ended) {
    let (cx, name) = (&shared.cx, shared.name.as_str());
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let regroup_after = regroup_after(&shared.config);
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lost_for = || lock(&shared.group().session_lost_at).map(|at| at.elapsed());
    loop {
        let permit = tokio::select! {
            biased;
            _ = cx.shutdown().cancelled() => return (dispatch, Ended::Shutdown),
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
        };
        let received = loop {
            tokio::select! {
                biased;
                _ = cx.shutdown().cancelled() => return (dispatch, Ended::Shutdown),
                received = shared.consumer.recv() => break received,
                _ = watch.tick() => {
                    if let Some(lost) = lost_for().filter(|lost| *lost >= regroup_after) {
                        return (dispatch, Ended::Regroup(lost));
                    }
                }
            }
        };
        match received {
            Ok(message) => {
                let begun = lock(&shared.group().offsets).begin(
                    message.topic(),
                    message.partition(),
                    message.offset(),
                );
                let Some(ticket) = begun else {
                    // Fetched just before its partition was revoked: its new owner delivers it.
                    continue;
                };
                let record = Record {
                    ticket,
                    key: message.key().map(<[u8]>::to_vec),
                    event: to_event(&message, &shared.config, name),
                };
                drop(message);
                dispatch.send(shared, record, permit);
            }
            Err(e) => {
                tracing::warn!(
                    component = name,
                    "Error consuming {:?}. Retrying...: {e}",
                    shared.config.topics
                );
                let pause = shared
                    .config
                    .consume_retry_interval
                    .max(Duration::from_millis(10));
                tokio::select! {
                    _ = cx.shutdown().cancelled() => return (dispatch, Ended::Shutdown),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Properties;

    fn config(pairs: &[(&str, &str)]) -> KafkaConfig {
        let mut all = vec![("brokers", "localhost:9092"), ("authType", "none")];
        all.extend_from_slice(pairs);
        KafkaConfig::from_properties(&Properties::from_pairs(all)).unwrap()
    }

    #[test]
    fn a_consumer_is_replaced_after_the_session_and_the_socket_timeouts() {
        assert_eq!(regroup_after(&config(&[])), Duration::from_secs(45));
        let short = config(&[
            ("sessionTimeout", "6s"),
            ("readTimeout", "8s"),
            ("writeTimeout", "3s"),
        ]);
        assert_eq!(regroup_after(&short), Duration::from_secs(19));
    }
}
