//! bindings.mqtt3 survives a Mosquitto restart (a Mosquitto of the test's own, stopped with
//! SIGTERM and started again): input re-subscribes and output publishes again.
#![cfg(feature = "mqtt3")]

use std::time::{Duration, Instant};

use bindery_bindings::mqtt3::DESCRIPTOR;
use bindery_testkit::binding::{self, create};
use bindery_testkit::servers::{Instance, Kind};
use bindery_testkit::{RecordingSink, Running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_and_output_resume_after_a_broker_restart() {
    let Some(broker) = Instance::start(Kind::Mosquitto) else {
        return;
    };
    let url = broker.url();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topic = format!("bindery/restart/{id}");
    let consumer = format!("restart-{id}");
    let props = [
        ("url", url.as_str()),
        ("topic", topic.as_str()),
        ("consumerID", consumer.as_str()),
    ];
    let out = binding::output(&DESCRIPTOR, "mqtt", &props).await.unwrap();
    let input = binding::input(&DESCRIPTOR, "mqtt", &props).await.unwrap();
    let mut events = Running::start("mqtt", input, RecordingSink::accepting().shared());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let create = |data: &str| create(data, &[]);
    out.invoke(create("before")).await.unwrap();
    let ev = events.next().await;
    assert_eq!(&ev.data[..], b"before");

    // The PUBACK goes out only after the sink accepted "before": let it reach the broker, or
    // the broker rightly hands "before" again after the restart.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Blocking server commands run off the async workers, so the binding notices the outage
    // while it happens.
    let guard = tokio::task::block_in_place(|| broker.stop());
    assert!(!broker.up(), "mosquitto stopped");
    assert!(
        out.invoke(create("while-down")).await.is_err(),
        "publishing while down fails"
    );
    let restarted = tokio::task::block_in_place(|| guard.start());
    assert!(broker.up(), "mosquitto restarted");

    // Output reconnects by itself; keep publishing until one is acknowledged, then the input
    // (re-subscribed on its new connection) must receive one of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut received = None;
    while received.is_none() {
        match out.invoke(create("after")).await {
            Ok(_) => {
                if let Some(ev) = events.next_within(Duration::from_millis(500)).await {
                    received = Some(ev);
                }
            }
            Err(e) => eprintln!("output not back yet: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "input/output did not resume within 30s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(&received.unwrap().data[..], b"after");
    eprintln!("resumed {:?} after restart", restarted.elapsed());
    events.stop().await;
    out.close().await.unwrap();
}
