//! Two bindery processes in one Kafka consumer group share a topic's partitions: each event
//! reaches exactly one of them, and when one stops the other takes its partitions over.

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bindery_testkit::{Recorded, Sidecar, TestApp, resources};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
/// `KAFKA_BROKERS` (one `host:port`), else the project's broker on 127.0.0.1:9092.
fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn broker_up() -> bool {
    let addr = brokers().parse().expect("KAFKA_BROKERS is one host:port");
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Starts the project's broker on that port when none answers; false (with SKIP) outside CI if
/// impossible.
fn ensure_broker() -> bool {
    if !broker_up() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-kafka.sh");
        let port = brokers().rsplit(':').next().unwrap_or("9092").to_owned();
        let _ = std::process::Command::new("bash")
            .arg(script)
            .env("KAFKA_PORT", port)
            .status();
    }
    bindery_testkit::require(
        broker_up(),
        &format!("a Kafka-protocol broker at {}", brokers()),
    )
}

async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let result = admin
            .create_topics(
                [&topic],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await;
        if matches!(&result, Ok(r) if r.iter().all(|r| r.is_ok())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "creating topic {name}: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn component(topic: &str, group: &str) -> String {
    let brokers = brokers();
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: orders\nspec:\n  type: bindings.kafka\n  version: v1\n  metadata:\n  - name: brokers\n    value: {brokers}\n  - name: topics\n    value: {topic}\n  - name: publishTopic\n    value: {topic}\n  - name: consumerGroup\n    value: {group}\n  - name: authType\n    value: none\n  - name: initialOffset\n    value: oldest\n  - name: onAppFailure\n    value: retry\n  - name: heartbeatInterval\n    value: 1s\n  - name: sessionTimeout\n    value: 6s\n"
    )
}

fn payloads(app: &TestApp) -> Vec<String> {
    app.requests_to(&Method::POST, "/orders")
        .iter()
        .map(|r: &Recorded| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

async fn publish(sidecar: &Sidecar, payload: &str, key: &str) {
    let r = sidecar
        .invoke(
            "orders",
            json!({"operation": "create", "data": payload, "metadata": {"partitionKey": key}}),
        )
        .await;
    assert_eq!(
        r.status(),
        204,
        "publish {payload}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Waits until every payload of `sent` has been seen by `apps` together.
async fn wait_for_all(sent: &[String], apps: &[&TestApp], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let seen: HashSet<String> = apps.iter().flat_map(|a| payloads(a)).collect();
        if sent.iter().all(|s| seen.contains(&format!("\"{s}\""))) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn count(sent: &[String], received: &[String]) -> (usize, usize, usize) {
    let wanted: HashSet<String> = sent.iter().map(|s| format!("\"{s}\"")).collect();
    let relevant: Vec<&String> = received.iter().filter(|p| wanted.contains(*p)).collect();
    let distinct: HashSet<&String> = relevant.iter().copied().collect();
    (
        relevant.len(),
        relevant.len() - distinct.len(),
        wanted.len() - distinct.len(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sidecars_share_partitions_and_take_over() {
    if !ensure_broker() {
        return;
    }
    let suffix = format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let topic = format!("scale-out-{suffix}");
    let group = format!("bindery-group-{suffix}");
    create_topic(&topic, 4).await;
    let dir = resources(&[("kafka.yaml", &component(&topic, &group))]);
    let app_a = TestApp::start().await;
    let app_b = TestApp::start().await;
    let sidecar_a = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_a.port)
        .spawn()
        .await;
    let mut sidecar_b = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_b.port)
        .spawn()
        .await;

    // Probe until both members have partitions.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while payloads(&app_a).is_empty() || payloads(&app_b).is_empty() {
        assert!(
            Instant::now() < deadline,
            "both sidecars never got partitions:\nA:\n{}\nB:\n{}",
            sidecar_a.output(),
            sidecar_b.output()
        );
        for k in 0..8 {
            publish(
                &sidecar_a,
                &format!("probe-{round}-{k}"),
                &format!("probe-key-{k}"),
            )
            .await;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let phase1: Vec<String> = (0..200).map(|i| format!("one-{i}")).collect();
    for (i, p) in phase1.iter().enumerate() {
        publish(&sidecar_a, p, &format!("key-{i}")).await;
    }
    wait_for_all(&phase1, &[&app_a, &app_b], Duration::from_secs(60)).await;
    let (a1, b1) = (payloads(&app_a), payloads(&app_b));
    let all: Vec<String> = a1.iter().chain(&b1).cloned().collect();
    let (delivered, duplicated, lost) = count(&phase1, &all);
    let (to_a, _, _) = count(&phase1, &a1);
    let (to_b, _, _) = count(&phase1, &b1);
    println!(
        "phase 1 (two sidecars): sent={} delivered={delivered} (a={to_a} b={to_b}) duplicated={duplicated} lost={lost}",
        phase1.len()
    );
    assert_eq!(lost, 0);
    assert_eq!(duplicated, 0, "each event reaches exactly one sidecar");
    assert!(to_a > 0 && to_b > 0, "the partitions are shared");

    // Sidecar B stops; A takes its partitions over.
    assert!(sidecar_b.terminate().success());
    let phase2: Vec<String> = (0..200).map(|i| format!("two-{i}")).collect();
    for (i, p) in phase2.iter().enumerate() {
        publish(&sidecar_a, p, &format!("key-{i}")).await;
    }
    wait_for_all(&phase2, &[&app_a], Duration::from_secs(90)).await;
    let all: Vec<String> = payloads(&app_a)
        .into_iter()
        .chain(payloads(&app_b))
        .collect();
    let (delivered, duplicated, lost) = count(&phase2, &all);
    let (to_a, _, _) = count(&phase2, &payloads(&app_a));
    println!(
        "phase 2 (one sidecar left): sent={} delivered={delivered} (a={to_a}) duplicated={duplicated} lost={lost}",
        phase2.len()
    );
    assert_eq!(
        lost,
        0,
        "A took over every partition:\n{}",
        sidecar_a.output()
    );
    assert_eq!(to_a, phase2.len());
}
