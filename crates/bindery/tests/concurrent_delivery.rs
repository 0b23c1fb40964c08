//! `maxConcurrentDeliveries` through the real binary: the option reaches the component, which
//! hands that many events to the app at once, and each is acked by its own verdict.
#![cfg(feature = "rabbitmq")]

use std::time::Duration;

use bindery_testkit::amqp;
use bindery_testkit::{Sidecar, TestApp, components, resources};
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const EVENTS: usize = 24;

/// Deletes the test's queue when it ends, however it ends.
struct Queue(String);

impl Drop for Queue {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop may run inside the test's runtime: delete from a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                rt.block_on(amqp::delete(&name));
            }
        })
        .join();
    }
}

/// Publishes `EVENTS` messages through the sidecar, lets an app that takes 100 ms per event
/// (and refuses the first one it gets) take them, and returns the most it answered at once.
async fn run(limit: Option<&str>) -> Option<usize> {
    if !bindery_testkit::binding::tcp_or_skip("127.0.0.1:5672", "RabbitMQ").await {
        return None;
    }
    let queue = Queue(format!("bindery-conc-{}", uuid_suffix()));
    let app = TestApp::start().await;
    app.set_delay(Duration::from_millis(100));
    app.respond(Method::POST, "/work", &[500, 200]);
    let mut metadata = vec![
        ("host", amqp::url()),
        ("queueName", queue.0.clone()),
        ("route", "/work".to_owned()),
    ];
    if let Some(n) = limit {
        metadata.push(("maxConcurrentDeliveries", n.to_owned()));
    }
    let metadata: Vec<(&str, &str)> = metadata.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let component = components::component("work", "bindings.rabbitmq", &metadata);
    let dir = resources(&[("work.yaml", &component)]);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    for i in 0..EVENTS {
        let r = sidecar
            .invoke(
                "work",
                json!({"operation": "create", "data": format!("e{i}")}),
            )
            .await;
        assert_eq!(r.status(), 204, "publish: {}", sidecar.output());
    }
    let mut most = 0;
    for _ in 0..400 {
        most = most.max(app.in_flight());
        if app.requests_to(&Method::POST, "/work").len() > EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nothing more comes: each message was acked once, the refused one after its redelivery.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts = app.requests_to(&Method::POST, "/work");
    assert_eq!(posts.len(), EVENTS + 1, "{}", sidecar.output());
    let mut bodies: Vec<String> = posts.iter().map(|p| p.body.clone()).collect();
    let refused = bodies[0].clone();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), EVENTS, "every event delivered");
    assert_eq!(
        posts.iter().filter(|p| p.body == refused).count(),
        2,
        "only the refused event came back"
    );
    // Once the consumer is gone an unacked message would be ready again.
    sidecar.terminate();
    assert_eq!(amqp::depth(&queue.0).await, Some(0), "every message acked");
    Some(most)
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

#[tokio::test]
async fn max_concurrent_deliveries_reaches_the_component() {
    let Some(most) = run(Some("8")).await else {
        return;
    };
    assert!((2..=8).contains(&most), "{most} deliveries at once");
}

#[tokio::test]
async fn without_the_option_rabbitmq_delivers_one_at_a_time() {
    let Some(most) = run(None).await else {
        return;
    };
    assert_eq!(most, 1);
}
