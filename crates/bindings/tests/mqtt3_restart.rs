//! bindings.mqtt3 survives a Mosquitto restart: input re-subscribes and output publishes again.
#![cfg(feature = "mqtt3")]

use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::mqtt3::DESCRIPTOR;
use bindery_testkit::binding::{self, create};
use bindery_testkit::faults::Server;
use bindery_testkit::{RecordingSink, Running};

const PID_FILE: &str = "/run/mosquitto/mosquitto.pid";

fn mosquitto_pid() -> Option<String> {
    let pid = std::fs::read_to_string(PID_FILE).ok()?.trim().to_owned();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline.contains("mosquitto").then_some(pid)
}

#[tokio::test]
async fn input_and_output_resume_after_a_broker_restart() {
    let Some(pid) = mosquitto_pid().filter(|_| Server::Mosquitto.up()) else {
        bindery_testkit::require(
            false,
            &format!("Mosquitto on 127.0.0.1:1883 with pid file {PID_FILE}"),
        );
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topic = format!("bindery/restart/{id}");
    let consumer = format!("restart-{id}");
    let props = [
        ("url", "tcp://127.0.0.1:1883"),
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

    let guard = Server::Mosquitto.restore_on_drop();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    for _ in 0..50 {
        if !Server::Mosquitto.up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!Server::Mosquitto.up(), "mosquitto stopped");
    assert!(
        out.invoke(create("while-down")).await.is_err(),
        "publishing while down fails"
    );
    Server::Mosquitto.start();
    drop(guard);
    assert!(Server::Mosquitto.up(), "mosquitto restarted");
    let restarted = Instant::now();

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
