//! A hot path held at a steady rate: memory stays flat. Drives ~300 localstorage output calls
//! per second through the HTTP API, plus a cron input (every second) and a RabbitMQ input fed
//! 50 messages a second, for `BINDERY_SOAK_SECONDS` (60 by default; run longer with e.g.
//! `BINDERY_SOAK_SECONDS=1800`). Samples the sidecar's VmRSS every 2 s and asserts that the
//! last quarter's average is within 20% + 2 MB of the first quarter's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bindery_testkit::faults::{self, Counts, Server};
use bindery_testkit::{Sidecar, TestApp, amqp, resources};
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const OUTPUT_RATE: u64 = 300;
const RABBIT_RATE: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_steady_load() {
    if !Server::RabbitMq.require() {
        return;
    }
    let seconds: u64 = std::env::var("BINDERY_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        .max(8);
    let files = tempfile::tempdir().unwrap();
    let queue = faults::unique("bindery-faults-soak-");
    let dir = resources(&[
        (
            "files.yaml",
            &faults::component(
                "files",
                "localstorage",
                &[("rootPath", &files.path().display().to_string())],
            ),
        ),
        (
            "tick.yaml",
            &faults::component("tick", "cron", &[("schedule", "@every 1s")]),
        ),
        (
            "rabbit.yaml",
            &faults::component(
                "rabbit",
                "rabbitmq",
                &[("host", &amqp::url()), ("queueName", &queue)],
            ),
        ),
    ]);
    let app = TestApp::start().await;
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .env("BINDERY_LOG", "info")
        .spawn()
        .await;
    sidecar.wait_ready().await;

    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut published = Vec::new();
    let load = {
        let ok = ok.clone();
        let failed = failed.clone();
        let client = sidecar.client.clone();
        let files_url = sidecar.url("/v1.0/bindings/files");
        let rabbit_url = sidecar.url("/v1.0/bindings/rabbit");
        let published = &mut published;
        async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / OUTPUT_RATE));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                i += 1;
                let (url, body) = if i.is_multiple_of(OUTPUT_RATE / RABBIT_RATE) {
                    let id = format!("soak-{i:08}");
                    published.push(id.clone());
                    (
                        rabbit_url.clone(),
                        json!({"operation": "create", "data": id}),
                    )
                } else {
                    (
                        files_url.clone(),
                        json!({"operation": "create", "data": {"n": i, "pad": "x".repeat(256)},
                               "metadata": {"fileName": format!("f-{}", i % 100)}}),
                    )
                };
                let permit = limit.clone().acquire_owned().await.unwrap();
                let client = client.clone();
                let ok = ok.clone();
                let failed = failed.clone();
                tokio::spawn(async move {
                    let sent = client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                });
            }
        }
    };
    let sampler = async {
        let mut series = Vec::new();
        // Let start-up allocations settle before the first sample.
        tokio::time::sleep(Duration::from_secs(3)).await;
        while Instant::now() < end {
            if let Some(kib) = sidecar.rss_kib() {
                series.push(kib);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        series
    };
    let started = Instant::now();
    let ((), series) = tokio::join!(load, sampler);
    let elapsed = started.elapsed().as_secs_f64();
    let calls = ok.load(Ordering::Relaxed);
    let errors = failed.load(Ordering::Relaxed);

    // Every message published to RabbitMQ reached the app.
    let deadline = Instant::now() + Duration::from_secs(15);
    let received = loop {
        let got: Vec<String> = app
            .requests_to(&Method::POST, "/rabbit")
            .iter()
            .map(|r| faults::unquote(&String::from_utf8_lossy(&r.body)))
            .collect();
        if Counts::of(&published, &got).lost == 0 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    amqp::delete(&queue).await;
    let ticks = app.requests_to(&Method::POST, "/tick").len();
    let counts = Counts::of(&published, &received);

    let quarter = (series.len() / 4).max(1);
    let avg = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
    let first = avg(&series[..quarter]);
    let last = avg(&series[series.len() - quarter..]);
    let bound = first * 1.2 + 2048.0;
    faults::report(
        "soak rabbitmq-input",
        &counts,
        &format!(
            "output_calls={calls} output_errors={errors} rate={:.0}/s cron_ticks={ticks} seconds={seconds} rss_first_quarter_kib={first:.0} rss_last_quarter_kib={last:.0} bound_kib={bound:.0}",
            (calls + errors) as f64 / elapsed
        ),
    );
    faults::note(&format!(
        "FAULTS soak RSS series (KiB, every 2 s): {series:?}"
    ));
    assert!(series.len() >= 2, "too few samples");
    assert_eq!(
        errors,
        0,
        "output calls failed\n{}",
        faults::tail(&sidecar.output(), 40)
    );
    assert_eq!(counts.lost, 0, "RabbitMQ events lost");
    assert!(ticks as u64 >= seconds / 2, "cron ticks: {ticks}");
    assert!(
        last < bound,
        "memory grew: first quarter {first:.0} KiB, last quarter {last:.0} KiB, series {series:?}"
    );
}
