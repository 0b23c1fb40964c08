//! Azurite restarts under load, through the real binary: blobs are written and messages sent
//! through the sidecar every few milliseconds while Azurite is stopped (SIGINT, it saves its
//! data) and started again 2 s later on the same ports and data. Every write the sidecar
//! accepted must be readable afterwards and every accepted message must reach the app
//! (`lost=0`); output calls must succeed again soon after Azurite is back, and the input must
//! go on reading without a restart of the sidecar.
#![cfg(all(feature = "azure-blobstorage", feature = "azure-storagequeues"))]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bindery_testkit::azurite::{ACCOUNT, Azurite, KEY};
use bindery_testkit::faults::{self, Counts, KillableApp};
use bindery_testkit::{Sidecar, resources};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

/// What one writer saw.
#[derive(Default)]
struct Writes {
    accepted: Vec<String>,
    failed: usize,
    /// From Azurite listening again to the first accepted call.
    recovered_after: Option<Duration>,
}

async fn post(sidecar: &Sidecar, binding: &str, body: serde_json::Value) -> bool {
    sidecar
        .client
        .post(sidecar.url(&format!("/v1.0/bindings/{binding}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_and_queues_recover_after_azurite_restarts() {
    let Some(az) = Azurite::require() else { return };
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let (blob_endpoint, queue_endpoint) = (az.blob_endpoint(), az.queue_endpoint());
    let queue = faults::component(
        "queue",
        "azure.storagequeues",
        &[
            ("accountName", ACCOUNT),
            ("accountKey", KEY),
            ("queueName", "restarts"),
            ("queueEndpoint", &queue_endpoint),
            ("pollingInterval", "100ms"),
            ("visibilityTimeout", "2s"),
        ],
    );
    let blobs = faults::component(
        "blobs",
        "azure.blobstorage",
        &[
            ("accountName", ACCOUNT),
            ("accountKey", KEY),
            ("containerName", "restarts"),
            ("endpoint", &blob_endpoint),
            ("retryCount", "1"),
        ],
    );
    let dir = resources(&[("queue.yaml", &queue), ("blobs.yaml", &blobs)]);
    let app = KillableApp::start(APP, 0.0, 0);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let az = Arc::new(Mutex::new(az));
    let up_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let chaos = {
        let (az, up_at) = (az.clone(), up_at.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let stopped = Instant::now();
            tokio::task::spawn_blocking(move || az.lock().unwrap().restart(Duration::from_secs(2)))
                .await
                .expect("restart Azurite");
            *up_at.lock().unwrap() = Some(Instant::now());
            stopped.elapsed()
        }
    };
    let writer = async {
        let (mut q, mut b) = (Writes::default(), Writes::default());
        let hard_stop = Instant::now() + Duration::from_secs(60);
        for i in 0.. {
            let id = format!("restart-{i:06}");
            let up = *up_at.lock().unwrap();
            for (w, binding, body) in [
                (&mut q, "queue", json!({"operation": "create", "data": id})),
                (
                    &mut b,
                    "blobs",
                    json!({"operation": "create", "data": id, "metadata": {"blobName": id}}),
                ),
            ] {
                if post(&sidecar, binding, body).await {
                    w.accepted.push(id.clone());
                    if let Some(up) = up {
                        w.recovered_after.get_or_insert(up.elapsed());
                    }
                } else {
                    w.failed += 1;
                }
            }
            let settled = |w: &Writes, up: Instant| {
                w.recovered_after
                    .is_some_and(|r| up.elapsed() > r + Duration::from_secs(3))
            };
            if up.is_some_and(|u| {
                (settled(&q, u) && settled(&b, u)) || u.elapsed() > Duration::from_secs(30)
            }) || Instant::now() > hard_stop
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (q, b)
    };
    let (down_for, (q, b)) = tokio::join!(chaos, writer);
    let back = up_at.lock().unwrap().expect("Azurite came back");

    // Every accepted message reaches the app.
    let received = |app: &KillableApp| -> Vec<String> {
        app.accepted().iter().map(|s| faults::unquote(s)).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Counts::of(&q.accepted, &received(&app)).lost > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained_after = back.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received(&app);
    let mut queue_counts = Counts::of(&q.accepted, &got);
    queue_counts.unexpected = 0; // failed sends may still have been enqueued
    let fmt =
        |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
    faults::report(
        "azurite-restart azure.storagequeues",
        &queue_counts,
        &format!(
            "failed_calls={} down={:.1}s output_recovered_after={} drained_after={:.1}s",
            q.failed,
            down_for.as_secs_f64(),
            fmt(q.recovered_after),
            drained_after.as_secs_f64()
        ),
    );

    // Every accepted blob is there.
    let listed = faults::invoke_json(
        &sidecar,
        "blobs",
        json!({"operation": "list", "data": {"prefix": "restart-"}}),
    )
    .await
    .expect("list after the restart");
    let names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut blob_counts = Counts::of(&b.accepted, &names);
    blob_counts.unexpected = 0;
    faults::report(
        "azurite-restart azure.blobstorage",
        &blob_counts,
        &format!(
            "failed_calls={} down={:.1}s output_recovered_after={}",
            b.failed,
            down_for.as_secs_f64(),
            fmt(b.recovered_after)
        ),
    );
    let log = faults::tail(&sidecar.output(), 40);
    assert!(sidecar.is_running(), "the sidecar kept running\n{log}");
    assert!(
        q.failed > 0 && b.failed > 0,
        "the outage was seen by both outputs"
    );
    assert!(
        q.recovered_after.is_some() && b.recovered_after.is_some(),
        "outputs recovered\n{log}"
    );
    assert_eq!(
        queue_counts.lost,
        0,
        "lost messages: {:?}\n{log}",
        Counts::missing(&q.accepted, &got)
    );
    assert_eq!(
        blob_counts.lost,
        0,
        "lost blobs: {:?}",
        Counts::missing(&b.accepted, &names)
    );
}
