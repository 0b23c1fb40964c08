//! The official Dapr Python SDK against the real binary: `DaprClient` over gRPC (it first waits
//! on HTTP `/v1.0/healthz/outbound`) and a `dapr.ext.grpc.App` receiving input-binding events
//! over gRPC. The SDK is installed by scripts/install-sdks.sh at pinned versions.

#[path = "sdk/support.rs"]
mod support;

use std::time::Duration;

use bindery_testkit::{Sidecar, eventually, free_port, resources};
use serde_json::{Value, json};
use tokio::process::Command;

use support::{AppProcess, BIN, cron, localstorage, read_events, run_for_result, script, sdk};

fn python(sdk: &std::path::Path, script_name: &str) -> Command {
    let mut command = Command::new(sdk.join("bin/python"));
    command
        .arg(script(&format!("python/{script_name}")))
        .env("PYTHONUNBUFFERED", "1")
        .env("DAPR_RUNTIME_HOST", "127.0.0.1")
        .env_remove("DAPR_API_TOKEN")
        .env_remove("DAPR_GRPC_ENDPOINT")
        .env_remove("DAPR_HTTP_ENDPOINT");
    command
}

#[tokio::test]
async fn python_client_invokes_bindings_and_reads_metadata_over_grpc() {
    let Some(sdk) = sdk("python") else { return };
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[("files.yaml", &localstorage("files", root.path()))]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;

    let mut command = python(&sdk, "client_bindings.py");
    command
        .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .env("BINDING", "files");
    let out = run_for_result(command, Duration::from_secs(90)).await;

    // What reached the component: the bytes exactly as sent, no JSON quoting or re-encoding.
    assert_eq!(
        std::fs::read_to_string(root.path().join("py.txt")).unwrap(),
        "hello from python"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("raw.json")).unwrap(),
        r#"{"raw": true}"#
    );

    // What the SDK got back.
    assert_eq!(out["create"]["text"], r#"{"fileName":"py.txt"}"#, "{out}");
    assert_eq!(out["create_bytes"]["text"], r#"{"fileName":"raw.json"}"#);
    assert_eq!(out["get"]["text"], "hello from python");
    assert_eq!(
        out["unknown"]["error"],
        json!({"code": "INTERNAL", "details": "error invoking output binding nope: couldn't find output binding nope"})
    );
    assert_eq!(
        out["unsupported"]["error"],
        json!({"code": "INTERNAL", "details": "error invoking output binding files: binding files does not support operation explode. supported operations:create get delete list"})
    );
    assert_eq!(out["missing_file"]["error"]["code"], "INTERNAL");
    assert!(
        out["missing_file"]["error"]["details"]
            .as_str()
            .unwrap()
            .starts_with("error invoking output binding files: file not found: "),
        "{out}"
    );
    assert_eq!(out["metadata"]["application_id"], "testapp");
    assert_eq!(
        out["metadata"]["components"],
        json!([{"name": "files", "type": "bindings.localstorage", "capabilities": ["OUTPUT_BINDING"]}])
    );
    assert!(out["metadata"]["extended"]["daprRuntimeVersion"].is_string());
    assert_eq!(out["extended_after_set"]["pythonKey"], "pythonValue");

    // The same value is visible over HTTP: one runtime behind both APIs.
    let http = sidecar.get("/v1.0/metadata").await.text().await.unwrap();
    let http: Value = serde_json::from_str(&http).unwrap();
    assert_eq!(http["extended"]["pythonKey"], "pythonValue");
}

#[tokio::test]
async fn python_client_sends_dapr_api_token_and_a_wrong_one_is_refused() {
    let Some(sdk) = sdk("python") else { return };
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[("files.yaml", &localstorage("files", root.path()))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .env("DAPR_API_TOKEN", "py-secret")
        .spawn()
        .await;

    for (token, expect_ok) in [("py-secret", true), ("wrong", false)] {
        let mut command = python(&sdk, "client_bindings.py");
        command
            .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
            .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
            .env("DAPR_API_TOKEN", token)
            .env("BINDING", "files");
        let out = run_for_result(command, Duration::from_secs(90)).await;
        if expect_ok {
            assert_eq!(out["create"]["text"], r#"{"fileName":"py.txt"}"#, "{out}");
            assert_eq!(out["metadata"]["application_id"], "testapp");
        } else {
            assert_eq!(
                out["create"]["error"],
                json!({"code": "UNAUTHENTICATED", "details": "Unauthorized"}),
                "{out}"
            );
            assert_eq!(out["metadata"]["error"]["code"], "UNAUTHENTICATED");
        }
    }
}

#[tokio::test]
async fn python_grpc_app_receives_input_binding_events() {
    let Some(sdk) = sdk("python") else { return };
    let work = tempfile::tempdir().unwrap();
    let events = work.path().join("events.jsonl");
    let app_port = free_port();
    let mut command = python(&sdk, "app_binding.py");
    command
        .env("APP_PORT", app_port.to_string())
        .env("OUT", &events)
        .env("BINDING", "ticker")
        .env("FAILING", "failing");
    let mut app = AppProcess::spawn(command, work.path().join("app.log"));

    let dir = resources(&[
        ("ticker.yaml", &cron("ticker")),
        ("failing.yaml", &cron("failing")),
        ("unlisted.yaml", &cron("unlisted")),
    ]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_port)
        .args(["--app-protocol", "grpc"])
        .env("APP_API_TOKEN", "app-secret")
        .spawn()
        .await;

    let delivered = eventually(Duration::from_secs(30), || {
        let events = read_events(&events);
        let ticks = events.iter().filter(|e| e["binding"] == "ticker").count();
        let failures = events.iter().filter(|e| e["binding"] == "failing").count();
        async move { (ticks >= 3 && failures >= 2).then_some(events) }
    })
    .await;
    let Some(events) = delivered else {
        panic!(
            "the Python app did not get events (app exited: {}):\napp:\n{}\nsidecar:\n{}",
            app.exited(),
            app.log(),
            sidecar.output()
        );
    };

    let tick = events.iter().find(|e| e["binding"] == "ticker").unwrap();
    assert_eq!(tick["text"], "", "cron has no payload");
    // The component's metadata arrives unchanged: keys keep their case.
    let metadata = tick["binding_metadata"].as_object().unwrap();
    assert!(metadata.contains_key("timeZone"), "{tick}");
    assert!(metadata.contains_key("readTimeUTC"), "{tick}");
    assert_eq!(tick["token"], "app-secret", "APP_API_TOKEN reaches the app");
    assert!(
        events.iter().all(|e| e["binding"] != "unlisted"),
        "a binding the app did not list is never delivered"
    );

    let output = sidecar.output();
    assert!(
        output.contains("app has not subscribed to binding unlisted"),
        "{output}"
    );
    // The handler that raises becomes an error status; the sidecar reports it and carries on.
    assert!(
        output.contains("error invoking app: rpc error: code = Unknown"),
        "{output}"
    );
    let r = sidecar.get("/v1.0/healthz").await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn python_grpc_app_over_tls_with_app_protocol_grpcs() {
    let Some(sdk) = sdk("python") else { return };
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = (work.path().join("cert.pem"), work.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not-this-host"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl to make a self-signed certificate");
    assert!(made.status.success(), "{made:?}");

    let events = work.path().join("events.jsonl");
    let app_port = free_port();
    let mut command = python(&sdk, "app_binding.py");
    command
        .env("APP_PORT", app_port.to_string())
        .env("OUT", &events)
        .env("BINDING", "ticker")
        .env("FAILING", "failing")
        .env("TLS_CERT", &cert)
        .env("TLS_KEY", &key);
    let mut app = AppProcess::spawn(command, work.path().join("app.log"));

    let dir = resources(&[("ticker.yaml", &cron("ticker"))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_port)
        .args(["--app-protocol", "grpcs"])
        .spawn()
        .await;
    // The certificate is self-signed and names another host: like daprd, bindery does not
    // verify it.
    let delivered = eventually(Duration::from_secs(30), || {
        let n = read_events(&events).len();
        async move { (n >= 2).then_some(()) }
    })
    .await;
    assert!(
        delivered.is_some(),
        "no events over TLS (app exited: {}):\napp:\n{}\nsidecar:\n{}",
        app.exited(),
        app.log(),
        sidecar.output()
    );
}
