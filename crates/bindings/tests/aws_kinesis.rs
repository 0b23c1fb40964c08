//! `bindings.aws.kinesis` against moto: records with their metadata, checkpoints in the lease
//! table named after `consumerName`, at-least-once under refusals, resuming after a restart,
//! and two consumers of one `consumerName` splitting the shards and taking them over.
#![cfg(feature = "aws-kinesis")]

mod aws_support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_support::{context_for, output, request, sdk};
use bindery_bindings::aws::kinesis::DESCRIPTOR;
use bindery_core::{Delivery, DeliveryError, EventSink, InputContext, InputEvent};
use bindery_testkit::moto::Moto;
use bytes::Bytes;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

async fn stream(moto: &Moto, name: &str, shards: i32) {
    let k = aws_sdk_kinesis::Client::new(&sdk(moto).await);
    k.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
}

/// Records what arrived (data -> shard, per event) and refuses `fail_rate` at random.
struct Recorder {
    accepted: Mutex<Vec<(String, HashMap<String, String>)>>,
    refused: AtomicU64,
    fail_rate: f64,
    seed: AtomicU64,
}

impl Recorder {
    fn new(fail_rate: f64) -> Arc<Self> {
        Arc::new(Self {
            accepted: Mutex::new(Vec::new()),
            refused: AtomicU64::new(0),
            fail_rate,
            seed: AtomicU64::new(0x9e37_79b9),
        })
    }
    fn accepted(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(d, _)| d.clone())
            .collect()
    }
    fn roll(&self) -> f64 {
        // xorshift: deterministic, no extra dependency
        let mut x = self.seed.load(Ordering::SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::SeqCst);
        (x % 10_000) as f64 / 10_000.0
    }
}

#[async_trait::async_trait]
impl EventSink for Recorder {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        if self.roll() < self.fail_rate {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(DeliveryError::new("app refused"));
        }
        let data = String::from_utf8(event.data.to_vec()).unwrap();
        self.accepted.lock().unwrap().push((data, event.metadata));
        Ok(Bytes::new())
    }
}

struct Consumer {
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bindery_core::BindingError>>,
}

async fn consume(
    moto: &Moto,
    stream: &str,
    consumer: &str,
    sink: Arc<Recorder>,
    extra: &[(&str, &str)],
) -> Consumer {
    let mut md = vec![
        ("streamName", stream),
        ("consumerName", consumer),
        ("initialPosition", "TRIM_HORIZON"),
        ("leaseDuration", "3s"),
    ];
    md.extend_from_slice(extra);
    let input = (DESCRIPTOR.build_input.unwrap())(context_for(&DESCRIPTOR, "kin", moto, &md))
        .await
        .unwrap();
    let token = CancellationToken::new();
    let task = tokio::spawn(input.run(InputContext::new("kin", sink, token.clone())));
    Consumer { token, task }
}

impl Consumer {
    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops")
            .unwrap()
            .unwrap();
    }
}

async fn put_all(moto: &Moto, stream: &str, ids: &[String]) {
    let out = output(&DESCRIPTOR, moto, &[("streamName", stream)])
        .await
        .unwrap();
    for id in ids {
        out.invoke(request("create", id.as_bytes(), &[("partitionKey", id)]))
            .await
            .unwrap();
    }
}

async fn wait_for(sink: &Recorder, ids: &[String], within: Duration) -> bool {
    let want: BTreeSet<&String> = ids.iter().collect();
    bindery_testkit::eventually(within, || async {
        let got = sink.accepted();
        want.iter().all(|id| got.contains(id)).then_some(())
    })
    .await
    .is_some()
}

async fn owners(moto: &Moto, table: &str) -> HashMap<String, usize> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(moto).await);
    let mut out = HashMap::new();
    let Ok(scan) = ddb.scan().table_name(table).send().await else {
        return out; // the table does not exist yet
    };
    for item in scan.items() {
        if let Some(o) = item.get("AssignedTo").and_then(|v| v.as_s().ok()) {
            *out.entry(o.clone()).or_default() += 1;
        }
    }
    out
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

#[tokio::test]
async fn records_arrive_with_metadata_and_are_checkpointed_in_the_consumer_table() {
    let Some(moto) = Moto::start() else { return };
    stream(&moto, "orders", 2).await;
    let sent = ids("rec", 20);
    put_all(&moto, "orders", &sent).await;
    let sink = Recorder::new(0.0);
    let c = consume(&moto, "orders", "billing", sink.clone(), &[]).await;
    assert!(
        wait_for(&sink, &sent, Duration::from_secs(30)).await,
        "got {:?}",
        sink.accepted()
    );
    let events = sink.accepted.lock().unwrap().clone();
    let (data, md) = &events[0];
    assert_eq!(md["partitionKey"], *data);
    assert!(md["shardId"].starts_with("shardId-"), "{md:?}");
    assert!(!md["sequenceNumber"].is_empty());
    c.stop().await;
    // the checkpoint of each shard is the last delivered record of that shard
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    let scan = ddb.scan().table_name("billing").send().await.unwrap();
    assert_eq!(scan.items().len(), 2, "one lease row per shard");
    for item in scan.items() {
        let shard = item["ShardID"].as_s().unwrap();
        let last = events
            .iter()
            .filter(|(_, m)| m["shardId"] == *shard)
            .map(|(_, m)| m["sequenceNumber"].clone())
            .next_back();
        assert_eq!(
            item.get("Checkpoint").map(|v| v.as_s().unwrap().clone()),
            last,
            "{item:?}"
        );
        assert!(
            item.get("AssignedTo").is_none(),
            "a clean stop releases the lease: {item:?}"
        );
    }
}

#[tokio::test]
async fn at_least_once_while_the_app_refuses_ten_percent_and_resume_after_restart() {
    let Some(moto) = Moto::start() else { return };
    stream(&moto, "events", 2).await;
    let first = ids("a", 300);
    put_all(&moto, "events", &first).await;
    let sink = Recorder::new(0.10);
    let c = consume(&moto, "events", "app", sink.clone(), &[]).await;
    assert!(
        wait_for(&sink, &first, Duration::from_secs(60)).await,
        "lost records"
    );
    c.stop().await;
    let got = sink.accepted();
    let counts = bindery_testkit::faults::Counts::of(&first, &got);
    bindery_testkit::faults::report(
        "kinesis refuse-10%",
        &counts,
        &format!("refused={}", sink.refused.load(Ordering::SeqCst)),
    );
    assert_eq!((counts.sent, counts.delivered, counts.lost), (300, 300, 0));
    assert!(
        sink.refused.load(Ordering::SeqCst) > 0,
        "the app refused some"
    );

    // a new consumer with the same name resumes after the checkpoints
    let second = ids("b", 10);
    put_all(&moto, "events", &second).await;
    let sink2 = Recorder::new(0.0);
    let c = consume(&moto, "events", "app", sink2.clone(), &[]).await;
    assert!(wait_for(&sink2, &second, Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.stop().await;
    let again = sink2.accepted();
    assert!(
        again.iter().all(|d| d.starts_with("b-")),
        "already checkpointed records came again: {again:?}"
    );
}

#[tokio::test]
async fn on_app_failure_skip_keeps_daprds_lossy_behaviour() {
    let Some(moto) = Moto::start() else { return };
    stream(&moto, "lossy", 1).await;
    let sent = ids("l", 50);
    put_all(&moto, "lossy", &sent).await;
    let sink = Recorder::new(0.3);
    let c = consume(
        &moto,
        "lossy",
        "lossy-app",
        sink.clone(),
        &[("onAppFailure", "skip")],
    )
    .await;
    let refused = || sink.refused.load(Ordering::SeqCst) as usize;
    let done = bindery_testkit::eventually(Duration::from_secs(30), || async {
        (sink.accepted().len() + refused() >= 50).then_some(())
    })
    .await;
    assert!(done.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.stop().await;
    assert!(refused() > 0);
    assert_eq!(
        sink.accepted().len() + refused(),
        50,
        "each record offered once, refused ones dropped"
    );
}

#[tokio::test]
async fn two_consumers_split_the_shards_and_take_over_when_one_stops() {
    let Some(moto) = Moto::start() else { return };
    stream(&moto, "shared", 4).await;
    let a_sink = Recorder::new(0.0);
    let b_sink = Recorder::new(0.0);
    let a = consume(&moto, "shared", "group", a_sink.clone(), &[]).await;
    let all_a = bindery_testkit::eventually(Duration::from_secs(20), || async {
        (owners(&moto, "group").await.values().sum::<usize>() == 4).then_some(())
    })
    .await;
    assert!(all_a.is_some(), "the first consumer leases all shards");
    let b = consume(&moto, "shared", "group", b_sink.clone(), &[]).await;
    let split = bindery_testkit::eventually(Duration::from_secs(30), || async {
        let o = owners(&moto, "group").await;
        (o.len() == 2 && o.values().all(|n| *n == 2)).then_some(())
    })
    .await;
    assert!(
        split.is_some(),
        "shards split 2/2: {:?}",
        owners(&moto, "group").await
    );

    let sent = ids("s", 100);
    put_all(&moto, "shared", &sent).await;
    let both = bindery_testkit::eventually(Duration::from_secs(30), || async {
        let mut got = a_sink.accepted();
        got.extend(b_sink.accepted());
        (bindery_testkit::faults::Counts::of(&sent, &got).lost == 0).then_some(())
    })
    .await;
    assert!(both.is_some(), "every record reached one of the two");
    assert!(
        !a_sink.accepted().is_empty() && !b_sink.accepted().is_empty(),
        "both consumed"
    );

    // A is killed (no clean release): B takes its shards over once the leases expire
    a.task.abort();
    let _ = a.task.await;
    let taken = bindery_testkit::eventually(Duration::from_secs(30), || async {
        let o = owners(&moto, "group").await;
        (o.len() == 1 && o.values().sum::<usize>() == 4).then_some(())
    })
    .await;
    assert!(
        taken.is_some(),
        "B took every shard: {:?}",
        owners(&moto, "group").await
    );
    let later = ids("t", 40);
    put_all(&moto, "shared", &later).await;
    assert!(
        wait_for(&b_sink, &later, Duration::from_secs(30)).await,
        "B reads all shards"
    );
    b.stop().await;
}

#[tokio::test]
async fn the_input_waits_for_the_stream_and_survives_a_moto_restart() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    // No stream yet: the input backs off instead of failing.
    let sink = Recorder::new(0.0);
    let c = consume(&moto, "late", "restarts", sink.clone(), &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!c.task.is_finished(), "the input keeps trying");
    stream(&moto, "late", 1).await;
    let first = ids("one", 5);
    put_all(&moto, "late", &first).await;
    assert!(
        wait_for(&sink, &first, Duration::from_secs(40)).await,
        "delivered once the stream exists"
    );

    // moto restarts empty (stream and lease table gone): the input recreates its table and
    // reads the new stream.
    moto.restart();
    stream(&moto, "late", 1).await;
    let second = ids("two", 5);
    put_all(&moto, "late", &second).await;
    assert!(
        wait_for(&sink, &second, Duration::from_secs(60)).await,
        "delivered after the restart"
    );
    c.stop().await;
}
