//! `bindings.aws.sqs` against moto in server mode (a fresh server per test).
#![cfg(feature = "aws-sqs")]

mod aws_support;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_support::{input, output, request, run, sdk};
use bindery_bindings::aws::sqs::DESCRIPTOR;
use bindery_core::ErrorKind;
use bindery_testkit::moto::Moto;
use bindery_testkit::{RecordingSink, Running};

async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, visibility: &str) -> String {
    let mut req = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility);
    if name.ends_with(".fifo") {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    req.send().await.unwrap().queue_url().unwrap().to_owned()
}

async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> (usize, usize) {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let a = out.attributes().unwrap();
    let n = |k: QueueAttributeName| a.get(&k).unwrap().parse::<usize>().unwrap();
    (
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn output_sends_with_bindery_options_and_input_delivers_with_metadata() {
    let Some(moto) = Moto::start() else { return };
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    let url = create_queue(&client, "orders", "30").await;
    let out = output(&DESCRIPTOR, &moto, &[("queueName", "orders")])
        .await
        .unwrap();
    let resp = out
        .invoke(request(
            "create",
            br#"{"id":1}"#,
            &[("attribute.tenant", "acme"), ("traceparent", "00-x")],
        ))
        .await
        .unwrap();
    assert!(resp.is_none());

    let inp = input(
        &DESCRIPTOR,
        &moto,
        &[("queueName", "orders"), ("waitTimeSeconds", "1")],
    )
    .await
    .unwrap();
    let mut running = run(inp, 0);
    let ev = running
        .next(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(&ev.data[..], br#"{"id":1}"#);
    assert_eq!(ev.metadata.get("tenant").map(String::as_str), Some("acme"));
    assert!(
        !ev.metadata.contains_key("traceparent"),
        "{:?}",
        ev.metadata
    );
    assert_eq!(
        ev.metadata.get("receiveCount").map(String::as_str),
        Some("1")
    );
    assert!(
        ev.metadata
            .get("messageId")
            .is_some_and(|id| !id.is_empty())
    );
    assert!(ev.metadata.contains_key("sentTimestamp"));
    // deleted after the app's success
    let deleted = bindery_testkit::eventually(Duration::from_secs(5), || async {
        (depth(&client, &url).await == (0, 0)).then_some(())
    })
    .await;
    assert!(deleted.is_some(), "the accepted message was deleted");

    // DelaySeconds holds the message back
    out.invoke(request("create", b"late", &[("DelaySeconds", "2")]))
        .await
        .unwrap();
    assert!(
        running.next(Duration::from_millis(1200)).await.is_none(),
        "delayed message arrived early"
    );
    let ev = running
        .next(Duration::from_secs(10))
        .await
        .expect("the delayed message");
    assert_eq!(&ev.data[..], b"late");
    running.stop().await;

    let err = out
        .invoke(request("create", b"x", &[("DelaySeconds", "soon")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn a_refused_message_stays_and_comes_back_after_the_visibility_timeout() {
    let Some(moto) = Moto::start() else { return };
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    let url = create_queue(&client, "retry", "1").await;
    client
        .send_message()
        .queue_url(&url)
        .message_body("again")
        .send()
        .await
        .unwrap();
    let inp = input(
        &DESCRIPTOR,
        &moto,
        &[("queueName", "retry"), ("waitTimeSeconds", "1")],
    )
    .await
    .unwrap();
    let mut running = run(inp, 1);
    let first = running.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.metadata["receiveCount"], "1");
    let second = running
        .next(Duration::from_secs(10))
        .await
        .expect("redelivered");
    assert_eq!(&second.data[..], b"again");
    assert_eq!(second.metadata["receiveCount"], "2");
    assert_eq!(first.metadata["messageId"], second.metadata["messageId"]);
    let deleted = bindery_testkit::eventually(Duration::from_secs(5), || async {
        (depth(&client, &url).await == (0, 0)).then_some(())
    })
    .await;
    assert!(deleted.is_some());
    assert!(
        running.next(Duration::from_secs(2)).await.is_none(),
        "no third delivery"
    );
    running.stop().await;
}

#[tokio::test]
async fn fifo_group_and_deduplication_ids_reach_the_queue() {
    let Some(moto) = Moto::start() else { return };
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    let url = create_queue(&client, "jobs.fifo", "30").await;
    let out = output(&DESCRIPTOR, &moto, &[("queueName", "jobs.fifo")])
        .await
        .unwrap();
    for (body, dedup) in [("a", "d1"), ("a-again", "d1"), ("b", "d2")] {
        out.invoke(request(
            "create",
            body.as_bytes(),
            &[("MessageGroupId", "g"), ("MessageDeduplicationId", dedup)],
        ))
        .await
        .unwrap();
    }
    let err = out
        .invoke(request("create", b"no group", &[]))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("sending the message failed"),
        "{err}"
    );
    let got = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    assert_eq!(bodies, ["a", "b"], "deduplicated, in order");
    let group = got.messages()[0]
        .attributes()
        .unwrap()
        .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId);
    assert_eq!(group.map(String::as_str), Some("g"));
}

#[tokio::test]
async fn a_missing_queue_backs_off_and_a_moto_restart_is_survived() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    let inp = input(
        &DESCRIPTOR,
        &moto,
        &[("queueName", "later"), ("waitTimeSeconds", "1")],
    )
    .await
    .unwrap();
    let mut running = run(inp, 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    let url = create_queue(&client, "later", "30").await;
    client
        .send_message()
        .queue_url(&url)
        .message_body("one")
        .send()
        .await
        .unwrap();
    let ev = running
        .next(Duration::from_secs(40))
        .await
        .expect("delivered once the queue exists");
    assert_eq!(&ev.data[..], b"one");

    // moto restarts empty: the input keeps trying, and picks the new queue up
    moto.restart();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let url = create_queue(&client, "later", "30").await;
    client
        .send_message()
        .queue_url(&url)
        .message_body("two")
        .send()
        .await
        .unwrap();
    let ev = running
        .next(Duration::from_secs(60))
        .await
        .expect("delivered after the restart");
    assert_eq!(&ev.data[..], b"two");
    running.stop().await;
}

#[tokio::test]
async fn batches_are_delivered_concurrently_and_all_deleted() {
    let Some(moto) = Moto::start() else { return };
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    let url = create_queue(&client, "batch", "30").await;
    for i in 0..25 {
        client
            .send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let inp = input(
        &DESCRIPTOR,
        &moto,
        &[
            ("queueName", "batch"),
            ("maxMessages", "10"),
            ("waitTimeSeconds", "1"),
        ],
    )
    .await
    .unwrap();
    let mut running = run(inp, 0);
    let mut got = std::collections::BTreeSet::new();
    while got.len() < 25 {
        let ev = running
            .next(Duration::from_secs(10))
            .await
            .expect("all 25 delivered");
        got.insert(String::from_utf8(ev.data.to_vec()).unwrap());
    }
    let empty = bindery_testkit::eventually(Duration::from_secs(5), || async {
        (depth(&client, &url).await == (0, 0)).then_some(())
    })
    .await;
    assert!(empty.is_some());
    running.stop().await;
}

/// Sends `count` messages, runs the input (`maxMessages` 10) with `limit` deliveries in flight
/// against an app that takes 100 ms per event and refuses the first delivery of "c3" (it
/// comes back after the 1 s visibility timeout), and checks each was deleted after its own
/// success only.
async fn deliver_concurrently(
    limit: Option<usize>,
    count: usize,
) -> Option<std::sync::Arc<RecordingSink>> {
    let moto = Moto::start()?;
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    let url = create_queue(&client, "inflight", "1").await;
    let sent: Vec<String> = (0..count).map(|i| format!("c{i}")).collect();
    for payload in &sent {
        client
            .send_message()
            .queue_url(&url)
            .message_body(payload)
            .send()
            .await
            .unwrap();
    }
    let pairs = [
        ("queueName", "inflight"),
        ("maxMessages", "10"),
        ("waitTimeSeconds", "1"),
    ];
    let inp = input(&DESCRIPTOR, &moto, &pairs).await.unwrap();
    let sink = RecordingSink::refusing_first_of("c3")
        .delay(Duration::from_millis(100))
        .shared();
    let running = Running::start_with("sqs", inp, sink.clone(), limit);
    let all = sink.wait_for(count + 1, Duration::from_secs(60)).await;
    assert!(all.is_some(), "every event and one redelivery arrive");
    let empty = bindery_testkit::eventually(Duration::from_secs(10), || async {
        (depth(&client, &url).await == (0, 0)).then_some(())
    })
    .await;
    assert!(empty.is_some(), "every message deleted");
    running.stop().await;
    sink.assert_each_settled_once(&sent, "c3");
    Some(sink)
}

#[tokio::test]
async fn max_concurrent_deliveries_hands_messages_to_the_app_at_once() {
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
async fn without_the_option_a_batch_is_delivered_one_at_a_time() {
    let Some(sink) = deliver_concurrently(None, 6).await else {
        return;
    };
    assert_eq!(sink.max_in_flight(), 1);
}
