//! Broker restart: kill the Tansu broker mid-stream and start it again. Tansu's memory storage
//! forgets topics, records and group offsets on restart, so this test is about reconnection:
//! once the broker is back and the topic is recreated, the same producer and consumer work
//! again by themselves.
#![cfg(feature = "kafka")]

mod kafka_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindery_core::{InvokeRequest, OutputBinding};
use bytes::Bytes;
use kafka_support::*;

fn cache_dir() -> PathBuf {
    std::env::var_os("BINDERY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache"))
        .join("tansu")
}

fn port() -> String {
    brokers().rsplit(':').next().unwrap_or("9092").to_owned()
}

/// The pid of the broker listening on our port: the start script's pid file, else `ss`.
fn broker_pid() -> Option<u32> {
    let port = port();
    if let Ok(text) = std::fs::read_to_string(cache_dir().join(format!("broker-{port}.pid")))
        && let Ok(pid) = text.trim().parse::<u32>()
        && std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        return Some(pid);
    }
    let out = std::process::Command::new("ss")
        .args(["-ltnpH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("pid=")? + 4;
    text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn start_broker() {
    let status = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/start-kafka.sh"))
        .env("KAFKA_PORT", port())
        .status()
        .expect("run start-kafka.sh");
    assert!(status.success(), "start-kafka.sh failed");
}

/// Restarts the broker when dropped, so a failing test never leaves it down.
struct RestoreBroker;

impl Drop for RestoreBroker {
    fn drop(&mut self) {
        if !reachable(&brokers()) {
            let _ = std::process::Command::new("bash")
                .arg(repo_root().join("scripts/start-kafka.sh"))
                .status();
        }
    }
}

async fn try_publish(out: &dyn OutputBinding, data: &str) -> bool {
    out.invoke(InvokeRequest {
        operation: "create".to_owned(),
        data: Bytes::from(data.to_owned()),
        metadata: Default::default(),
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_and_consumer_recover_after_broker_restart() {
    let logs = LogCapture::install();
    if !ensure_broker() {
        return;
    }
    if std::env::var("KAFKA_BROKERS").is_ok() && broker_pid().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot restart an external broker under CI"
        );
        eprintln!(
            "SKIP: kafka at {} is not a local broker this test can restart",
            brokers()
        );
        return;
    }
    let topic = unique("restart");
    create_topic(&topic, 2).await;
    let group = unique("g");
    let sink = RecordingSink::accepting().shared();
    let input = start_input(
        "kafka-restart-in",
        &[
            ("topics", &topic),
            ("consumerGroup", &group),
            ("initialOffset", "oldest"),
            ("consumeRetryEnabled", "true"),
            ("backOffDuration", "100ms"),
            ("clientConnectionTopicMetadataRefreshInterval", "2s"),
            ("heartbeatInterval", "1s"),
            ("sessionTimeout", "6s"),
        ],
        Arc::clone(&sink),
    )
    .await;
    let out = output(&[
        ("publishTopic", &topic),
        ("clientConnectionTopicMetadataRefreshInterval", "2s"),
        ("writeTimeout", "5s"),
    ])
    .await;

    // Before the restart.
    let before: Vec<String> = (0..20).map(|i| format!("before-{i}")).collect();
    for p in &before {
        publish(out.as_ref(), p, &[]).await;
    }
    assert!(
        wait_until(Duration::from_secs(60), || before
            .iter()
            .all(|p| sink.accepted_payloads().contains(p)))
        .await,
        "delivered before restart"
    );
    eprintln!(
        "before restart: sent {}, delivered {}, lost 0",
        before.len(),
        before.len()
    );

    // Kill the broker (memory storage: everything is gone) and bring it back.
    let _restore = RestoreBroker;
    let pid = broker_pid().expect("broker pid");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        wait_until(Duration::from_secs(10), || !reachable(&brokers())).await,
        "broker is down"
    );
    // While it is down, publishing fails (and must not hang past writeTimeout).
    let started = Instant::now();
    assert!(
        !try_publish(out.as_ref(), "while-down").await,
        "publish fails while the broker is down"
    );
    eprintln!("publish while down failed after {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    start_broker();
    let restarted = Instant::now();
    create_topic(&topic, 2).await;
    let assigned = |logs: &LogCapture| logs.text().matches("kafka partitions assigned").count();
    assert!(
        wait_until(Duration::from_secs(90), || assigned(&logs) >= 2).await,
        "consumer re-joins the group on the restarted broker"
    );
    eprintln!("consumer re-joined {:?} after restart", restarted.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The same output binding publishes again by itself.
    let mut attempts = 0;
    while !try_publish(out.as_ref(), "after-probe").await {
        attempts += 1;
        assert!(
            restarted.elapsed() < Duration::from_secs(90),
            "publish never recovered ({attempts} attempts)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "publish recovered {:?} after restart ({attempts} failed attempts)",
        restarted.elapsed()
    );
    // The consumer's offsets from before the crash are re-committed to the new broker by
    // librdkafka (its pending auto-commit), but the recreated log starts again at offset 0 and
    // Tansu does not answer OFFSET_OUT_OF_RANGE for positions past its end. So each partition
    // first has to grow past the remembered position: fill it until the consumer sees a record
    // from it. (A broker that keeps its log, like Kafka, has no such gap.)
    let mut fillers_sent = 0;
    for partition in 0..2 {
        let prefix = format!("filler-{partition}-");
        let mut n = 0;
        while !sink
            .accepted_payloads()
            .iter()
            .any(|p| p.starts_with(&prefix))
        {
            assert!(
                restarted.elapsed() < Duration::from_secs(180),
                "consumer never resumed on partition {partition} after {n} fillers"
            );
            publish(
                out.as_ref(),
                &format!("{prefix}{n}"),
                &[("partitionNumber", &partition.to_string())],
            )
            .await;
            n += 1;
            fillers_sent += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let fillers_delivered = sink
        .accepted_payloads()
        .iter()
        .filter(|p| p.starts_with("filler-"))
        .count();
    eprintln!(
        "consumer resumed {:?} after restart; fillers sent {fillers_sent}, delivered {fillers_delivered} \
         (the rest sit below offsets committed before the crash)",
        restarted.elapsed()
    );

    // From here on nothing may be lost.
    let after: Vec<String> = (0..20).map(|i| format!("after-{i}")).collect();
    for p in &after {
        publish(out.as_ref(), p, &[]).await;
    }
    let recovered = wait_until(Duration::from_secs(60), || {
        let got = sink.accepted_payloads();
        after.iter().all(|p| got.contains(p))
    })
    .await;
    let got = sink.accepted_payloads();
    let delivered = after.iter().filter(|p| got.contains(p)).count();
    eprintln!(
        "after restart: sent {}, delivered {delivered}, lost {}",
        after.len(),
        after.len() - delivered
    );
    assert!(
        recovered,
        "consumer did not deliver everything sent after it resumed"
    );

    input.stop_within(STOP).await;
    out.close().await.unwrap();
    delete_topic(&topic).await;
}
