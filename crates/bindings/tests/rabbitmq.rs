//! bindings.rabbitmq against the real RabbitMQ on this machine (`RABBITMQ_URL`).
#![cfg(feature = "rabbitmq")]

use std::sync::Arc;
use std::time::Duration;

use bindery_bindings::rabbitmq::DESCRIPTOR;
use bindery_core::{InputBinding, OutputBinding, Properties};
use bindery_testkit::binding::{self, create, server_or_skip};
use bindery_testkit::{RecordingSink, Running};
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};

use bindery_testkit::amqp::url;

async fn admin() -> Option<(Connection, Channel)> {
    let c = server_or_skip(
        Connection::connect(&url(), ConnectionProperties::default()).await,
        &format!("RabbitMQ at {}", url()),
    )?;
    let ch = c.create_channel().await.expect("channel");
    Some((c, ch))
}

fn queue_name() -> String {
    format!("bindery-test-{}", uuid::Uuid::new_v4().simple())
}

fn props(queue: &str, extra: &[(&str, &str)]) -> Properties {
    let url = url();
    let base = [
        ("host", url.as_str()),
        ("queueName", queue),
        ("reconnectWaitInSeconds", "200ms"),
    ];
    binding::props(&[&base[..], extra].concat())
}

async fn output(p: Properties) -> Box<dyn OutputBinding> {
    binding::output_from(&DESCRIPTOR, "rabbit", p)
        .await
        .expect("build output")
}

async fn input(p: Properties) -> Box<dyn InputBinding> {
    binding::input_from(&DESCRIPTOR, "rabbit", p)
        .await
        .expect("build input")
}

/// Runs the input against a sink that refuses the first `fail` events and takes `delay` each.
fn run(binding: Box<dyn InputBinding>, fail: usize, delay: Duration) -> Running {
    Running::start(
        "rabbit",
        binding,
        RecordingSink::refusing(fail).delay(delay).shared(),
    )
}

async fn ready_count(ch: &Channel, queue: &str) -> u32 {
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue exists")
    .message_count()
}

/// Publishing is not confirmed: wait until the broker shows `n` ready messages.
async fn wait_ready(ch: &Channel, queue: &str, n: u32) {
    for _ in 0..100 {
        if ready_count(ch, queue).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("queue {queue} never had {n} ready messages");
}

async fn cleanup(ch: &Channel, queue: &str) {
    let _ = ch
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
}

#[tokio::test]
async fn round_trip_ack_removes_the_message() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    let resp = out
        .invoke(create(
            r#""hello""#,
            &[("custom", "v 1"), ("key/with space", "x")],
        ))
        .await
        .unwrap();
    assert!(resp.is_none(), "create answers nothing");
    let mut r = run(input(props(&q, &[])).await, 0, Duration::ZERO);
    let ev = r.next().await;
    assert_eq!(
        &ev.data[..],
        br#""hello""#,
        "data is passed without unquoting"
    );
    assert_eq!(ev.metadata.get("custom").map(String::as_str), Some("v 1"));
    assert_eq!(
        ev.metadata.get("key%2Fwith+space").map(String::as_str),
        Some("x")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.stop().await;
    assert_eq!(ready_count(&ch, &q).await, 0, "acked message is gone");
    let got = ch
        .basic_get(q.as_str().into(), BasicGetOptions::default())
        .await
        .unwrap();
    assert!(got.is_none(), "nothing left to redeliver");
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn refused_message_is_requeued_and_redelivered() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    out.invoke(create("poison", &[])).await.unwrap();
    let mut r = run(input(props(&q, &[])).await, 2, Duration::ZERO);
    for _ in 0..3 {
        let ev = r.next().await;
        assert_eq!(&ev.data[..], b"poison");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.stop().await;
    assert_eq!(
        ready_count(&ch, &q).await,
        0,
        "accepted on the third try, then acked"
    );
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn request_metadata_sets_amqp_properties_and_headers() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[("maxPriority", "10")])).await;
    out.invoke(create(
        "{}",
        &[
            ("ContentType", "application/json"),
            ("messageID", "mid-1"),
            ("CorrelationId", "cid-1"),
            ("type", "kind-1"),
            ("priority", "7"),
            ("ttlInSeconds", "30"),
            ("traceparent", "00-abc-def-01"),
        ],
    ))
    .await
    .unwrap();
    out.invoke(create("plain", &[])).await.unwrap();
    wait_ready(&ch, &q, 2).await;
    let msg = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("first message");
    let p = &msg.delivery.properties;
    assert_eq!(
        p.content_type().as_ref().unwrap().as_str(),
        "application/json"
    );
    assert_eq!(p.message_id().as_ref().unwrap().as_str(), "mid-1");
    assert_eq!(p.correlation_id().as_ref().unwrap().as_str(), "cid-1");
    assert_eq!(p.kind().as_ref().unwrap().as_str(), "kind-1");
    assert_eq!(*p.priority(), Some(7));
    assert_eq!(p.expiration().as_ref().unwrap().as_str(), "30000");
    assert_eq!(*p.delivery_mode(), Some(2), "persistent");
    let headers = p.headers().as_ref().unwrap().inner();
    assert_eq!(headers.len(), 7, "every request metadata entry is a header");
    assert!(
        matches!(headers.get("traceparent"), Some(AMQPValue::LongString(s)) if s.as_bytes() == b"00-abc-def-01")
    );
    let plain = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("second message");
    let p = &plain.delivery.properties;
    assert_eq!(p.content_type().as_ref().unwrap().as_str(), "text/plain");
    assert!(p.expiration().is_none() && p.priority().is_none() && p.message_id().is_none());
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn bad_request_metadata_is_an_invalid_request() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    for md in [[("priority", "high")], [("ttl", "0")]] {
        let err = out.invoke(create("x", &md)).await.unwrap_err();
        assert_eq!(err.kind(), bindery_core::ErrorKind::InvalidRequest, "{err}");
    }
    assert_eq!(ready_count(&ch, &q).await, 0);
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn max_priority_orders_the_queue_and_is_a_queue_argument() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[("maxPriority", "5")])).await;
    out.invoke(create("low", &[("priority", "1")]))
        .await
        .unwrap();
    out.invoke(create("high", &[("priority", "5")]))
        .await
        .unwrap();
    wait_ready(&ch, &q, 2).await;
    let first = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(first.delivery.data, b"high");
    // The same queue without the argument is a different declaration: Init fails.
    let err = binding::output_from(&DESCRIPTOR, "rabbit", props(&q, &[])).await;
    assert!(err.is_err(), "inequivalent x-max-priority must fail");
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn queue_ttl_expires_messages_and_message_ttl_overrides_it() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    // Queue TTL alone.
    let q = queue_name();
    let out = output(props(&q, &[("ttlInSeconds", "1")])).await;
    out.invoke(create("expires", &[])).await.unwrap();
    wait_ready(&ch, &q, 1).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(ready_count(&ch, &q).await, 0, "queue TTL expired it");
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
    // A long queue TTL, a short message TTL: the shorter one applies.
    let q = queue_name();
    let out = output(props(&q, &[("ttl", "60s")])).await;
    out.invoke(create("short", &[("ttl", "1s")])).await.unwrap();
    out.invoke(create("long", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let left = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the long-lived message");
    assert_eq!(left.delivery.data, b"long");
    assert_eq!(ready_count(&ch, &q).await, 0);
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
    // No queue TTL, a message TTL.
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    out.invoke(create("m", &[("ttlInSeconds", "1")]))
        .await
        .unwrap();
    out.invoke(create("keep", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        ready_count(&ch, &q).await,
        1,
        "only the message without TTL is left"
    );
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn durable_auto_delete_and_exclusive_flags_reach_the_broker() {
    let Some((c, ch)) = admin().await else { return };
    // durable: a non-durable redeclaration is refused.
    let q = queue_name();
    let out = output(props(&q, &[("durable", "true")])).await;
    let redeclare = |durable: bool, q: String| {
        let ch2 = c.create_channel();
        async move {
            let ch2 = ch2.await.unwrap();
            ch2.queue_declare(
                q.as_str().into(),
                QueueDeclareOptions {
                    durable,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map(|_| ())
        }
    };
    assert!(
        redeclare(false, q.clone()).await.is_err(),
        "queue must be durable"
    );
    assert!(redeclare(true, q.clone()).await.is_ok());
    out.close().await.unwrap();
    cleanup(&ch, &q).await;

    // deleteWhenUnused: the queue disappears once the input's consumer goes away.
    let q = queue_name();
    let r = run(
        input(props(&q, &[("deleteWhenUnused", "true")])).await,
        0,
        Duration::ZERO,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ready_count(&ch, &q).await, 0, "queue exists while consumed");
    r.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ch3 = c.create_channel().await.unwrap();
    let gone = ch3
        .queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(
        gone.is_err(),
        "auto-delete queue removed after its consumer left"
    );

    // exclusive: another connection may not use the queue.
    let q = queue_name();
    let out = output(props(&q, &[("exclusive", "true")])).await;
    let ch4 = c.create_channel().await.unwrap();
    let locked = ch4
        .basic_get(q.as_str().into(), BasicGetOptions::default())
        .await;
    assert!(
        locked.is_err(),
        "exclusive queue is locked to its connection"
    );
    out.invoke(create("mine", &[])).await.unwrap();
    out.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ch5 = c.create_channel().await.unwrap();
    let gone = ch5
        .queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(gone.is_err(), "exclusive queue removed with its connection");
}

#[tokio::test]
async fn prefetch_count_limits_unacked_deliveries() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    for i in 0..4 {
        out.invoke(create(format!("m{i}"), &[])).await.unwrap();
    }
    wait_ready(&ch, &q, 4).await;
    // A slow app: with prefetch 1, only one message is out at a time.
    let mut r = run(
        input(props(&q, &[("prefetchCount", "1")])).await,
        0,
        Duration::from_millis(1500),
    );
    let first = r.next().await;
    assert_eq!(&first.data[..], b"m0");
    assert_eq!(ready_count(&ch, &q).await, 3, "prefetch 1 keeps 3 ready");
    r.stop().await;
    let mut r = run(input(props(&q, &[])).await, 0, Duration::from_millis(1500));
    let _ = r.next().await;
    assert_eq!(
        ready_count(&ch, &q).await,
        0,
        "no prefetch limit takes them all"
    );
    let _ = r.cancel(Duration::from_secs(10)).await;
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn shutdown_finishes_the_in_flight_delivery_and_acks_it() {
    let Some((_c, ch)) = admin().await else {
        return;
    };
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    out.invoke(create("one", &[])).await.unwrap();
    out.invoke(create("two", &[])).await.unwrap();
    wait_ready(&ch, &q, 2).await;
    let mut r = run(
        input(props(&q, &[("prefetchCount", "1")])).await,
        0,
        Duration::from_millis(800),
    );
    let ev = r.next().await;
    assert_eq!(&ev.data[..], b"one");
    r.stop().await; // cancels while "one" is with the app
    assert_eq!(
        ready_count(&ch, &q).await,
        1,
        "\"one\" acked, \"two\" back in the queue"
    );
    let left = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("two");
    assert_eq!(left.delivery.data, b"two");
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
}

#[tokio::test]
async fn init_errors() {
    let Some((_c, _ch)) = admin().await else {
        return;
    };
    let err = DESCRIPTOR
        .validate(&Properties::from_pairs([("queueName", "q")]))
        .unwrap_err();
    assert_eq!(err.message, "missing host address");
    let p = props("q", &[("host", "amqp://guest:secret@127.0.0.1:1/")]);
    let err = binding::output_from(&DESCRIPTOR, "rabbit", p)
        .await
        .err()
        .expect("unreachable");
    assert!(!err.to_string().contains("secret"), "{err}");
}

/// Publishes `count` messages, runs the input with `limit` deliveries in flight against an app
/// that takes 100 ms per event and refuses the first delivery of "c3", and returns the sink
/// once every event was accepted and the queue is empty.
async fn deliver_concurrently(limit: Option<usize>, count: usize) -> Option<Arc<RecordingSink>> {
    let (_c, ch) = admin().await?;
    let q = queue_name();
    let out = output(props(&q, &[])).await;
    let sent: Vec<String> = (0..count).map(|i| format!("c{i}")).collect();
    for payload in &sent {
        out.invoke(create(payload, &[])).await.unwrap();
    }
    wait_ready(&ch, &q, count as u32).await;
    let sink = RecordingSink::refusing_first_of("c3")
        .delay(Duration::from_millis(100))
        .shared();
    // prefetchCount 2 is raised to the limit, so it cannot hold the deliveries back.
    let binding = input(props(&q, &[("prefetchCount", "2")])).await;
    let r = Running::start_with("rabbit", binding, sink.clone(), limit);
    let accepted = sink.wait_for(count + 1, Duration::from_secs(30)).await;
    assert!(accepted.is_some(), "every event and one redelivery arrive");
    r.stop().await;
    assert_eq!(ready_count(&ch, &q).await, 0, "every message acked");
    sink.assert_each_settled_once(&sent, "c3");
    out.close().await.unwrap();
    cleanup(&ch, &q).await;
    Some(sink)
}

#[tokio::test]
async fn max_concurrent_deliveries_hands_events_to_the_app_at_once() {
    let Some(sink) = deliver_concurrently(Some(8), 24).await else {
        return;
    };
    let most = sink.max_in_flight();
    assert!(
        (2..=8).contains(&most),
        "{most} deliveries in flight at once"
    );
}

#[tokio::test]
async fn without_the_option_delivery_is_one_at_a_time() {
    let Some(sink) = deliver_concurrently(None, 6).await else {
        return;
    };
    assert_eq!(sink.max_in_flight(), 1);
}
