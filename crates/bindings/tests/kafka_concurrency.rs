//! Concurrent delivery of the Kafka input against a real broker (Tansu): partitions in parallel
//! with order kept within each (the default, as daprd), up to `maxConcurrentDeliveries` records
//! at once when set, and never an offset committed past a record that is not done.
#![cfg(feature = "kafka")]

mod kafka_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bindery_bindings::kafka::DESCRIPTOR;
use bindery_core::{Delivery, DeliveryError, EventSink, InputContext, InputEvent};
use bindery_testkit::binding;
use bytes::Bytes;
use kafka_support::*;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

/// An app that takes `delay` over each event, counts how many it holds at once, and refuses
/// the payloads `refused` names.
struct SlowApp {
    delay: Duration,
    refused: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Every attempt, in the order they began.
    attempts: Mutex<Vec<InputEvent>>,
    accepted: Mutex<Vec<InputEvent>>,
}

impl SlowApp {
    fn new(delay: Duration, refused: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            delay,
            refused: Mutex::new(refused.iter().map(|s| s.to_string()).collect()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            attempts: Mutex::new(Vec::new()),
            accepted: Mutex::new(Vec::new()),
        })
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    fn accepted_payloads(&self) -> Vec<String> {
        payloads(&self.accepted.lock().unwrap())
    }

    fn attempted_payloads(&self) -> Vec<String> {
        payloads(&self.attempts.lock().unwrap())
    }
}

fn payloads(events: &[InputEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect()
}

#[async_trait]
impl EventSink for SlowApp {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.attempts.lock().unwrap().push(event.clone());
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let payload = String::from_utf8_lossy(&event.data).into_owned();
        if self.refused.lock().unwrap().contains(&payload) {
            return Err(DeliveryError::new("app refused the event"));
        }
        self.accepted.lock().unwrap().push(event);
        Ok(Bytes::new())
    }
}

/// The input binding running against a [`SlowApp`]; dropping it cancels the binding.
struct Consumer {
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), bindery_core::BindingError>>>,
}

impl Consumer {
    async fn start(settings: &[(&str, &str)], app: Arc<SlowApp>) -> Self {
        let input = binding::input_from(&DESCRIPTOR, "kafka-concurrency", props(settings))
            .await
            .unwrap_or_else(|e| panic!("build input: {e}"));
        let token = CancellationToken::new();
        let cx = InputContext::new("kafka-concurrency", app, token.clone());
        Self {
            task: Some(tokio::spawn(input.run(cx))),
            token,
        }
    }

    async fn stop(mut self) {
        self.token.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(STOP, task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic")
            .expect("run returns Ok");
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Produces `per_partition` records to each of `partitions`, pinned, one record per batch
/// (Tansu serves no record from inside a batch after a restart; see replicas_kafka.rs).
async fn produce(topic: &str, partitions: i32, per_partition: usize) -> Vec<String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    let mut sent = Vec::new();
    for i in 0..per_partition {
        for p in 0..partitions {
            let payload = format!("p{p}-{i:03}");
            producer
                .send(
                    FutureRecord::<str, str>::to(topic)
                        .payload(&payload)
                        .partition(p),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce");
            sent.push(payload);
        }
    }
    sent
}

/// The offsets each partition's records were delivered in, in the order their delivery began.
fn offsets_by_partition(events: &[InputEvent]) -> HashMap<String, Vec<i64>> {
    let mut by_partition: HashMap<String, Vec<i64>> = HashMap::new();
    for e in events {
        by_partition
            .entry(e.metadata["__partition"].clone())
            .or_default()
            .push(e.metadata["__offset"].parse().expect("offset"));
    }
    by_partition
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitions_are_delivered_in_parallel_in_order_within_each() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("parallel");
    create_topic(&topic, 4).await;
    let sent = produce(&topic, 4, 10).await;
    let group = unique("g");
    let app = SlowApp::new(Duration::from_millis(50), &[]);
    let consumer = Consumer::start(
        &[
            ("topics", &topic),
            ("consumerGroup", &group),
            ("initialOffset", "oldest"),
        ],
        app.clone(),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(60), || app.accepted_payloads().len()
            >= sent.len())
        .await,
        "every record delivered: {} of {}",
        app.accepted_payloads().len(),
        sent.len()
    );
    consumer.stop().await;

    let attempts = app.attempts.lock().unwrap().clone();
    let by_partition = offsets_by_partition(&attempts);
    println!(
        "kafka parallel: sent {} over 4 partitions, delivered {}, at most {} in flight (50 ms each)",
        sent.len(),
        attempts.len(),
        app.max_in_flight()
    );
    assert_eq!(attempts.len(), sent.len(), "each record once");
    assert_eq!(by_partition.len(), 4);
    for (partition, offsets) in &by_partition {
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {partition} delivered in order: {offsets:?}"
        );
    }
    assert!(
        app.max_in_flight() > 1,
        "partitions are delivered in parallel"
    );
    assert!(
        app.max_in_flight() <= 4,
        "one record at a time per partition: {} in flight",
        app.max_in_flight()
    );
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_concurrent_deliveries_caps_and_never_commits_past_an_unfinished_record() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("capped");
    create_topic(&topic, 1).await;
    let sent = produce(&topic, 1, 20).await;
    let group = unique("g");
    let settings = [
        ("topics", topic.as_str()),
        ("consumerGroup", group.as_str()),
        ("initialOffset", "oldest"),
        ("maxConcurrentDeliveries", "4"),
        ("consumeRetryEnabled", "true"),
        ("backOffDuration", "50ms"),
    ];
    // The app refuses record 5 for as long as this instance runs; the others go through,
    // several of the one partition at once.
    let app = SlowApp::new(Duration::from_millis(50), &["p0-005"]);
    let consumer = Consumer::start(&settings, app.clone()).await;
    let others: Vec<&String> = sent.iter().filter(|p| *p != "p0-005").collect();
    assert!(
        wait_until(Duration::from_secs(60), || {
            let accepted = app.accepted_payloads();
            others.iter().all(|p| accepted.contains(p))
        })
        .await,
        "every other record accepted: {:?}",
        app.accepted_payloads()
    );
    // A few more retries of record 5 while the auto-commit (every second) runs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    consumer.stop().await;
    let first_run = app.accepted_payloads();
    let retries = app
        .attempted_payloads()
        .iter()
        .filter(|p| *p == "p0-005")
        .count();
    assert!(retries >= 2, "record 5 is retried: {retries} attempts");
    assert!(!first_run.contains(&"p0-005".to_owned()));
    let max_in_flight = app.max_in_flight();
    assert!(
        (2..=4).contains(&max_in_flight),
        "up to 4 records of one partition in flight: {max_in_flight}"
    );

    // A new member of the group starts from the committed offset: record 5, not before it.
    let again = SlowApp::new(Duration::ZERO, &[]);
    let consumer = Consumer::start(&settings, again.clone()).await;
    assert!(
        wait_until(Duration::from_secs(60), || again.accepted_payloads().len()
            >= 15)
        .await,
        "records from 5 on come again: {:?}",
        again.accepted_payloads()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    consumer.stop().await;
    let second_run = again.accepted_payloads();
    println!(
        "kafka maxConcurrentDeliveries=4: sent {}, first run accepted {} (max {} in flight, \
         record 5 attempted {retries} times), after restart delivered {} starting at {:?}",
        sent.len(),
        first_run.len(),
        max_in_flight,
        second_run.len(),
        second_run.first()
    );
    let mut expected: Vec<String> = sent[5..].to_vec();
    expected.sort();
    let mut got = second_run.clone();
    got.sort();
    assert_eq!(
        got, expected,
        "the commit stopped at record 5: it and everything after it come again, nothing before"
    );
    delete_topic(&topic).await;
}
