//! bindings.azure.storagequeues input through the real binary, against Azurite (started per
//! test on free ports): every message reaches the app while it refuses 10% at random and is
//! killed once; a message the app keeps refusing goes to the dead-letter binding; a delivery
//! slower than the visibility timeout is not delivered twice.
#![cfg(feature = "azure-storagequeues")]

use std::time::{Duration, Instant};

use bindery_bindings::azure::storagequeues::{Queue, QueueConfig, connect};
use bindery_core::Properties;
use bindery_testkit::azurite::{ACCOUNT, Azurite, KEY};
use bindery_testkit::faults::{self, AppKill, KillableApp};
use bindery_testkit::{Sidecar, TestApp, eventually, resources};
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

fn queue_metadata<'a>(queue: &'a str, endpoint: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("accountName", ACCOUNT),
        ("accountKey", KEY),
        ("queueName", queue),
        ("queueEndpoint", endpoint),
        ("pollingInterval", "100ms"),
    ]
}

/// A client for `queue`, to look behind the sidecar's back.
fn raw(az: &Azurite, queue: &str) -> Queue {
    let endpoint = az.queue_endpoint();
    let p = Properties::from_pairs(queue_metadata(queue, &endpoint));
    connect(&QueueConfig::decode_quiet(&p).unwrap(), 0).unwrap()
}

/// N sent through the sidecar's output binding, N delivered by its input binding, 0 lost,
/// while the app answers 500 to a random 10% and is SIGKILLed and restarted once mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_while_the_app_refuses_and_dies() {
    let Some(az) = Azurite::require() else { return };
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let endpoint = az.queue_endpoint();
    let mut md = queue_metadata("appfaults", &endpoint);
    md.push(("visibilityTimeout", "1s"));
    let component = faults::component("queue", "azure.storagequeues", &md);
    let events = 1000;
    let (counts, missing, log) = AppKill {
        scenario: "app-kill azure.storagequeues",
        binary: BIN,
        app_script: APP,
        binding: "queue",
        files: vec![("queue.yaml".into(), component)],
        sidecar_args: vec![],
        events,
        fail_rate: 0.10,
        down: Duration::from_millis(700),
        wait: Duration::from_secs(60),
    }
    .run()
    .await;
    assert_eq!(
        counts.lost, 0,
        "lost messages (first 20): {missing:?}\n{log}"
    );
    assert_eq!(counts.unexpected, 0, "the app saw messages nobody sent");
    assert_eq!(counts.delivered, events);
    let left = raw(&az, "appfaults").peek(32).await.unwrap();
    assert!(left.is_empty(), "accepted messages are deleted: {left:?}");
}

/// With `deadLetterBinding` (and `deliveryAttempts: 3`), a message the app always refuses is
/// handed to the dead-letter binding (here another queue) and deleted, instead of coming back
/// forever as in daprd (cc#2250).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_messages_go_to_the_dead_letter_binding() {
    let Some(az) = Azurite::require() else { return };
    let app = TestApp::start().await;
    app.respond(Method::POST, "/work", &[500]);
    let endpoint = az.queue_endpoint();
    let mut work = queue_metadata("work", &endpoint);
    work.extend([
        ("visibilityTimeout", "2s"),
        ("deadLetterBinding", "dlq"),
        ("deliveryAttempts", "3"),
    ]);
    let mut dlq = queue_metadata("poison", &endpoint);
    dlq.push(("direction", "output"));
    let dir = resources(&[
        (
            "work.yaml",
            &faults::component("work", "azure.storagequeues", &work),
        ),
        (
            "dlq.yaml",
            &faults::component("dlq", "azure.storagequeues", &dlq),
        ),
    ]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    let sent = ["poison-1", "poison-2", "poison-3"];
    for id in sent {
        let r = sidecar
            .invoke(
                "work",
                serde_json::json!({"operation": "create", "data": id}),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    let poison = raw(&az, "poison");
    let dead = eventually(Duration::from_secs(30), || async {
        let texts: Vec<String> = poison
            .peek(32)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.text)
            .collect();
        (texts.len() >= sent.len()).then_some(texts)
    })
    .await
    .unwrap_or_else(|| panic!("dead letters never arrived\n{}", sidecar.output()));
    let mut dead_sorted = dead.clone();
    dead_sorted.sort();
    assert_eq!(dead_sorted, sent);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = app.requests_to(&Method::POST, "/work").len();
    assert_eq!(attempts, 9, "three attempts per message, then no more");
    assert!(
        raw(&az, "work").peek(32).await.unwrap().is_empty(),
        "the source queue is empty"
    );
    faults::note(&format!(
        "FAULTS dead-letter azure.storagequeues: sent=3 dead_lettered={} app_attempts={attempts}",
        dead.len()
    ));
}

/// A delivery slower (5 s) than `visibilityTimeout` (2 s): the app gets the message exactly
/// once and it is deleted afterwards; without the extension it would come back after 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_deliveries_are_not_repeated() {
    let Some(az) = Azurite::require() else { return };
    let app = TestApp::start().await;
    app.set_delay(Duration::from_secs(5));
    let endpoint = az.queue_endpoint();
    let mut md = queue_metadata("slow", &endpoint);
    md.push(("visibilityTimeout", "2s"));
    let dir = resources(&[(
        "slow.yaml",
        &faults::component("slow", "azure.storagequeues", &md),
    )]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    let r = sidecar
        .invoke(
            "slow",
            serde_json::json!({"operation": "create", "data": "take your time"}),
        )
        .await;
    assert!(r.status().is_success());
    let started = Instant::now();
    let queue = raw(&az, "slow");
    let done = eventually(Duration::from_secs(20), || async {
        (app.requests_to(&Method::POST, "/slow").len() == 1
            && app.in_flight() == 0
            && queue.peek(32).await.is_ok_and(|m| m.is_empty()))
        .then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "the delivery finished and the message was deleted\n{}",
        sidecar.output()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts = app.requests_to(&Method::POST, "/slow");
    assert_eq!(posts.len(), 1, "delivered once");
    assert_eq!(&posts[0].body[..], b"take your time");
    assert!(started.elapsed() >= Duration::from_secs(5));
}
