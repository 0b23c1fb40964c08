//! `bindings.kafka` against a real Kafka-protocol broker (Tansu, started by
//! scripts/start-kafka.sh when nothing answers on KAFKA_BROKERS / 127.0.0.1:9092).
#![cfg(feature = "kafka")]

mod kafka_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindery_bindings::kafka::DESCRIPTOR;
use bindery_core::{ErrorKind, InvokeRequest};
use bindery_testkit::binding;
use bytes::Bytes;
use kafka_support::*;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Reads `count` records of `topic` from the beginning with a plain consumer.
async fn read_back(topic: &str, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("readback"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    while out.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {count} records read back from {topic}",
                    out.len()
                )
            })
            .expect("recv");
        out.push(message.detach());
    }
    out
}

fn headers_of(message: &rdkafka::message::OwnedMessage) -> HashMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// sarama's FNV-1a hash partitioner, written out independently of the component.
fn sarama_partition(key: &str, partitions: i32) -> i32 {
    let mut h: u32 = 2_166_136_261;
    for b in key.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(16_777_619);
    }
    ((h as i32) % partitions).abs()
}

fn plain_producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("producer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_create_with_key_and_headers() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("out");
    create_topic(&topic, 3).await;
    let out = output(&[
        ("publishTopic", &topic),
        ("excludeHeaderMetaRegex", "^secret"),
    ])
    .await;

    publish(
        out.as_ref(),
        r#"{"n":1}"#,
        &[
            ("partitionKey", "order-7"),
            ("traceparent", "00-abc-01"),
            ("custom", "v"),
        ],
    )
    .await;
    publish(
        out.as_ref(),
        "second",
        &[("__key", "k2"), ("secretToken", "hidden")],
    )
    .await;
    publish(out.as_ref(), "pinned", &[("partitionNumber", "2")]).await;
    // Over HTTP daprd passes JSON strings with their quotes; kafka does not unquote.
    publish(out.as_ref(), "\"quoted\"", &[]).await;

    let messages = read_back(&topic, 4).await;
    let by_value: HashMap<String, &rdkafka::message::OwnedMessage> = messages
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                m,
            )
        })
        .collect();
    let first = by_value[r#"{"n":1}"#];
    assert_eq!(first.key(), Some(b"order-7".as_slice()));
    assert_eq!(
        first.partition(),
        sarama_partition("order-7", 3),
        "same partition as daprd's sarama"
    );
    let h = headers_of(first);
    assert_eq!(h.get("partitionKey").map(String::as_str), Some("order-7"));
    assert_eq!(h.get("traceparent").map(String::as_str), Some("00-abc-01"));
    assert_eq!(h.get("custom").map(String::as_str), Some("v"));
    let second = by_value["second"];
    assert_eq!(second.key(), Some(b"k2".as_slice()));
    let h = headers_of(second);
    assert!(
        h.contains_key("__key") && !h.contains_key("secretToken"),
        "{h:?}"
    );
    assert_eq!(by_value["pinned"].partition(), 2);
    assert_eq!(
        headers_of(by_value["pinned"])
            .get("partitionNumber")
            .map(String::as_str),
        Some("2")
    );
    assert!(by_value.contains_key("\"quoted\""));
    assert_eq!(by_value["\"quoted\""].key(), None);
    eprintln!("output: sent 4, read back {}", messages.len());

    // Bad requests are refused before anything is sent.
    let bad = |pn: &str| InvokeRequest {
        operation: "create".to_owned(),
        data: Bytes::from_static(b"x"),
        metadata: HashMap::from([("partitionNumber".to_owned(), pn.to_owned())]),
    };
    let e = out.invoke(bad("-1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert_eq!(e.message(), "partitionNumber must be non-negative, got -1");
    let e = out.invoke(bad("7")).await.unwrap_err();
    assert_eq!(
        e.message(),
        "partition number 7 is out of range, topic has 3 partitions"
    );

    out.close().await.expect("close");
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_errors() {
    if !ensure_broker() {
        return;
    }
    // No publishTopic: the binding builds (daprd does too) but cannot publish.
    let out = output(&[]).await;
    let e = out
        .invoke(InvokeRequest {
            operation: "create".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(e.message().contains("publishTopic"), "{}", e.message());

    // maxMessageBytes is enforced on the client side.
    let topic = unique("small");
    create_topic(&topic, 1).await;
    let out = output(&[("publishTopic", &topic), ("maxMessageBytes", "16")]).await;
    let e = out
        .invoke(InvokeRequest {
            operation: "create".to_owned(),
            data: Bytes::from(vec![b'x'; 64]),
            metadata: HashMap::new(),
        })
        .await
        .unwrap_err();
    assert!(
        e.message().contains("Message was too large"),
        "{}",
        e.message()
    );
    delete_topic(&topic).await;

    // Unreachable brokers fail the build, as daprd's Init does.
    let properties = bindery_core::Properties::from_pairs([
        ("brokers", "127.0.0.1:1"),
        ("authType", "none"),
        ("dialTimeout", "1s"),
        ("publishTopic", "t"),
    ]);
    let started = std::time::Instant::now();
    let result = binding::output_from(&DESCRIPTOR, "dead", properties).await;
    let e = result.err().expect("build must fail");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message()
            .starts_with("failed to get latest Kafka clients for initialization"),
        "{}",
        e.message()
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // Unsupported authentication is refused when building.
    let properties = bindery_core::Properties::from_pairs([
        ("brokers", "127.0.0.1:9092"),
        ("authType", "awsiam"),
        ("region", "us-east-1"),
    ]);
    let e = binding::output_from(&DESCRIPTOR, "aws", properties)
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(
        e.message().contains("not supported by bindery"),
        "{}",
        e.message()
    );
}

/// A topic the broker does not have: every `create` fails within seconds, naming it (librdkafka
/// alone waits `message.timeout.ms`, 30 s, on the first record); once the topic exists,
/// `create` works without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_to_a_missing_topic_fails_fast_then_works_once_it_exists() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("missing");
    let out = output(&[("publishTopic", &topic)]).await;
    let mut took = Vec::new();
    for attempt in 0..3 {
        let started = std::time::Instant::now();
        let e = out
            .invoke(binding::create(format!("lost-{attempt}"), &[]))
            .await
            .expect_err("no such topic");
        took.push(started.elapsed());
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(
            e.message().contains(&topic) && e.message().contains("does not exist"),
            "{}",
            e.message()
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "attempt {attempt} answered in {:?}",
            started.elapsed()
        );
    }
    create_topic(&topic, 1).await;
    let started = std::time::Instant::now();
    let published = wait_until_async(Duration::from_secs(30), || async {
        out.invoke(binding::create("found", &[])).await.is_ok()
    })
    .await;
    println!(
        "kafka create to a missing topic: 3 errors in {took:?}; after creating it, published: \
         {published} in {:?}",
        started.elapsed()
    );
    assert!(published, "create works once the topic exists");
    assert_eq!(
        read_back(&topic, 1).await[0].payload(),
        Some(b"found".as_slice())
    );
    out.close().await.expect("close");
    delete_topic(&topic).await;
}

/// Retries `attempt` every 500 ms until it answers true, up to `within`.
async fn wait_until_async<F, Fut>(within: Duration, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if attempt().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_delivers_with_metadata() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("in");
    create_topic(&topic, 2).await;
    let producer = plain_producer();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    producer
        .send(
            FutureRecord::to(&topic)
                .payload("hello")
                .key("k 1")
                .partition(1)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "h1",
                    value: Some("a&b"),
                })),
            Duration::from_secs(10),
        )
        .await
        .expect("produce");
    producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .payload("no-key")
                .partition(0),
            Duration::from_secs(10),
        )
        .await
        .expect("produce");

    let sink = RecordingSink::accepting().shared();
    let group = unique("g");
    let input = start_input(
        "kafka-in",
        &[
            ("topics", &topic),
            ("consumerGroup", &group),
            ("initialOffset", "oldest"),
            ("escapeHeaders", "true"),
        ],
        Arc::clone(&sink),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(60), || sink.accepted().len() >= 2).await,
        "events arrive"
    );
    input.stop_within(STOP).await;

    let events = sink.accepted();
    let hello = events
        .iter()
        .find(|e| e.data.as_ref() == b"hello")
        .expect("hello");
    let m = &hello.metadata;
    assert_eq!(m["__key"], "k+1", "escapeHeaders escapes the key");
    assert_eq!(m["__topic"], topic);
    assert_eq!(m["__partition"], "1");
    assert_eq!(m["__offset"], "0");
    assert_eq!(m["h1"], "a%26b");
    let ts: i64 = m["__timestamp"].parse().unwrap();
    assert!(
        (before - 5_000..before + 60_000).contains(&ts),
        "timestamp in ms: {ts} vs {before}"
    );
    let no_key = events
        .iter()
        .find(|e| e.data.as_ref() == b"no-key")
        .expect("no-key");
    assert!(!no_key.metadata.contains_key("__key"));
    assert_eq!(no_key.metadata["__partition"], "0");
    eprintln!("input metadata: sent 2, delivered {}", events.len());
    delete_topic(&topic).await;
}

async fn produce_all(topic: &str, payloads: &[&str]) {
    let producer = plain_producer();
    for p in payloads {
        producer
            .send(
                FutureRecord::<str, str>::to(topic).payload(p).partition(0),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_mode_commits_only_after_ok() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("retry");
    create_topic(&topic, 1).await;
    produce_all(&topic, &["good-1", "bad", "good-2"]).await;
    let group = unique("g");
    let settings = [
        ("topics", topic.as_str()),
        ("consumerGroup", group.as_str()),
        ("initialOffset", "oldest"),
        ("consumeRetryEnabled", "true"),
        ("backOffDuration", "50ms"),
    ];

    // The app refuses "bad" for as long as this instance runs.
    let sink = RecordingSink::with_verdict(|e, _| e.data.as_ref() != b"bad").shared();
    let input = start_input("kafka-retry", &settings, Arc::clone(&sink)).await;
    assert!(
        wait_until(Duration::from_secs(60), || sink
            .attempted_payloads()
            .iter()
            .filter(|p| *p == "bad")
            .count()
            >= 5)
        .await,
        "bad is retried: {:?}",
        sink.attempted_payloads()
    );
    input.stop_within(STOP).await;
    assert_eq!(
        sink.accepted_payloads(),
        vec!["good-1"],
        "nothing after the failing event is processed"
    );

    // A new instance in the same group gets "bad" again, and not "good-1".
    let again = RecordingSink::accepting().shared();
    let input = start_input("kafka-retry", &settings, Arc::clone(&again)).await;
    assert!(wait_until(Duration::from_secs(60), || again.accepted().len() >= 2).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    input.stop_within(STOP).await;
    let delivered = again.accepted_payloads();
    assert_eq!(delivered, vec!["bad", "good-2"]);
    eprintln!(
        "retry mode: sent 3, first run attempts {}, accepted {:?}; after restart delivered {:?}, lost 0",
        sink.attempted_payloads().len(),
        sink.accepted_payloads(),
        delivered
    );
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn default_mode_skips_a_failed_event_and_logs_it() {
    let logs = LogCapture::install();
    if !ensure_broker() {
        return;
    }
    let topic = unique("skip");
    create_topic(&topic, 1).await;
    produce_all(&topic, &["first", "refused", "last"]).await;
    let group = unique("g");
    let settings = [
        ("topics", topic.as_str()),
        ("consumerGroup", group.as_str()),
        ("initialOffset", "oldest"),
    ];

    let sink = RecordingSink::with_verdict(|e, _| e.data.as_ref() != b"refused").shared();
    let input = start_input("kafka-skip", &settings, Arc::clone(&sink)).await;
    assert!(wait_until(Duration::from_secs(60), || sink.events().len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    input.stop_within(STOP).await;
    assert_eq!(
        sink.attempted_payloads(),
        vec!["first", "refused", "last"],
        "delivered once each, no retry"
    );
    let text = logs.text();
    assert!(
        text.contains(&format!("Error processing Kafka message: {topic}/0/1")),
        "the skipped event is logged"
    );

    // Restart: the group's offset is past "refused", so nothing comes back.
    let again = RecordingSink::accepting().shared();
    let input = start_input("kafka-skip", &settings, Arc::clone(&again)).await;
    produce_all(&topic, &["after-restart"]).await;
    assert!(wait_until(Duration::from_secs(60), || !again.accepted().is_empty()).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    input.stop_within(STOP).await;
    assert_eq!(again.accepted_payloads(), vec!["after-restart"]);
    eprintln!(
        "default mode: sent 4, delivered {:?} then {:?}, skipped 1 (refused)",
        sink.accepted_payloads(),
        again.accepted_payloads()
    );
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn initial_offset_oldest_vs_newest() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("offset");
    create_topic(&topic, 1).await;
    produce_all(&topic, &["before"]).await;

    let oldest = RecordingSink::accepting().shared();
    let g1 = unique("g");
    let a = start_input(
        "oldest",
        &[
            ("topics", &topic),
            ("consumerGroup", &g1),
            ("initialOffset", "oldest"),
        ],
        Arc::clone(&oldest),
    )
    .await;
    let newest = RecordingSink::accepting().shared();
    let g2 = unique("g");
    let b = start_input(
        "newest",
        &[("topics", &topic), ("consumerGroup", &g2)],
        Arc::clone(&newest),
    )
    .await;

    // Keep producing probes until the newest-group consumer is assigned and sees one.
    let mut probes = 0;
    while newest.accepted().is_empty() {
        assert!(probes < 120, "newest consumer never received anything");
        produce_all(&topic, &[&format!("probe-{probes}")]).await;
        probes += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        wait_until(Duration::from_secs(30), || oldest.accepted_payloads().len()
            > probes)
        .await
    );
    a.stop_within(STOP).await;
    b.stop_within(STOP).await;
    assert_eq!(
        oldest.accepted_payloads().first().map(String::as_str),
        Some("before")
    );
    assert!(
        !newest.accepted_payloads().contains(&"before".to_owned()),
        "newest starts at the end"
    );
    eprintln!(
        "initialOffset: oldest got {} events (incl. 'before'), newest got {} probes only",
        oldest.accepted_payloads().len(),
        newest.accepted_payloads().len()
    );
    delete_topic(&topic).await;
}

fn counts(sent: &[String], a: &RecordingSink, b: &RecordingSink) -> (usize, usize, usize, usize) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for p in a
        .accepted_payloads()
        .into_iter()
        .chain(b.accepted_payloads())
    {
        *seen.entry(p).or_default() += 1;
    }
    let sent_set: HashSet<&String> = sent.iter().collect();
    let delivered = sent.iter().filter(|p| seen.contains_key(*p)).count();
    let duplicated = seen
        .iter()
        .filter(|(p, n)| sent_set.contains(p) && **n > 1)
        .count();
    (sent.len(), delivered, duplicated, sent.len() - delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_group_shares_partitions_and_takes_over() {
    if !ensure_broker() {
        return;
    }
    let topic = unique("group");
    create_topic(&topic, 4).await;
    let group = unique("g");
    let settings = [
        ("topics", topic.as_str()),
        ("consumerGroup", group.as_str()),
        ("initialOffset", "oldest"),
        ("consumeRetryEnabled", "true"),
        ("backOffDuration", "100ms"),
        ("heartbeatInterval", "1s"),
        ("sessionTimeout", "6s"),
    ];
    let a = RecordingSink::accepting().shared();
    let b = RecordingSink::accepting().shared();
    let run_a = start_input("member-a", &settings, Arc::clone(&a)).await;
    let run_b = start_input("member-b", &settings, Arc::clone(&b)).await;
    let out = output(&[("publishTopic", &topic)]).await;

    // Probe every partition until both members have received something (both are assigned).
    let mut round = 0;
    loop {
        let a_got = a.accepted_payloads().iter().any(|p| p.starts_with("probe"));
        let b_got = b.accepted_payloads().iter().any(|p| p.starts_with("probe"));
        if a_got && b_got {
            break;
        }
        assert!(
            round < 60,
            "both members never got partitions (a {a_got}, b {b_got})"
        );
        for p in 0..4 {
            publish(
                out.as_ref(),
                &format!("probe-{round}-{p}"),
                &[("partitionNumber", &p.to_string())],
            )
            .await;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a_before = a.accepted_payloads().len();
    let b_before = b.accepted_payloads().len();

    // Phase 1: both members share the work; each event goes to exactly one.
    let phase1: Vec<String> = (0..200).map(|i| format!("p1-{i}")).collect();
    for (i, p) in phase1.iter().enumerate() {
        publish(out.as_ref(), p, &[("partitionKey", &format!("key-{i}"))]).await;
    }
    assert!(
        wait_until(Duration::from_secs(60), || counts(&phase1, &a, &b).1
            == phase1.len())
        .await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (sent, delivered, duplicated, lost) = counts(&phase1, &a, &b);
    let to_a = a.accepted_payloads().len() - a_before;
    let to_b = b.accepted_payloads().len() - b_before;
    eprintln!(
        "group phase 1: sent {sent}, delivered {delivered} (a {to_a}, b {to_b}), duplicated {duplicated}, lost {lost}"
    );
    assert_eq!((delivered, duplicated, lost), (sent, 0, 0));
    assert!(
        to_a > 0 && to_b > 0,
        "both members got a share: a {to_a}, b {to_b}"
    );

    // Phase 2: member b's app starts failing everything, then b stops mid-retry. Its
    // partitions move to a, which must receive every phase-2 event.
    b.set_verdict(|_, _| false);
    let b_attempts_before = b.events().len();
    let phase2: Vec<String> = (0..200).map(|i| format!("p2-{i}")).collect();
    for (i, p) in phase2.iter().enumerate() {
        publish(out.as_ref(), p, &[("partitionKey", &format!("key-{i}"))]).await;
    }
    assert!(
        wait_until(Duration::from_secs(30), || b.events().len()
            > b_attempts_before + 3)
        .await,
        "b is retrying its failed event"
    );
    run_b.stop_within(STOP).await;
    assert!(
        wait_until(Duration::from_secs(90), || counts(&phase2, &a, &b).1
            == phase2.len())
        .await,
        "a takes over b's partitions: {:?}",
        counts(&phase2, &a, &b)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (sent, delivered, duplicated, lost) = counts(&phase2, &a, &b);
    eprintln!(
        "group phase 2 (b fails then stops): sent {sent}, delivered {delivered}, duplicated {duplicated}, lost {lost}"
    );
    assert_eq!(lost, 0);
    assert!(
        b.accepted_payloads().iter().all(|p| !p.starts_with("p2-")),
        "b accepted nothing in phase 2"
    );

    run_a.stop_within(STOP).await;
    out.close().await.unwrap();
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_without_topics_waits_for_shutdown() {
    if !ensure_broker() {
        return;
    }
    let sink = RecordingSink::accepting().shared();
    let input = start_input("no-topics", &[("consumerGroup", "g")], Arc::clone(&sink)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !input.is_finished(),
        "keeps running until shutdown, like daprd's Read returning nil"
    );
    input.stop_within(STOP).await;
    assert!(sink.events().is_empty());

    // Topics without a consumer group cannot consume.
    let e = binding::input_from(&DESCRIPTOR, "nogroup", props(&[("topics", "t")]))
        .await
        .err()
        .expect("needs a consumer group");
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
}
