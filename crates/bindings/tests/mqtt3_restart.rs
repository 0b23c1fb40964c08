//! bindings.mqtt3 survives a Mosquitto restart: input re-subscribes and output publishes again.
#![cfg(feature = "mqtt3")]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bindery_bindings::mqtt3::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, EventSink, InputContext, InputEvent, InvokeRequest, Properties,
};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const PID_FILE: &str = "/run/mosquitto/mosquitto.pid";

fn port_open() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:1883".parse().unwrap(),
        Duration::from_millis(300),
    )
    .is_ok()
}

fn start_mosquitto() {
    let _ = Command::new("mosquitto")
        .args(["-d", "-c", "/etc/mosquitto/mosquitto.conf"])
        .status();
    for _ in 0..50 {
        if port_open() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts Mosquitto again whatever happens to the test.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if !port_open() {
            start_mosquitto();
        }
    }
}

fn mosquitto_pid() -> Option<String> {
    let pid = std::fs::read_to_string(PID_FILE).ok()?.trim().to_owned();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline.contains("mosquitto").then_some(pid)
}

struct Sink(mpsc::UnboundedSender<InputEvent>);

#[async_trait]
impl EventSink for Sink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let _ = self.0.send(event);
        Ok(Bytes::new())
    }
}

#[tokio::test]
async fn input_and_output_resume_after_a_broker_restart() {
    let Some(pid) = mosquitto_pid().filter(|_| port_open()) else {
        if std::env::var_os("CI").is_some() {
            panic!("Mosquitto not running on 127.0.0.1:1883 with pid file {PID_FILE}");
        }
        eprintln!("SKIP: mosquitto not reachable at 127.0.0.1:1883");
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topic = format!("bindery/restart/{id}");
    let props = Properties::new(HashMap::from([
        ("url".to_owned(), "tcp://127.0.0.1:1883".to_owned()),
        ("topic".to_owned(), topic.clone()),
        ("consumerID".to_owned(), format!("restart-{id}")),
    ]))
    .unwrap();
    let cx = || BuildContext::new("mqtt", props.clone(), "app");
    let out = (DESCRIPTOR.build_output.unwrap())(cx()).await.unwrap();
    let input = (DESCRIPTOR.build_input.unwrap())(cx()).await.unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let task =
        tokio::spawn(input.run(InputContext::new("mqtt", Arc::new(Sink(tx)), token.clone())));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let create = |data: &str| InvokeRequest {
        operation: "create".into(),
        data: Bytes::from(data.to_owned()),
        metadata: HashMap::new(),
    };
    out.invoke(create("before")).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&ev.data[..], b"before");

    let guard = Restore;
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    for _ in 0..50 {
        if !port_open() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!port_open(), "mosquitto stopped");
    assert!(
        out.invoke(create("while-down")).await.is_err(),
        "publishing while down fails"
    );
    start_mosquitto();
    drop(guard);
    assert!(port_open(), "mosquitto restarted");
    let restarted = Instant::now();

    // Output reconnects by itself; keep publishing until one is acknowledged, then the input
    // (re-subscribed on its new connection) must receive one of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut received = None;
    while received.is_none() {
        match out.invoke(create("after")).await {
            Ok(_) => {
                if let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_millis(500), events.recv()).await
                {
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
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    out.close().await.unwrap();
}
