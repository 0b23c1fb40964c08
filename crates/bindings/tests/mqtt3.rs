//! bindings.mqtt3 against the real Mosquitto on this machine (`MQTT_URL`).
#![cfg(feature = "mqtt3")]

use std::sync::Arc;
use std::time::Duration;

use bindery_bindings::mqtt3::DESCRIPTOR;
use bindery_core::{InputBinding, OutputBinding, Properties};
use bindery_testkit::binding::{self, create, tcp_or_skip};
use bindery_testkit::{RecordingSink, Running};

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
    tcp_or_skip(&addr, "Mosquitto").await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn props(topic: &str, consumer: &str, extra: &[(&str, &str)]) -> Properties {
    let url = url();
    let base = [
        ("url", url.as_str()),
        ("topic", topic),
        ("consumerID", consumer),
        ("backOffInterval", "100ms"),
    ];
    binding::props(&[&base[..], extra].concat())
}

async fn output(p: Properties) -> Box<dyn OutputBinding> {
    binding::output_from(&DESCRIPTOR, "mqtt", p)
        .await
        .expect("build output")
}

async fn input(p: Properties) -> Box<dyn InputBinding> {
    binding::input_from(&DESCRIPTOR, "mqtt", p)
        .await
        .expect("build input")
}

/// Starts the input (its sink refuses the first `fail` events) and waits until it has had time
/// to connect and subscribe.
async fn run(binding: Box<dyn InputBinding>, fail: usize) -> Running {
    run_with(binding, RecordingSink::refusing(fail)).await
}

async fn run_with(binding: Box<dyn InputBinding>, sink: RecordingSink) -> Running {
    let running = Running::start("mqtt", binding, sink.shared());
    tokio::time::sleep(Duration::from_millis(500)).await;
    running
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
    let topic = unique("bindery/conc");
    let binding = input(props(&topic, &unique("c"), &[])).await;
    let slow = RecordingSink::accepting().delay(Duration::from_secs(3));
    let mut r = run_with(binding, slow).await;
    let out = output(props(&topic, &unique("p"), &[])).await;
    out.invoke(create("a", &[])).await.unwrap();
    out.invoke(create("b", &[])).await.unwrap();
    for _ in 0..2 {
        r.next_within(Duration::from_secs(2))
            .await
            .expect("second message while the first is still being handled");
    }
    r.stop().await;
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

/// Publishes `count` messages, runs the input with `limit` deliveries in flight against an app
/// that takes 100 ms per event and refuses the first delivery of "c3" (handed again after
/// `backOffInterval`), then checks each was acked once: a new session gets none of them.
async fn deliver_concurrently(limit: usize, count: usize) -> Option<Arc<RecordingSink>> {
    if !reachable().await {
        return None;
    }
    let topic = unique("bindery/inflight");
    let consumer = unique("c");
    let p = props(&topic, &consumer, &[("backOffMaxRetries", "1")]);
    let sink = RecordingSink::refusing_first_of("c3")
        .delay(Duration::from_millis(100))
        .shared();
    let r = Running::start_with("mqtt", input(p.clone()).await, sink.clone(), Some(limit));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = output(props(&topic, &unique("p"), &[])).await;
    let sent: Vec<String> = (0..count).map(|i| format!("c{i}")).collect();
    for payload in &sent {
        out.invoke(create(payload, &[])).await.unwrap();
    }
    let all = sink.wait_for(count + 1, Duration::from_secs(30)).await;
    assert!(all.is_some(), "every event and one redelivery arrive");
    tokio::time::sleep(Duration::from_millis(200)).await;
    r.stop().await;
    sink.assert_each_settled_once(&sent, "c3");
    let mut again = run(input(p).await, 0).await;
    assert!(
        again.quiet(Duration::from_millis(1000)).await,
        "every message PUBACKed"
    );
    again.stop().await;
    out.close().await.unwrap();
    Some(sink)
}

#[tokio::test]
async fn max_concurrent_deliveries_caps_the_deliveries_at_once() {
    let Some(sink) = deliver_concurrently(8, 24).await else {
        return;
    };
    let most = sink.max_in_flight();
    assert!(
        (2..=8).contains(&most),
        "{most} deliveries in flight at once"
    );
    let Some(sink) = deliver_concurrently(1, 5).await else {
        return;
    };
    assert_eq!(sink.max_in_flight(), 1);
}
