//! Output and input bindings end to end through the real binary, over HTTP: what the app and
//! the caller see on the wire.

use std::time::Duration;

use bindery_testkit::{Sidecar, TestApp, components, eventually, free_port, resources};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

/// A cron component firing every second, with `extra` metadata items (raw YAML).
fn cron(name: &str, extra: &str) -> String {
    components::cron(name, "@every 1s") + extra
}

#[tokio::test]
async fn cron_events_reach_the_app_after_an_options_probe_with_metadata_headers() {
    let app = TestApp::start().await;
    let dir = resources(&[(
        "c.yaml",
        &cron("tick", "  - name: route\n    value: cron-events\n"),
    )]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .env("APP_API_TOKEN", "app-token")
        .spawn()
        .await;
    let posts = app
        .posts_within("/cron-events", 2, Duration::from_secs(5))
        .await;
    assert!(
        posts.len() >= 2,
        "expected ticks; app saw {:?}\n{}",
        app.requests(),
        sidecar.output()
    );
    let probes = app.requests_to(&Method::OPTIONS, "/cron-events");
    assert_eq!(probes.len(), 1, "one probe before reading");
    assert_eq!(probes[0].header("dapr-api-token"), Some("app-token"));
    let event = &posts[0];
    assert_eq!(event.header("content-type"), Some("application/json"));
    assert_eq!(event.header("dapr-api-token"), Some("app-token"));
    assert_eq!(event.header("timezone"), Some("Local"));
    let read_time = event.header("readtimeutc").expect("readTimeUTC header");
    assert!(read_time.ends_with(" +0000 UTC"), "{read_time}");
    assert!(event.body.is_empty());
    assert!(
        app.requests_to(&Method::POST, "/tick").is_empty(),
        "route replaces the name"
    );
}

#[tokio::test]
async fn probe_statuses_decide_the_subscription() {
    let app = TestApp::start().await;
    app.respond(Method::OPTIONS, "/unsubscribed", &[404]);
    app.respond(Method::OPTIONS, "/notallowed", &[405]);
    app.respond(Method::OPTIONS, "/implicit", &[404]);
    let files = [
        ("a.yaml", cron("unsubscribed", "")),
        ("b.yaml", cron("notallowed", "")),
        (
            "c.yaml",
            cron("implicit", "  - name: direction\n    value: input\n"),
        ),
        (
            "d.yaml",
            cron("outputonly", "  - name: direction\n    value: output\n"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = resources(&files);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    assert!(
        !app.posts_within("/notallowed", 1, Duration::from_secs(5))
            .await
            .is_empty(),
        "405 means subscribed"
    );
    assert!(
        !app.posts_within("/implicit", 1, Duration::from_secs(5))
            .await
            .is_empty(),
        "direction: input skips the probe"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        app.requests_to(&Method::POST, "/unsubscribed").is_empty(),
        "404 means not subscribed"
    );
    assert!(
        app.requests_to(&Method::OPTIONS, "/implicit").is_empty(),
        "no probe with direction: input"
    );
    assert!(
        app.requests().iter().all(|r| r.path != "/outputonly"),
        "direction: output never reads"
    );
    let metadata: Value = sidecar.get("/v1.0/metadata").await.json_text().await;
    let caps: Vec<(String, Value)> = metadata["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c.get("capabilities").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert!(
        caps.contains(&("implicit".into(), json!(["INPUT_BINDING"]))),
        "{caps:?}"
    );
    assert!(
        caps.contains(&("outputonly".into(), Value::Null)),
        "{caps:?}"
    );
}

trait JsonText {
    async fn json_text(self) -> Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

#[tokio::test]
async fn delivery_waits_for_an_app_that_starts_late() {
    let app_port = free_port();
    let dir = resources(&[("c.yaml", &cron("late", ""))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_port)
        .spawn()
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let app = TestApp::start_on(app_port).await;
    sidecar.wait_ready().await;
    assert!(
        !app.posts_within("/late", 1, Duration::from_secs(5))
            .await
            .is_empty(),
        "{}",
        sidecar.output()
    );
}

#[tokio::test]
async fn app_failures_are_reported_and_the_sidecar_keeps_delivering() {
    let app = TestApp::start().await;
    app.respond(Method::POST, "/flaky", &[500, 500, 204]);
    let dir = resources(&[("c.yaml", &cron("flaky", ""))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    assert!(
        app.posts_within("/flaky", 3, Duration::from_secs(8))
            .await
            .len()
            >= 3
    );
    assert!(
        sidecar
            .output()
            .contains("fails to send binding event to http app channel, status code: 500"),
        "{}",
        sidecar.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_delivery_finish() {
    let app = TestApp::start().await;
    app.set_delay(Duration::from_millis(1500));
    let dir = resources(&[("c.yaml", &cron("slow", ""))]);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    eventually(Duration::from_secs(5), || async {
        (app.in_flight() > 0).then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no delivery in flight: {:?}\n{}",
            app.requests(),
            sidecar.output()
        )
    });
    let started = std::time::Instant::now();
    let status = sidecar.terminate();
    assert!(status.success(), "{status}\n{}", sidecar.output());
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "shutdown must wait for the in-flight event"
    );
    assert_eq!(app.in_flight(), 0, "the delivery finished before exit");
}

#[tokio::test]
async fn unhealthy_app_pauses_delivery_until_it_recovers() {
    let app = TestApp::start().await;
    app.respond(Method::GET, "/healthz", &[500]);
    let dir = resources(&[("c.yaml", &cron("gated", ""))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .args([
            "--enable-app-health-check",
            "--app-health-probe-interval",
            "200ms",
            "--app-health-threshold",
            "1",
        ])
        .spawn()
        .await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(
        app.requests_to(&Method::POST, "/gated").is_empty(),
        "no delivery while unhealthy"
    );
    assert!(
        !app.requests_to(&Method::GET, "/healthz").is_empty(),
        "health was probed"
    );
    // Output bindings keep working while the app is unhealthy.
    let r = sidecar.invoke("nothing", json!({"operation": "get"})).await;
    assert_eq!(r.status(), 500);
    app.respond(Method::GET, "/healthz", &[200]);
    assert!(
        !app.posts_within("/gated", 1, Duration::from_secs(5))
            .await
            .is_empty(),
        "{}",
        sidecar.output()
    );
}

#[tokio::test]
async fn localstorage_round_trip_with_daprd_statuses_and_quoting() {
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[("f.yaml", &components::localstorage("files", root.path()))]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;

    let r = sidecar.invoke("files", json!({"operation": "create", "data": "hello world", "metadata": {"fileName": "a.txt"}})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"fileName":"a.txt"}"#);
    assert_eq!(
        std::fs::read_to_string(root.path().join("a.txt")).unwrap(),
        "hello world",
        "localstorage unquotes"
    );

    let r = sidecar.invoke("files", json!({"operation": "create", "data": {"b": 1, "a": "<"}, "metadata": {"fileName": "o.json"}})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        std::fs::read_to_string(root.path().join("o.json")).unwrap(),
        r#"{"a":"\u003c","b":1}"#,
        "data re-encoded like Go"
    );

    let r = sidecar
        .invoke(
            "files",
            json!({"operation": "get", "metadata": {"fileName": "a.txt"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello world");

    let r = sidecar.invoke("files", json!({"operation": "list"})).await;
    assert_eq!(r.status(), 200);
    let listed: Value = r.json_text().await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    let r = sidecar
        .invoke(
            "files",
            json!({"operation": "delete", "metadata": {"fileName": "a.txt"}}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(r.text().await.unwrap().is_empty());

    let r = sidecar
        .invoke(
            "files",
            json!({"operation": "get", "metadata": {"fileName": "a.txt"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let v: Value = r.json_text().await;
    assert_eq!(v["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("error invoking output binding files: file not found:"),
        "{v}"
    );

    let r = sidecar
        .invoke("files", json!({"operation": "explode"}))
        .await;
    assert_eq!(r.status(), 500);
    let v: Value = r.json_text().await;
    assert_eq!(
        v["message"],
        "error invoking output binding files: binding files does not support operation explode. supported operations:create get delete list"
    );

    let r = sidecar
        .invoke(
            "files",
            json!({"operation": "create", "data": "x", "metadata": {"fileName": "../escape.txt"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    assert!(!root.path().parent().unwrap().join("escape.txt").exists());
}

#[tokio::test]
async fn http_binding_errors_carry_response_metadata_headers() {
    let upstream = TestApp::start().await;
    upstream.respond(Method::POST, "/call", &[404]);
    let component = components::http("api", &format!("http://127.0.0.1:{}", upstream.port));
    let dir = resources(&[("h.yaml", &component)]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let r = sidecar
        .invoke(
            "api",
            json!({"operation": "post", "data": {"x": 1}, "metadata": {"path": "/call"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["metadata.statuscode"], "404");
    let v: Value = r.json_text().await;
    assert_eq!(
        v["message"],
        "error invoking output binding api: received status code 404"
    );
    let r = sidecar
        .invoke(
            "api",
            json!({"operation": "get", "metadata": {"path": "/ok"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["metadata.statuscode"], "200");
    assert_eq!(
        upstream.requests_to(&Method::POST, "/call")[0]
            .body
            .as_ref(),
        br#"{"x":1}"#
    );
}
