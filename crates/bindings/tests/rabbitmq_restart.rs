//! bindings.rabbitmq survives a broker restart: input and output reconnect by themselves.
#![cfg(feature = "rabbitmq")]

use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::rabbitmq::DESCRIPTOR;
use bindery_testkit::amqp::url;
use bindery_testkit::binding::{self, create};
use bindery_testkit::{RecordingSink, Running};

fn rabbitmqctl(arg: &str) -> bool {
    Command::new("rabbitmqctl")
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Starts the RabbitMQ application again whatever happens to the test.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if !rabbitmqctl("start_app") {
            eprintln!("rabbitmqctl start_app failed; trying rabbitmq-server -detached");
            let _ = Command::new("rabbitmq-server").arg("-detached").status();
        }
    }
}

async fn reachable() -> bool {
    tokio::net::TcpStream::connect("127.0.0.1:5672")
        .await
        .is_ok()
}

#[tokio::test]
async fn input_and_output_resume_after_a_broker_restart() {
    if !reachable().await || !rabbitmqctl("status") {
        bindery_testkit::require(
            false,
            "RabbitMQ on 127.0.0.1:5672 with a usable rabbitmqctl",
        );
        return;
    }
    let queue = format!("bindery-restart-{}", uuid::Uuid::new_v4().simple());
    let url = url();
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

    let guard = Restore;
    assert!(rabbitmqctl("stop_app"), "rabbitmqctl stop_app");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        out.invoke(create("while-down")).await.is_err(),
        "publishing while the broker is down fails"
    );
    drop(guard); // start_app
    let restarted = Instant::now();

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
    eprintln!("resumed {:?} after start_app", restarted.elapsed());

    events.stop().await;
    out.close().await.unwrap();
}
