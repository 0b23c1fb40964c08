//! bindings.rabbitmq survives a broker restart: input and output reconnect by themselves.
#![cfg(feature = "rabbitmq")]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bindery_bindings::rabbitmq::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, EventSink, InputContext, InputEvent, InvokeRequest, Properties,
};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn url() -> String {
    std::env::var("RABBITMQ_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

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

struct Sink(mpsc::UnboundedSender<InputEvent>);

#[async_trait]
impl EventSink for Sink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let _ = self.0.send(event);
        Ok(Bytes::new())
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
        if std::env::var_os("CI").is_some() {
            panic!("RabbitMQ not reachable or rabbitmqctl not usable");
        }
        eprintln!("SKIP: rabbitmq not reachable at 127.0.0.1:5672");
        return;
    }
    let queue = format!("bindery-restart-{}", uuid::Uuid::new_v4().simple());
    let props = Properties::new(HashMap::from([
        ("host".to_owned(), url()),
        ("queueName".to_owned(), queue.clone()),
        ("reconnectWaitInSeconds".to_owned(), "500ms".to_owned()),
    ]))
    .unwrap();
    let cx = || BuildContext::new("rabbit", props.clone(), "app");
    let out = (DESCRIPTOR.build_output.unwrap())(cx()).await.unwrap();
    let input = (DESCRIPTOR.build_input.unwrap())(cx()).await.unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let task = tokio::spawn(input.run(InputContext::new(
        "rabbit",
        Arc::new(Sink(tx)),
        token.clone(),
    )));
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
    let ev = tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("input resumed")
        .unwrap();
    assert_eq!(&ev.data[..], b"after");
    eprintln!("resumed {:?} after start_app", restarted.elapsed());

    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    out.close().await.unwrap();
}
