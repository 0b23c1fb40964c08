//! bindings.mqtt3 against the real Mosquitto on this machine (`MQTT_URL`).
#![cfg(feature = "mqtt3")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bindery_bindings::mqtt3::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, DeliveryError, EventSink, InputBinding, InputContext, InputEvent,
    InvokeRequest, OutputBinding, Properties,
};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn url() -> String {
    std::env::var("MQTT_URL").unwrap_or_else(|_| "tcp://127.0.0.1:1883".into())
}

async fn reachable() -> bool {
    let addr = url()
        .split("://")
        .nth(1)
        .unwrap_or("127.0.0.1:1883")
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:1883")
        .to_owned();
    if tokio::net::TcpStream::connect(&addr).await.is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("Mosquitto not reachable at {addr}");
    }
    eprintln!("SKIP: mosquitto not reachable at {addr}");
    false
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn props(topic: &str, consumer: &str, extra: &[(&str, &str)]) -> Properties {
    let mut m: HashMap<String, String> = HashMap::from([
        ("url".to_owned(), url()),
        ("topic".to_owned(), topic.to_owned()),
        ("consumerID".to_owned(), consumer.to_owned()),
        ("backOffInterval".to_owned(), "100ms".to_owned()),
    ]);
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    Properties::new(m).unwrap()
}

fn cx(p: Properties) -> BuildContext {
    BuildContext::new("mqtt", p, "app")
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
    /// Nothing arrives for `wait`.
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

/// Starts the input and waits until it has had time to connect and subscribe.
async fn run(binding: Box<dyn InputBinding>, fail: usize) -> Running {
    let (tx, events) = mpsc::unbounded_channel();
    let sink = Arc::new(Sink {
        tx,
        fail: AtomicUsize::new(fail),
    });
    let token = CancellationToken::new();
    let task = tokio::spawn(binding.run(InputContext::new("mqtt", sink, token.clone())));
    tokio::time::sleep(Duration::from_millis(500)).await;
    Running {
        events,
        token,
        task,
    }
}

#[tokio::test]
async fn round_trip_with_topic_override_and_wildcards() {
    if !reachable().await {
        return;
    }
    let base = unique("bindery/rt");
    let consumer = unique("c");
    let mut r = run(input(props(&format!("{base}/#"), &consumer, &[])).await, 0).await;
    let out = output(props(&format!("{base}/default"), &unique("p"), &[])).await;
    let resp = out.invoke(create(r#""hi""#, &[])).await.unwrap();
    assert!(resp.is_none());
    let ev = r.next().await;
    assert_eq!(&ev.data[..], br#""hi""#, "no unquoting");
    assert_eq!(ev.metadata.get("topic"), Some(&format!("{base}/default")));
    assert_eq!(ev.metadata.len(), 1);
    out.invoke(create("other", &[("topic", &format!("{base}/x/y"))]))
        .await
        .unwrap();
    let ev = r.next().await;
    assert_eq!(&ev.data[..], b"other");
    assert_eq!(ev.metadata.get("topic"), Some(&format!("{base}/x/y")));
    let err = out
        .invoke(create("bad", &[("topic", "a/#/b")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), bindery_core::ErrorKind::InvalidRequest);
    r.stop().await;
    out.close().await.unwrap();
}

#[tokio::test]
async fn acked_messages_are_not_redelivered_after_reconnect() {
    if !reachable().await {
        return;
    }
    let topic = unique("bindery/ack");
    let consumer = unique("c");
    let mut r = run(input(props(&topic, &consumer, &[])).await, 0).await;
    let out = output(props(&topic, &unique("p"), &[])).await;
    out.invoke(create("once", &[])).await.unwrap();
    assert_eq!(&r.next().await.data[..], b"once");
    tokio::time::sleep(Duration::from_millis(200)).await;
    r.stop().await;
    let mut r = run(input(props(&topic, &consumer, &[])).await, 0).await;
    assert!(
        r.quiet(Duration::from_millis(1500)).await,
        "PUBACKed message must not come back"
    );
    r.stop().await;
    out.close().await.unwrap();
}

#[tokio::test]
async fn refused_message_is_not_acked_and_comes_back_on_reconnect() {
    if !reachable().await {
        return;
    }
    let topic = unique("bindery/nack");
    let consumer = unique("c");
    // backOffMaxRetries 0 (the default): one attempt, then no PUBACK.
    let mut r = run(input(props(&topic, &consumer, &[])).await, usize::MAX).await;
    let out = output(props(&topic, &unique("p"), &[])).await;
    out.invoke(create("poison", &[])).await.unwrap();
    assert_eq!(&r.next().await.data[..], b"poison");
    assert!(
        r.quiet(Duration::from_millis(700)).await,
        "no retry with backOffMaxRetries 0"
    );
    r.stop().await;
    // Same client ID, persistent session: Mosquitto redelivers the unacknowledged message.
    let mut r = run(input(props(&topic, &consumer, &[])).await, 0).await;
    let ev = r.next().await;
    assert_eq!(&ev.data[..], b"poison");
    assert_eq!(ev.metadata.get("topic"), Some(&topic));
    tokio::time::sleep(Duration::from_millis(200)).await;
    r.stop().await;
    // Now acked: gone for good.
    let mut r = run(input(props(&topic, &consumer, &[])).await, 0).await;
    assert!(r.quiet(Duration::from_millis(1000)).await);
    r.stop().await;
    out.close().await.unwrap();
}

#[tokio::test]
async fn back_off_max_retries_hands_the_message_again() {
    if !reachable().await {
        return;
    }
    let topic = unique("bindery/retry");
    let consumer = unique("c");
    let p = props(&topic, &consumer, &[("backOffMaxRetries", "2")]);
    let mut r = run(input(p.clone()).await, 2).await;
    let out = output(props(&topic, &unique("p"), &[])).await;
    out.invoke(create("again", &[])).await.unwrap();
    for _ in 0..3 {
        assert_eq!(&r.next().await.data[..], b"again");
    }
    assert!(
        r.quiet(Duration::from_millis(500)).await,
        "accepted on the third attempt"
    );
    r.stop().await;
    let mut r = run(input(p).await, 0).await;
    assert!(r.quiet(Duration::from_millis(1000)).await, "and acked");
    r.stop().await;
    out.close().await.unwrap();
}

#[tokio::test]
async fn clean_session_drops_what_was_published_while_offline() {
    if !reachable().await {
        return;
    }
    let out = output(props("unused", &unique("p"), &[])).await;
    for (clean, expect) in [("false", true), ("true", false)] {
        let topic = unique("bindery/session");
        let consumer = unique("c");
        let p = props(&topic, &consumer, &[("cleanSession", clean)]);
        let r = run(input(p.clone()).await, 0).await;
        r.stop().await;
        out.invoke(create("offline", &[("topic", &topic)]))
            .await
            .unwrap();
        let mut r = run(input(p).await, 0).await;
        if expect {
            assert_eq!(
                &r.next().await.data[..],
                b"offline",
                "persistent session keeps it"
            );
        } else {
            assert!(
                r.quiet(Duration::from_millis(1000)).await,
                "clean session forgets it"
            );
        }
        r.stop().await;
    }
    out.close().await.unwrap();
}

#[tokio::test]
async fn retain_from_component_and_per_request_override() {
    if !reachable().await {
        return;
    }
    let topic = unique("bindery/retain");
    let out = output(props(&topic, &unique("p"), &[("retain", "true")])).await;
    out.invoke(create("kept", &[])).await.unwrap();
    let mut late = run(
        input(props(&topic, &unique("c"), &[("cleanSession", "true")])).await,
        0,
    )
    .await;
    assert_eq!(
        &late.next().await.data[..],
        b"kept",
        "retained for late subscribers"
    );
    late.stop().await;
    // Clear the retained message, then publish with a per-request retain=false.
    out.invoke(create("", &[])).await.unwrap();
    out.invoke(create("not-kept", &[("retain", "false")]))
        .await
        .unwrap();
    let mut late = run(
        input(props(&topic, &unique("c"), &[("cleanSession", "true")])).await,
        0,
    )
    .await;
    assert!(
        late.quiet(Duration::from_millis(1000)).await,
        "retain=false overrides the component"
    );
    late.stop().await;
    // Default component retain is false, a request may ask for it.
    let topic = unique("bindery/retain");
    let out2 = output(props(&topic, &unique("p"), &[])).await;
    out2.invoke(create("asked", &[("retain", "true")]))
        .await
        .unwrap();
    let mut late = run(
        input(props(&topic, &unique("c"), &[("cleanSession", "true")])).await,
        0,
    )
    .await;
    assert_eq!(&late.next().await.data[..], b"asked");
    late.stop().await;
    out2.invoke(create("", &[("retain", "true")]))
        .await
        .unwrap();
    out.close().await.unwrap();
    out2.close().await.unwrap();
}

#[tokio::test]
async fn handlers_run_concurrently() {
    if !reachable().await {
        return;
    }
    struct Slow(mpsc::UnboundedSender<InputEvent>);
    #[async_trait]
    impl EventSink for Slow {
        async fn deliver(&self, event: InputEvent) -> Delivery {
            let _ = self.0.send(event);
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(Bytes::new())
        }
    }
    let topic = unique("bindery/conc");
    let (tx, mut events) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let binding = input(props(&topic, &unique("c"), &[])).await;
    let task =
        tokio::spawn(binding.run(InputContext::new("mqtt", Arc::new(Slow(tx)), token.clone())));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = output(props(&topic, &unique("p"), &[])).await;
    out.invoke(create("a", &[])).await.unwrap();
    out.invoke(create("b", &[])).await.unwrap();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .expect("second message while the first is still being handled");
    }
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    out.close().await.unwrap();
}

#[tokio::test]
async fn init_errors_and_unreachable_broker() {
    let err = DESCRIPTOR
        .validate(&Properties::from_pairs([
            ("url", "tcp://h"),
            ("topic", "t"),
        ]))
        .unwrap_err();
    assert_eq!(err.message, "missing consumerID");
    assert!(DESCRIPTOR.matches("bindings.mqtt"));
    // Output connects lazily: building succeeds, publishing fails after the retries.
    let out = output(props(
        "t",
        &unique("p"),
        &[("url", "tcp://user:secret@127.0.0.1:1")],
    ))
    .await;
    let err = out.invoke(create("x", &[])).await.unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    out.close().await.unwrap();
}
