//! bindings.nats against the real nats-server (with JetStream) on this machine (`NATS_URL`).
#![cfg(feature = "nats")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bindery_bindings::nats::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, DeliveryError, EventSink, InputBinding, InputContext, InputEvent,
    InvokeRequest, OutputBinding, Properties,
};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn admin() -> Option<async_nats::jetstream::Context> {
    match async_nats::connect(url()).await {
        Ok(c) => Some(async_nats::jetstream::new(c)),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("NATS not reachable at {}: {e}", url());
            }
            eprintln!("SKIP: nats not reachable at {}", url());
            None
        }
    }
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn props(subject: &str, extra: &[(&str, &str)]) -> Properties {
    let mut m: HashMap<String, String> = HashMap::from([
        ("natsURL".to_owned(), url()),
        ("subject".to_owned(), subject.to_owned()),
    ]);
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    Properties::new(m).unwrap()
}

fn cx(p: Properties) -> BuildContext {
    BuildContext::new("nats", p, "app")
}

async fn output(p: Properties) -> Box<dyn OutputBinding> {
    (DESCRIPTOR.build_output.unwrap())(cx(p))
        .await
        .expect("build output")
}

async fn input(p: Properties) -> Box<dyn InputBinding> {
    (DESCRIPTOR.build_input.unwrap())(cx(p))
        .await
        .expect("build input")
}

fn create(data: &str, md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: "create".into(),
        data: Bytes::from(data.to_owned()),
        metadata: md
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

struct Sink {
    tx: mpsc::UnboundedSender<InputEvent>,
    fail: AtomicUsize,
}

#[async_trait]
impl EventSink for Sink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let _ = self.tx.send(event);
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(DeliveryError::new("app refused"));
        }
        Ok(Bytes::new())
    }
}

struct Running {
    events: mpsc::UnboundedReceiver<InputEvent>,
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bindery_core::BindingError>>,
}

impl Running {
    async fn next(&mut self) -> InputEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("an event within 10s")
            .expect("sink open")
    }
    async fn quiet(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .is_err()
    }
    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

async fn run(binding: Box<dyn InputBinding>, fail: usize) -> Running {
    let (tx, events) = mpsc::unbounded_channel();
    let sink = Arc::new(Sink {
        tx,
        fail: AtomicUsize::new(fail),
    });
    let token = CancellationToken::new();
    let task = tokio::spawn(binding.run(InputContext::new("nats", sink, token.clone())));
    tokio::time::sleep(Duration::from_millis(300)).await;
    Running {
        events,
        token,
        task,
    }
}

#[tokio::test]
async fn core_round_trip_with_headers_and_subject_override() {
    let Some(_js) = admin().await else { return };
    let base = format!("bindery.core.{}", unique());
    let mut r = run(input(props(&format!("{base}.>"), &[])).await, 0).await;
    let out = output(props(&format!("{base}.default"), &[])).await;
    let resp = out
        .invoke(create(r#""hi""#, &[("traceparent", "00-1"), ("k", "v")]))
        .await
        .unwrap();
    assert!(resp.is_none(), "core publish answers nothing");
    let ev = r.next().await;
    assert_eq!(&ev.data[..], br#""hi""#);
    assert_eq!(ev.metadata.get("subject"), Some(&format!("{base}.default")));
    assert_eq!(
        ev.metadata.get("traceparent").map(String::as_str),
        Some("00-1")
    );
    assert_eq!(ev.metadata.get("k").map(String::as_str), Some("v"));
    out.invoke(create("x", &[("subject", &format!("{base}.other"))]))
        .await
        .unwrap();
    let ev = r.next().await;
    assert_eq!(ev.metadata.get("subject"), Some(&format!("{base}.other")));
    assert!(!ev.metadata.contains_key("subject-header"));
    let err = out
        .invoke(create("x", &[("subject", "a.*")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), bindery_core::ErrorKind::InvalidRequest);
    // At-most-once: a refused core message is not redelivered.
    r.stop().await;
    let mut r = run(input(props(&format!("{base}.>"), &[])).await, 1).await;
    out.invoke(create("once", &[])).await.unwrap();
    assert_eq!(&r.next().await.data[..], b"once");
    assert!(r.quiet(Duration::from_millis(500)).await);
    r.stop().await;
    out.close().await.unwrap();
}

#[tokio::test]
async fn core_queue_group_shares_messages() {
    let Some(_js) = admin().await else { return };
    let subject = format!("bindery.qg.{}", unique());
    let p = props(&subject, &[("queueGroup", "workers")]);
    let mut a = run(input(p.clone()).await, 0).await;
    let mut b = run(input(p).await, 0).await;
    let out = output(props(&subject, &[])).await;
    for i in 0..20 {
        out.invoke(create(&format!("m{i}"), &[])).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut total = 0;
    while a.events.try_recv().is_ok() {
        total += 1;
    }
    while b.events.try_recv().is_ok() {
        total += 1;
    }
    assert_eq!(total, 20, "each message exactly once across the group");
    a.stop().await;
    b.stop().await;
    out.close().await.unwrap();
}

#[tokio::test]
async fn jetstream_publish_ack_consume_ack_and_nak() {
    let Some(js) = admin().await else { return };
    let id = unique();
    let subject = format!("bindery.js.{id}");
    let stream = format!("BINDERY_{id}");
    let common = [
        ("jetStream", "true"),
        ("stream", stream.as_str()),
        ("createStream", "true"),
        ("durableName", "worker"),
    ];
    let out = output(props(&subject, &common)).await;
    let resp = out
        .invoke(create("one", &[("h", "v")]))
        .await
        .unwrap()
        .expect("jetstream publish answers with its ack");
    assert!(resp.data.is_empty());
    assert_eq!(resp.metadata.get("stream"), Some(&stream));
    assert_eq!(resp.metadata.get("sequence").map(String::as_str), Some("1"));
    // First delivery refused -> nak -> redelivered at once, then acked.
    let mut r = run(input(props(&subject, &common)).await, 1).await;
    let first = r.next().await;
    assert_eq!(&first.data[..], b"one");
    assert_eq!(
        first.metadata.get("sequence").map(String::as_str),
        Some("1")
    );
    assert_eq!(first.metadata.get("stream"), Some(&stream));
    assert_eq!(first.metadata.get("subject"), Some(&subject));
    assert_eq!(first.metadata.get("h").map(String::as_str), Some("v"));
    let again = tokio::time::timeout(Duration::from_secs(3), r.events.recv())
        .await
        .expect("nak redelivers without waiting for ackWait")
        .unwrap();
    assert_eq!(&again.data[..], b"one");
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.stop().await;
    // Acked: the durable consumer does not see it again.
    let mut r = run(input(props(&subject, &common)).await, 0).await;
    assert!(
        r.quiet(Duration::from_millis(1000)).await,
        "acked message stays acked"
    );
    let resp = out.invoke(create("two", &[])).await.unwrap().unwrap();
    assert_eq!(resp.metadata.get("sequence").map(String::as_str), Some("2"));
    assert_eq!(&r.next().await.data[..], b"two");
    r.stop().await;
    out.close().await.unwrap();
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test]
async fn jetstream_deliver_policy_and_max_deliver() {
    let Some(js) = admin().await else { return };
    let id = unique();
    let subject = format!("bindery.jsp.{id}");
    let stream = format!("BINDERY_{id}");
    let base = [
        ("jetStream", "true"),
        ("stream", stream.as_str()),
        ("createStream", "true"),
    ];
    let out = output(props(&subject, &base)).await;
    out.invoke(create("old", &[])).await.unwrap();
    // deliverPolicy all (default) replays what is stored; new does not.
    let mut all = run(input(props(&subject, &base)).await, 0).await;
    assert_eq!(&all.next().await.data[..], b"old");
    all.stop().await;
    let mut p = base.to_vec();
    p.push(("deliverPolicy", "new"));
    let mut new = run(input(props(&subject, &p)).await, 0).await;
    assert!(
        new.quiet(Duration::from_millis(800)).await,
        "new skips stored messages"
    );
    out.invoke(create("fresh", &[])).await.unwrap();
    assert_eq!(&new.next().await.data[..], b"fresh");
    new.stop().await;
    // maxDeliver 2: a message the app always refuses is handed exactly twice.
    let mut p = base.to_vec();
    p.extend([
        ("deliverPolicy", "new"),
        ("maxDeliver", "2"),
        ("ackWait", "1s"),
    ]);
    let mut refusing = run(input(props(&subject, &p)).await, usize::MAX).await;
    out.invoke(create("poison", &[])).await.unwrap();
    assert_eq!(&refusing.next().await.data[..], b"poison");
    assert_eq!(&refusing.next().await.data[..], b"poison");
    assert!(
        refusing.quiet(Duration::from_millis(2500)).await,
        "maxDeliver stops redelivery"
    );
    refusing.stop().await;
    out.close().await.unwrap();
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test]
async fn init_errors() {
    let Some(_js) = admin().await else { return };
    let err = DESCRIPTOR
        .validate(&Properties::from_pairs([("subject", "s")]))
        .unwrap_err();
    assert_eq!(err.message, "missing natsURL");
    let subject = format!("bindery.none.{}", unique());
    let missing = props(
        &subject,
        &[("jetStream", "true"), ("stream", "BINDERY_NOPE_X")],
    );
    assert!(
        (DESCRIPTOR.build_input.unwrap())(cx(missing.clone()))
            .await
            .is_err(),
        "unknown stream"
    );
    assert!(
        (DESCRIPTOR.build_output.unwrap())(cx(missing))
            .await
            .is_err(),
        "unknown stream"
    );
    let no_stream = props(&subject, &[("jetStream", "true")]);
    assert!(
        (DESCRIPTOR.build_input.unwrap())(cx(no_stream))
            .await
            .is_err(),
        "no stream captures the subject"
    );
    let unreachable = props(&subject, &[("natsURL", "nats://127.0.0.1:1")]);
    assert!(
        (DESCRIPTOR.build_output.unwrap())(cx(unreachable))
            .await
            .is_err()
    );
}
