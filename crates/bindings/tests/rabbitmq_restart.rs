//! bindings.rabbitmq survives a broker restart (a RabbitMQ node of the test's own, stopped with
//! `rabbitmqctl -n <node> stop` and started again): input and output reconnect by themselves.
#![cfg(feature = "rabbitmq")]

use std::time::{Duration, Instant};

use bindery_bindings::rabbitmq::DESCRIPTOR;
use bindery_testkit::binding::{self, create};
use bindery_testkit::servers::{Instance, Kind};
use bindery_testkit::{RecordingSink, Running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_and_output_resume_after_a_broker_restart() {
    let Some(broker) = Instance::start(Kind::RabbitMq) else {
        return;
    };
    let queue = format!("bindery-restart-{}", uuid::Uuid::new_v4().simple());
    let url = broker.url();
    let props = [
        ("host", url.as_str()),
        ("queueName", queue.as_str()),
        ("reconnectWaitInSeconds", "500ms"),
    ];
    let out = binding::output(&DESCRIPTOR, "rabbit", &props)
        .await
        .unwrap();
    let input = binding::input(&DESCRIPTOR, "rabbit", &props).await.unwrap();
    let mut events = Running::start("rabbit", input, RecordingSink::accepting().shared());
    let create = |data: &str| create(data, &[]);

    out.invoke(create("before")).await.unwrap();
    let ev = events.next().await;
    assert_eq!(&ev.data[..], b"before");

    let guard = tokio::task::block_in_place(|| broker.stop());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        out.invoke(create("while-down")).await.is_err(),
        "publishing while the broker is down fails"
    );
    let restarted = tokio::task::block_in_place(|| guard.start());

    // Output: the next create reconnects by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match out.invoke(create("after")).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("output not back yet: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("output did not recover: {e}"),
        }
    }
    // Input: reconnects, re-declares and resumes consuming.
    let ev = events
        .next_within(Duration::from_secs(30))
        .await
        .expect("input resumed");
    assert_eq!(&ev.data[..], b"after");
    eprintln!(
        "resumed {:?} after the node accepted connections",
        restarted.elapsed()
    );

    events.stop().await;
    out.close().await.unwrap();
}
