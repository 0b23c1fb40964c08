//! The official Dapr JS SDK (@dapr/dapr) against the real binary: `DaprClient` over HTTP and
//! over gRPC, and `DaprServer` receiving input-binding events over HTTP and over gRPC. The SDK
//! is installed by scripts/install-sdks.sh at a pinned version.

#[path = "sdk/support.rs"]
mod support;

use std::time::Duration;

use bindery_testkit::{Sidecar, eventually, free_port, resources};
use serde_json::json;
use tokio::process::Command;

use support::{AppProcess, BIN, cron, localstorage, read_events, run_for_result, script, sdk};

fn node(sdk: &std::path::Path, script_name: &str, protocol: &str, dapr_port: u16) -> Command {
    let mut command = Command::new("node");
    command
        .arg(script(&format!("js/{script_name}")))
        .env("NODE_PATH", sdk.join("node_modules"))
        .env("PROTOCOL", protocol)
        .env("DAPR_PORT", dapr_port.to_string())
        .env_remove("DAPR_API_TOKEN")
        .env_remove("DAPR_HTTP_PORT")
        .env_remove("DAPR_GRPC_PORT");
    command
}

#[tokio::test]
async fn js_client_invokes_bindings_over_http_and_grpc() {
    let Some(sdk) = sdk("js") else { return };
    for protocol in ["http", "grpc"] {
        let root = tempfile::tempdir().unwrap();
        let dir = resources(&[("files.yaml", &localstorage("files", root.path()))]);
        let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
        let port = if protocol == "http" {
            sidecar.http_port
        } else {
            sidecar.grpc_port
        };
        let mut command = node(&sdk, "client_bindings.js", protocol, port);
        command.env("BINDING", "files");
        let out = run_for_result(command, Duration::from_secs(90)).await;

        // What reached the component.
        assert_eq!(
            std::fs::read_to_string(root.path().join("js.txt")).unwrap(),
            "hello from js",
            "{protocol}: localstorage unquotes over HTTP; gRPC sends the raw UTF-8"
        );
        let object = std::fs::read_to_string(root.path().join("obj.json")).unwrap();
        if protocol == "http" {
            // daprd re-encodes HTTP `data` as Go does: sorted keys, HTML escaping.
            assert_eq!(object, r#"{"a":"\u003c","b":1}"#);
        } else {
            // gRPC data is passed byte for byte: JSON.stringify's output.
            assert_eq!(object, r#"{"b":1,"a":"<"}"#);
        }

        // What the SDK got back.
        if protocol == "http" {
            assert_eq!(out["create"]["ok"], json!({"fileName": "js.txt"}), "{out}");
            assert_eq!(out["get"]["ok"], "hello from js");
            for (case, message) in [
                (
                    "unknown",
                    "error invoking output binding nope: couldn't find output binding nope",
                ),
                (
                    "unsupported",
                    "error invoking output binding files: binding files does not support operation explode. supported operations:create get delete list",
                ),
            ] {
                let error: serde_json::Value =
                    serde_json::from_str(out[case]["error"].as_str().unwrap()).unwrap();
                assert_eq!(error["status"], 500, "{out}");
                let body: serde_json::Value =
                    serde_json::from_str(error["error_msg"].as_str().unwrap()).unwrap();
                assert_eq!(
                    body,
                    json!({"errorCode": "ERR_INVOKE_OUTPUT_BINDING", "message": message})
                );
            }
        } else {
            assert_eq!(
                out["create"]["ok"],
                json!({"data": r#"{"fileName":"js.txt"}"#, "metadata": {}, "operation": "create"}),
                "{out}"
            );
            assert_eq!(out["get"]["ok"]["data"], "hello from js");
            assert_eq!(
                out["unknown"]["error"],
                "[internal] error invoking output binding nope: couldn't find output binding nope"
            );
            assert_eq!(
                out["unsupported"]["error"],
                "[internal] error invoking output binding files: binding files does not support operation explode. supported operations:create get delete list"
            );
        }
        assert_eq!(
            out["metadata"],
            json!({"id": "testapp", "components": [{"name": "files", "type": "bindings.localstorage", "capabilities": ["OUTPUT_BINDING"]}]}),
            "{protocol}"
        );
    }
}

#[tokio::test]
async fn js_server_receives_input_binding_events_over_http_and_grpc() {
    let Some(sdk) = sdk("js") else { return };
    for protocol in ["http", "grpc"] {
        let work = tempfile::tempdir().unwrap();
        let events = work.path().join("events.jsonl");
        let app_port = free_port();
        // The JS gRPC server lists its bindings lower-cased, so the component name is too.
        let dir = resources(&[
            ("ticker.yaml", &cron("ticker")),
            ("unlisted.yaml", &cron("unlisted")),
        ]);
        let sidecar = Sidecar::builder(BIN)
            .resources(dir.path())
            .app_port(app_port)
            .args(["--app-protocol", protocol])
            .spawn()
            .await;
        let port = if protocol == "http" {
            sidecar.http_port
        } else {
            sidecar.grpc_port
        };
        let mut command = node(&sdk, "server_bindings.js", protocol, port);
        command
            .env("APP_PORT", app_port.to_string())
            .env("BINDING", "ticker")
            .env("OUT", &events);
        let mut app = AppProcess::spawn(command, work.path().join("app.log"));

        let delivered = eventually(Duration::from_secs(30), || {
            let events = read_events(&events);
            async move { (events.len() >= 2).then_some(events) }
        })
        .await;
        let Some(events) = delivered else {
            panic!(
                "{protocol}: the JS app did not get events (exited: {}):\napp:\n{}\nsidecar:\n{}",
                app.exited(),
                app.log(),
                sidecar.output()
            );
        };
        assert!(events.iter().all(|e| e["binding"] == "ticker"));
        // Cron has no payload: over HTTP body-parser turns the empty body into {}, over gRPC
        // the SDK hands over the empty string.
        let expected = if protocol == "http" {
            json!({})
        } else {
            json!("")
        };
        assert_eq!(events[0]["data"], expected, "{protocol}");
        let output = sidecar.output();
        assert!(
            output.contains("app has not subscribed to binding unlisted"),
            "{protocol}: {output}"
        );
    }
}
