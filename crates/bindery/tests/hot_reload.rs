//! Hot reload end to end: components added, changed and removed while the sidecar runs, with
//! calls and events in flight.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bindery_testkit::{Sidecar, TestApp, components, eventually, resources};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

async fn component_names(sidecar: &Sidecar) -> Vec<String> {
    let v: Value = sidecar.get_json("/v1.0/metadata").await;
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn components_are_added_changed_and_removed_without_a_restart() {
    let root_a = tempfile::tempdir().unwrap();
    let root_b = tempfile::tempdir().unwrap();
    let dir = resources(&[]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let pid = sidecar.pid();

    // Added.
    std::fs::write(
        dir.path().join("files.yaml"),
        components::localstorage("files", root_a.path()),
    )
    .unwrap();
    let create = |n: usize| json!({"operation": "create", "data": "x", "metadata": {"fileName": format!("f{n}.txt")}});
    eventually(Duration::from_secs(10), || async {
        (sidecar.invoke("files", create(0)).await.status() == 200).then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the added component never served calls:\n{}",
            sidecar.output()
        )
    });
    assert!(
        component_names(&sidecar)
            .await
            .contains(&"files".to_owned())
    );

    // Changed, with calls running the whole time: none may fail.
    let failures = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let (failures, calls, stop) = (failures.clone(), calls.clone(), stop.clone());
        let client = sidecar.client.clone();
        let url = sidecar.url("/v1.0/bindings/files");
        tokio::spawn(async move {
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"operation": "create", "data": "x", "metadata": {"fileName": format!("f{n}.txt")}}).to_string();
                let status = client
                    .post(&url)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                calls.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(
        dir.path().join("files.yaml"),
        components::localstorage("files", root_b.path()),
    )
    .unwrap();
    eventually(Duration::from_secs(10), || async {
        (std::fs::read_dir(root_b.path()).unwrap().count() > 0).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("writes never moved to the new root:\n{}", sidecar.output()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    hammer.await.unwrap();
    assert!(
        calls.load(Ordering::Relaxed) > 20,
        "the swap happened under load"
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no call may fail during the swap:\n{}",
        sidecar.output()
    );

    // An invalid definition leaves the running one in place.
    std::fs::write(dir.path().join("files.yaml"), "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n  type: bindings.localstorage\n  metadata:\n  - name: rootPath\n    value: /proc/nope\n").unwrap();
    eventually(Duration::from_secs(10), || async {
        sidecar
            .output()
            .contains("Reload refused the new definition")
            .then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the invalid definition was not reported:\n{}",
            sidecar.output()
        )
    });
    assert_eq!(sidecar.invoke("files", create(9999)).await.status(), 200);
    assert!(
        root_b.path().join("f9999.txt").exists(),
        "the running binding stayed"
    );

    // Removed.
    std::fs::remove_file(dir.path().join("files.yaml")).unwrap();
    let gone = eventually(Duration::from_secs(10), || async {
        let r = sidecar.invoke("files", create(10000)).await;
        (r.status() == 500).then_some(r.text().await.unwrap())
    })
    .await
    .unwrap_or_else(|| panic!("the removed component still serves:\n{}", sidecar.output()));
    assert!(
        gone.contains("couldn't find output binding files"),
        "{gone}"
    );
    assert!(
        !component_names(&sidecar)
            .await
            .contains(&"files".to_owned())
    );
    assert_eq!(sidecar.pid(), pid, "no restart");
}

#[tokio::test]
async fn hot_reload_can_be_switched_off_in_the_configuration() {
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[]);
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: cfg\nspec:\n  features:\n  - name: HotReload\n    enabled: false\n").unwrap();
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--config", &config.path().display().to_string()])
        .spawn()
        .await;
    let v: Value = sidecar.get_json("/v1.0/metadata").await;
    assert_eq!(v["enabledFeatures"], json!([]));
    std::fs::write(
        dir.path().join("files.yaml"),
        components::localstorage("files", root.path()),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(component_names(&sidecar).await.is_empty());
}

const RABBITMQ: &str = "amqp://guest:guest@127.0.0.1:5672/";

/// The `orders` rabbitmq input with `extra` metadata items (raw YAML).
fn rabbitmq_component(queue: &str, extra: &str) -> String {
    let metadata = [
        ("host", RABBITMQ),
        ("queueName", queue),
        ("deleteWhenUnused", "false"),
        ("prefetchCount", "1"),
    ];
    components::component("orders", "bindings.rabbitmq", &metadata) + extra
}

fn rabbitmq_reachable() -> bool {
    std::net::TcpStream::connect_timeout(&"127.0.0.1:5672".parse().unwrap(), Duration::from_secs(1))
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_input_binding_swapped_mid_stream_loses_no_event() {
    if !bindery_testkit::require(rabbitmq_reachable(), "RabbitMQ at 127.0.0.1:5672") {
        return;
    }
    let queue = format!("bindery-reload-{}", uuid_like());
    let app = TestApp::start().await;
    app.set_delay(Duration::from_millis(30));
    let dir = resources(&[("orders.yaml", &rabbitmq_component(&queue, ""))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    const SENT: usize = 150;
    for i in 0..SENT {
        let r = sidecar
            .invoke("orders", json!({"operation": "create", "data": {"n": i}}))
            .await;
        assert_eq!(r.status(), 204, "publish {i}");
    }
    eventually(Duration::from_secs(10), || async {
        (app.requests_to(&Method::POST, "/orders").len() >= 20).then_some(())
    })
    .await
    .expect("events flowing");
    std::fs::write(
        dir.path().join("orders.yaml"),
        rabbitmq_component(
            &queue,
            "  - name: reconnectWaitInSeconds\n    value: \"2\"\n",
        ),
    )
    .unwrap();
    let delivered = eventually(Duration::from_secs(30), || async {
        let seen: HashSet<String> = app
            .requests_to(&Method::POST, "/orders")
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        (seen.len() >= SENT).then_some(seen)
    })
    .await;
    let posts = app.requests_to(&Method::POST, "/orders").len();
    let distinct = delivered.as_ref().map_or(0, HashSet::len);
    println!(
        "sent={SENT} delivered={posts} distinct={distinct} duplicated={} lost={}",
        posts.saturating_sub(distinct),
        SENT.saturating_sub(distinct)
    );
    assert!(
        sidecar.output().contains("Reloading component."),
        "{}",
        sidecar.output()
    );
    assert_eq!(
        distinct,
        SENT,
        "lost events across the swap:\n{}",
        sidecar.output()
    );
    let r = sidecar
        .invoke("orders", json!({"operation": "create", "data": "after"}))
        .await;
    assert_eq!(r.status(), 204, "the new output side works");
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
