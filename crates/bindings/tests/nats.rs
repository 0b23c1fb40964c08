//! bindings.nats against the real nats-server (with JetStream) on this machine (`NATS_URL`).
#![cfg(feature = "nats")]

use std::sync::Arc;
use std::time::Duration;

use bindery_bindings::nats::DESCRIPTOR;
use bindery_core::{InputBinding, OutputBinding, Properties};
use bindery_testkit::binding::{self, create, server_or_skip};
use bindery_testkit::{RecordingSink, Running};

fn url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn admin() -> Option<async_nats::jetstream::Context> {
    let client = server_or_skip(
        async_nats::connect(url()).await,
        &format!("NATS at {}", url()),
    )?;
    Some(async_nats::jetstream::new(client))
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn props(subject: &str, extra: &[(&str, &str)]) -> Properties {
    let url = url();
    let base = [("natsURL", url.as_str()), ("subject", subject)];
    binding::props(&[&base[..], extra].concat())
}

async fn output(p: Properties) -> Box<dyn OutputBinding> {
    binding::output_from(&DESCRIPTOR, "nats", p)
        .await
        .expect("build output")
}

async fn input(p: Properties) -> Box<dyn InputBinding> {
    binding::input_from(&DESCRIPTOR, "nats", p)
        .await
        .expect("build input")
}

/// Starts the input (its sink refuses the first `fail` events) and gives it time to subscribe.
async fn run(binding: Box<dyn InputBinding>, fail: usize) -> Running {
    let running = Running::start("nats", binding, RecordingSink::refusing(fail).shared());
    tokio::time::sleep(Duration::from_millis(300)).await;
    running
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
        out.invoke(create(format!("m{i}"), &[])).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = a.drain().len() + b.drain().len();
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
    let again = r
        .next_within(Duration::from_secs(3))
        .await
        .expect("nak redelivers without waiting for ackWait");
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
        binding::input_from(&DESCRIPTOR, "nats", missing.clone())
            .await
            .is_err(),
        "unknown stream"
    );
    assert!(
        binding::output_from(&DESCRIPTOR, "nats", missing)
            .await
            .is_err(),
        "unknown stream"
    );
    let no_stream = props(&subject, &[("jetStream", "true")]);
    assert!(
        binding::input_from(&DESCRIPTOR, "nats", no_stream)
            .await
            .is_err(),
        "no stream captures the subject"
    );
    let unreachable = props(&subject, &[("natsURL", "nats://127.0.0.1:1")]);
    assert!(
        binding::output_from(&DESCRIPTOR, "nats", unreachable)
            .await
            .is_err()
    );
}

/// Publishes `count` messages to a fresh JetStream stream, runs the durable input with `limit`
/// deliveries in flight against an app that takes 100 ms per event and refuses the first
/// delivery of "c3" (nak: redelivered), and checks every event was acked exactly once.
async fn jetstream_concurrently(limit: Option<usize>, count: usize) -> Option<Arc<RecordingSink>> {
    let js = admin().await?;
    let id = unique();
    let subject = format!("bindery.jsc.{id}");
    let stream = format!("BINDERY_{id}");
    let common = [
        ("jetStream", "true"),
        ("stream", stream.as_str()),
        ("createStream", "true"),
        ("durableName", "worker"),
    ];
    let out = output(props(&subject, &common)).await;
    let sent: Vec<String> = (0..count).map(|i| format!("c{i}")).collect();
    for payload in &sent {
        out.invoke(create(payload, &[])).await.unwrap();
    }
    let sink = RecordingSink::refusing_first_of("c3")
        .delay(Duration::from_millis(100))
        .shared();
    let binding = input(props(&subject, &common)).await;
    let r = Running::start_with("nats", binding, sink.clone(), limit);
    let all = sink.wait_for(count + 1, Duration::from_secs(30)).await;
    assert!(all.is_some(), "every event and one redelivery arrive");
    r.stop().await;
    sink.assert_each_settled_once(&sent, "c3");
    // Every one was acked: the durable consumer has nothing left to hand out.
    let mut again = run(input(props(&subject, &common)).await, 0).await;
    assert!(again.quiet(Duration::from_millis(1000)).await, "all acked");
    again.stop().await;
    out.close().await.unwrap();
    js.delete_stream(&stream).await.unwrap();
    Some(sink)
}

#[tokio::test]
async fn jetstream_max_concurrent_deliveries_hands_events_to_the_app_at_once() {
    let Some(sink) = jetstream_concurrently(Some(8), 24).await else {
        return;
    };
    let most = sink.max_in_flight();
    assert!(
        (2..=8).contains(&most),
        "{most} deliveries in flight at once"
    );
}

#[tokio::test]
async fn jetstream_without_the_option_delivery_is_one_at_a_time() {
    let Some(sink) = jetstream_concurrently(None, 6).await else {
        return;
    };
    assert_eq!(sink.max_in_flight(), 1);
}

/// Core NATS with and without the option: the count delivered and the most at once.
#[tokio::test]
async fn core_max_concurrent_deliveries_bounds_the_deliveries_at_once() {
    let Some(_js) = admin().await else { return };
    for (limit, count) in [(Some(8), 24), (None, 5)] {
        let subject = format!("bindery.corec.{}", unique());
        let sink = RecordingSink::accepting()
            .delay(Duration::from_millis(100))
            .shared();
        let r = Running::start_with(
            "nats",
            input(props(&subject, &[])).await,
            sink.clone(),
            limit,
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let out = output(props(&subject, &[])).await;
        for i in 0..count {
            out.invoke(create(format!("m{i}"), &[])).await.unwrap();
        }
        let all = sink.wait_for(count, Duration::from_secs(30)).await;
        assert!(all.is_some(), "every event arrives");
        r.stop().await;
        assert_eq!(sink.accepted_payloads().len(), count, "each once");
        let most = sink.max_in_flight();
        match limit {
            Some(n) => assert!((2..=n).contains(&most), "{most} in flight at once"),
            None => assert_eq!(most, 1),
        }
        out.close().await.unwrap();
    }
}
