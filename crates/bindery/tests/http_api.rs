//! The HTTP API of the real binary: errors, health, metadata, tokens, shutdown, start-up.

use std::time::Duration;

use bindery_testkit::{Sidecar, TestApp, free_port, resources};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

const SECRET_STORE: &str = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: envs\nspec:\n  type: secretstores.local.env\n  version: v1\n";

async fn json_body(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn unknown_binding_bad_json_and_unmatched_routes_get_daprd_errors() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;

    let r = sidecar
        .invoke("nope", json!({"operation": "create", "data": 1}))
        .await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        json_body(r).await,
        json!({"errorCode": "ERR_INVOKE_OUTPUT_BINDING", "message": "error invoking output binding nope: couldn't find output binding nope"})
    );

    let r = sidecar.invoke("nope", json!({"data": 1})).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        json_body(r).await["message"],
        "error invoking output binding nope: operation field is missing from request"
    );

    for body in [
        "not json",
        "",
        r#"{"operation":"create","metadata":{"ttlInSeconds":60}}"#,
    ] {
        let r = sidecar
            .client
            .post(sidecar.url("/v1.0/bindings/x"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "body {body:?}");
        let v = json_body(r).await;
        assert_eq!(v["errorCode"], "ERR_MALFORMED_REQUEST");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("failed deserializing HTTP body: "),
            "{v}"
        );
    }

    // Content-Type is not checked: curl's form type still works.
    let r = sidecar
        .client
        .put(sidecar.url("/v1.0/bindings/nope"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"operation":"get"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);

    for (method, path) in [
        ("GET", "/v1.0/bindings/x"),
        ("POST", "/v1.0/bindings/"),
        ("POST", "/v1.0/nothing"),
    ] {
        let r = sidecar
            .client
            .request(method.parse().unwrap(), sidecar.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
        assert_eq!(json_body(r).await["errorCode"], "ERR_DIRECT_INVOKE");
    }
}

#[tokio::test]
async fn bodies_over_max_body_size_are_refused_and_the_sidecar_keeps_serving() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--max-body-size", "1Ki"])
        .spawn()
        .await;
    let big = format!(r#"{{"operation":"create","data":"{}"}}"#, "x".repeat(4096));
    let r = sidecar
        .client
        .post(sidecar.url("/v1.0/bindings/x"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json_body(r).await["errorCode"], "ERR_MALFORMED_REQUEST");
    let r = sidecar.get("/v1.0/healthz").await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn metadata_lists_components_and_extended_values() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--app-max-concurrency", "3"])
        .spawn()
        .await;
    let r = sidecar.get("/v1.0/metadata").await;
    assert_eq!(r.status(), 200);
    let v = json_body(r).await;
    assert_eq!(v["id"], "testapp");
    assert_eq!(
        v["components"],
        json!([{"name": "envs", "type": "secretstores.local.env", "version": "v1", "state": "running"}])
    );
    assert_eq!(v["appConnectionProperties"]["protocol"], "http");
    assert_eq!(v["appConnectionProperties"]["channelAddress"], "127.0.0.1");
    assert_eq!(v["appConnectionProperties"]["maxConcurrency"], 3);
    assert!(v["extended"]["daprRuntimeVersion"].is_string());

    let r = sidecar
        .client
        .put(sidecar.url("/v1.0/metadata/owner"))
        .body("team-a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let v = json_body(sidecar.get("/v1.0/metadata").await).await;
    assert_eq!(v["extended"]["owner"], "team-a");
}

#[tokio::test]
async fn api_token_is_required_except_for_health() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .env("DAPR_API_TOKEN", "s3cret")
        .spawn()
        .await;
    let r = sidecar.get("/v1.0/metadata").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "invalid api token\n");
    let r = sidecar
        .client
        .get(sidecar.url("/v1.0/metadata"))
        .header("dapr-api-token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = sidecar
        .client
        .get(sidecar.url("/v1.0/metadata"))
        .header("dapr-api-token", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = sidecar.invoke("nope", json!({"operation": "get"})).await;
    assert_eq!(r.status(), 401);
    for path in ["/v1.0/healthz", "/v1.0/healthz/outbound"] {
        let r = sidecar.client.get(sidecar.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 204, "{path}");
    }
    assert!(
        !sidecar.output().contains("s3cret"),
        "the token must never be logged"
    );
}

#[tokio::test]
async fn readiness_waits_for_the_app_port_but_outbound_does_not() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let app_port = free_port();
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_port)
        .spawn()
        .await;
    let r = sidecar.get("/v1.0/healthz/outbound").await;
    assert_eq!(r.status(), 204);
    let r = sidecar.get("/v1.0/healthz").await;
    assert_eq!(r.status(), 500);
    let v = json_body(r).await;
    assert_eq!(v["errorCode"], "ERR_HEALTH_NOT_READY");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("dapr is not ready"),
        "{v}"
    );

    let _app = TestApp::start_on(app_port).await;
    sidecar.wait_ready().await;
    let r = sidecar.get("/v1.0/healthz?appid=other").await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        json_body(r).await["errorCode"],
        "ERR_HEALTH_APPID_NOT_MATCH"
    );
    let r = sidecar.get("/v1.0/healthz?appid=testapp").await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn shutdown_endpoint_and_sigterm_exit_cleanly() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let mut sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let r = sidecar
        .client
        .post(sidecar.url("/v1.0/shutdown"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let status = sidecar.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");

    let mut sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let status = sidecar.terminate();
    assert!(status.success(), "{status}");
    assert!(
        sidecar.output().contains("stopping input bindings first"),
        "{}",
        sidecar.output()
    );
}

#[tokio::test]
async fn start_up_failures_name_the_file_component_field_and_cause() {
    let unknown = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: weird\nspec:\n  type: bindings.doesnotexist\n  version: v1\n";
    let dir = resources(&[("bad.yaml", unknown)]);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .no_wait()
        .spawn()
        .await;
    let status = sidecar.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    let out = sidecar.output();
    assert!(
        out.contains("bad.yaml")
            && out.contains("\"weird\"")
            && out.contains("spec.type")
            && out.contains("couldn't find binding weird"),
        "{out}"
    );

    let ignored = unknown.replace("  version: v1\n", "  version: v1\n  ignoreErrors: true\n");
    let dir = resources(&[("bad.yaml", &ignored)]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let r = sidecar.get("/v1.0/healthz").await;
    assert_eq!(r.status(), 204);

    let duplicate = format!("{SECRET_STORE}---\n{SECRET_STORE}");
    let dir = resources(&[("dup.yaml", &duplicate)]);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .no_wait()
        .spawn()
        .await;
    assert!(!sidecar.wait_exit(Duration::from_secs(10)).success());
    assert!(
        sidecar
            .output()
            .contains("duplicate definition of Component name envs"),
        "{}",
        sidecar.output()
    );

    let mut sidecar = Sidecar::builder(BIN)
        .args(["--resources-path", "/nonexistent/bindery-components"])
        .no_wait()
        .spawn()
        .await;
    assert!(!sidecar.wait_exit(Duration::from_secs(10)).success());
    assert!(
        sidecar.output().contains("/nonexistent/bindery-components"),
        "{}",
        sidecar.output()
    );
}

#[tokio::test]
async fn daprd_flags_in_single_dash_form_and_ignored_flags_are_accepted() {
    let dir = resources(&[("s.yaml", SECRET_STORE)]);
    let sidecar = Sidecar::builder(BIN)
        .args(["-components-path", &dir.path().display().to_string()])
        .args([
            "--placement-host-address",
            "localhost:50005",
            "--enable-mtls",
            "-profile-port",
            "7777",
            "--log-as-json",
        ])
        .spawn()
        .await;
    let v = json_body(sidecar.get("/v1.0/metadata").await).await;
    assert_eq!(v["components"][0]["name"], "envs");
    let first_line = sidecar
        .output()
        .lines()
        .find(|l| l.contains("Starting bindery"))
        .unwrap_or_default()
        .to_owned();
    let parsed: Value = serde_json::from_str(&first_line)
        .unwrap_or_else(|e| panic!("--log-as-json line is not JSON ({e}): {first_line}"));
    assert_eq!(parsed["level"], "INFO");
}

#[tokio::test]
async fn secret_stores_env_refs_and_templates_feed_component_metadata() {
    let upstream = TestApp::start().await;
    let secrets_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets_file.path(),
        format!(
            r#"{{"upstream": {{"url": "http://127.0.0.1:{}"}}}}"#,
            upstream.port
        ),
    )
    .unwrap();
    let files = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: filesecrets\nspec:\n  type: secretstores.local.file\n  metadata:\n  - name: secretsFile\n    value: {}\n---\n{SECRET_STORE}---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: api\nspec:\n  type: bindings.http\n  metadata:\n  - name: url\n    secretKeyRef:\n      name: \"upstream:url\"\n  - name: securityToken\n    envRef: BINDERY_TEST_TOKEN\n  - name: securityTokenHeader\n    value: X-Caller-{{appID}}\nauth:\n  secretStore: filesecrets\n---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: api2\nspec:\n  type: bindings.http\n  metadata:\n  - name: url\n    value: http://127.0.0.1:1\n  - name: securityToken\n    secretKeyRef:\n      name: BINDERY_TEST_TOKEN\n  - name: securityTokenHeader\n    value: X-Env\nauth:\n  secretstore: envs\n",
        secrets_file.path().display()
    );
    let dir = resources(&[("all.yaml", &files)]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .env("BINDERY_TEST_TOKEN", "tok-123")
        .spawn()
        .await;
    let r = sidecar
        .invoke(
            "api",
            json!({"operation": "get", "metadata": {"path": "/hello"}}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", sidecar.output());
    let seen = upstream.requests_to(&reqwest::Method::GET, "/hello");
    assert_eq!(seen.len(), 1, "the url came from the file secret store");
    assert_eq!(
        seen[0].header("x-caller-testapp"),
        Some("tok-123"),
        "envRef and {{appID}} resolved"
    );
    let v = json_body(sidecar.get("/v1.0/metadata").await).await;
    let names: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["filesecrets", "envs", "api", "api2"],
        "secret stores initialise first"
    );
}

#[tokio::test]
async fn a_component_that_hangs_past_its_init_timeout_stops_start_up() {
    // A listener that accepts and never answers: the PostgreSQL handshake hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let component = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: db\nspec:\n  type: bindings.postgres\n  initTimeout: 1s\n  metadata:\n  - name: connectionString\n    value: \"host=127.0.0.1 port={port} user=postgres dbname=test\"\n"
    );
    let dir = resources(&[("db.yaml", &component)]);
    let started = std::time::Instant::now();
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .no_wait()
        .spawn()
        .await;
    let status = sidecar.wait_exit(Duration::from_secs(15));
    assert!(!status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 1s initTimeout applied, not the driver's 20s"
    );
    assert!(
        sidecar
            .output()
            .contains("init timeout for component db exceeded"),
        "{}",
        sidecar.output()
    );
    drop(silent);
}
