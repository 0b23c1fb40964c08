//! Observability of the real binary: Prometheus metrics under daprd's names and tags, W3C trace
//! context through output calls (HTTP and gRPC API) and input deliveries, spans exported over
//! OTLP/HTTP to a receiver in the test, component state in the metadata and readiness, and
//! JSON logs.

use std::collections::HashMap;
use std::time::Duration;

use bindery_api::otlp::{ExportTraceServiceRequest, Span};
use bindery_api::proto::runtime::dapr_client::DaprClient;
use bindery_api::proto::runtime::{GetMetadataRequest, InvokeBindingRequest};
use bindery_testkit::{Sidecar, TestApp, components, eventually, free_port, resources};
use prost::Message;
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

fn component(name: &str, ty: &str, metadata: &[(&str, &str)], extra_spec: &str) -> String {
    components::component_with(name, ty, extra_spec, metadata)
}

fn cron(name: &str) -> String {
    components::cron(name, "@every 1s")
}

fn localstorage(root: &std::path::Path) -> String {
    components::localstorage("files", root)
}

/// A Configuration sampling every trace and exporting over OTLP/HTTP to `port`.
fn tracing_config(dir: &std::path::Path, otlp_port: Option<u16>) -> String {
    let mut text = "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: tracing\nspec:\n  tracing:\n    samplingRate: \"1\"\n".to_owned();
    if let Some(port) = otlp_port {
        text.push_str(&format!(
            "    otel:\n      endpointAddress: 127.0.0.1:{port}\n      isSecure: false\n      protocol: http\n"
        ));
    }
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The sample value of the metric line with exactly this name and these labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Spans the OTLP receiver (a recording app answering 200) got so far.
fn received_spans(receiver: &TestApp) -> Vec<Span> {
    receiver
        .requests_to(&Method::POST, "/v1/traces")
        .iter()
        .flat_map(|r| {
            assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
            let request = ExportTraceServiceRequest::decode(r.body.as_ref()).expect("OTLP body");
            request
                .resource_spans
                .into_iter()
                .flat_map(|rs| rs.scope_spans)
                .flat_map(|ss| ss.spans)
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn span_named(receiver: &TestApp, name: &str, trace_id: &str) -> Option<Span> {
    eventually(Duration::from_secs(10), || async {
        received_spans(receiver)
            .into_iter()
            .find(|s| s.name == name && hex(&s.trace_id) == trace_id)
    })
    .await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (trace id, parent id) of a `traceparent` value.
fn split(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn metrics_show_output_calls_and_cron_deliveries_with_daprd_names_and_tags() {
    let app = TestApp::start().await;
    // The first delivery fails, the rest succeed.
    app.respond(Method::POST, "/tick", &[500, 200]);
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[
        ("c.yaml", &cron("tick")),
        ("f.yaml", &localstorage(root.path())),
    ]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .env("NAMESPACE", "obs-ns")
        .spawn()
        .await;
    for i in 0..3 {
        let r = sidecar
            .invoke(
                "files",
                json!({"operation": "create", "data": "x", "metadata": {"fileName": format!("f{i}")}}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = sidecar
        .invoke(
            "files",
            json!({"operation": "get", "metadata": {"fileName": "missing"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    // Neither an unknown binding nor an undeclared operation makes a series.
    assert_eq!(
        sidecar
            .invoke("nope", json!({"operation": "create"}))
            .await
            .status(),
        500
    );
    assert_eq!(
        sidecar
            .invoke("files", json!({"operation": "bogus"}))
            .await
            .status(),
        500
    );

    let ok_series = "dapr_component_input_binding_count{app_id=\"testapp\",component=\"tick\",namespace=\"obs-ns\",success=\"true\"}";
    let text = eventually(Duration::from_secs(10), || async {
        let text = sidecar.scrape_metrics().await;
        (sample(&text, ok_series).unwrap_or_default() >= 2.0).then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("no deliveries counted:\n{}", sidecar.output()));

    let out = |op: &str, ok: &str| {
        format!(
            "dapr_component_output_binding_count{{app_id=\"testapp\",component=\"files\",namespace=\"obs-ns\",operation=\"{op}\",success=\"{ok}\"}}"
        )
    };
    assert_eq!(sample(&text, &out("create", "true")), Some(3.0), "{text}");
    assert_eq!(sample(&text, &out("get", "false")), Some(1.0), "{text}");
    assert!(text.contains("# TYPE dapr_component_output_binding_count counter"));
    assert!(text.contains("# TYPE dapr_component_output_binding_latencies histogram"));
    let latency = "dapr_component_output_binding_latencies_bucket{app_id=\"testapp\",component=\"files\",namespace=\"obs-ns\",operation=\"create\",success=\"true\",le=\"+Inf\"}";
    assert_eq!(sample(&text, latency), Some(3.0), "{text}");
    let first_bucket = "dapr_component_output_binding_latencies_bucket{app_id=\"testapp\",component=\"files\",namespace=\"obs-ns\",operation=\"create\",success=\"true\",le=\"1\"}";
    assert!(sample(&text, first_bucket).is_some(), "daprd's 1 ms bucket");
    assert!(!text.contains("nope"), "{text}");
    assert!(!text.contains("bogus"), "{text}");

    let failed = "dapr_component_input_binding_count{app_id=\"testapp\",component=\"tick\",namespace=\"obs-ns\",success=\"false\"}";
    assert_eq!(sample(&text, failed), Some(1.0), "{text}");
    assert!(text.contains("# TYPE dapr_component_input_binding_latencies histogram"));
    let failures = "bindery_component_input_binding_failures_total{app_id=\"testapp\",component=\"tick\",namespace=\"obs-ns\"}";
    assert_eq!(sample(&text, failures), Some(1.0), "{text}");
    let in_flight = "bindery_component_input_binding_in_flight{app_id=\"testapp\",component=\"tick\",namespace=\"obs-ns\"}";
    assert!(sample(&text, in_flight).is_some_and(|v| v <= 1.0), "{text}");
    // The failed delivery is logged with the component and the cause.
    let log = sidecar.output();
    assert!(
        log.contains("The app did not accept an event.") && log.contains("status code: 500"),
        "{log}"
    );
    assert!(
        log.contains("Output binding call failed.") && log.contains("operation"),
        "{log}"
    );
}

#[tokio::test]
async fn metrics_listener_follows_enable_metrics() {
    let dir = resources(&[]);
    let off = Sidecar::builder(BIN)
        .resources(dir.path())
        .arg("--enable-metrics=false")
        .spawn()
        .await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", off.metrics_port))
            .await
            .is_err(),
        "no metrics listener when disabled"
    );
    let on = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--metrics-listen-address", "127.0.0.1"])
        .spawn()
        .await;
    let r = on
        .client
        .get(format!("http://127.0.0.1:{}/metrics", on.metrics_port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
}

#[tokio::test]
async fn traceparent_flows_from_the_http_api_through_the_http_binding_and_is_exported() {
    let upstream = TestApp::start().await;
    let receiver = TestApp::start().await;
    let dir = resources(&[(
        "h.yaml",
        &components::http("up", &format!("http://127.0.0.1:{}/hook", upstream.port)),
    )]);
    let config = tracing_config(dir.path(), Some(receiver.port));
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--config", &config])
        .spawn()
        .await;
    let r = sidecar
        .client
        .post(sidecar.url("/v1.0/bindings/up"))
        .header("traceparent", traceparent())
        .header("tracestate", "vendor=1")
        .body(json!({"operation": "post", "data": {"a": 1}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", sidecar.output());
    let seen = upstream.requests_to(&Method::POST, "/hook");
    assert_eq!(seen.len(), 1);
    let (trace, parent) = split(seen[0].header("traceparent").expect("traceparent upstream"));
    assert_eq!(trace, TRACE_ID);
    assert_ne!(parent, PARENT_ID, "a child span, not the caller's");
    assert_eq!(seen[0].header("tracestate"), Some("vendor=1"));

    let span = span_named(&receiver, "bindings/up", TRACE_ID)
        .await
        .unwrap_or_else(|| panic!("no span exported:\n{}", sidecar.output()));
    assert_eq!(hex(&span.parent_span_id), PARENT_ID);
    assert_eq!(hex(&span.span_id), parent, "upstream's parent is our span");
    assert_eq!(span.trace_state, "vendor=1");
    assert_eq!(span.kind, bindery_api::otlp::SPAN_KIND_SERVER);
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(1));
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    let service: Vec<String> = receiver
        .requests_to(&Method::POST, "/v1/traces")
        .iter()
        .filter_map(|r| ExportTraceServiceRequest::decode(r.body.as_ref()).ok())
        .flat_map(|r| r.resource_spans)
        .filter_map(|rs| rs.resource)
        .flat_map(|r| r.attributes)
        .filter(|kv| kv.key == "service.name")
        .filter_map(|kv| kv.as_str().map(str::to_owned))
        .collect();
    assert!(service.iter().all(|s| s == "testapp") && !service.is_empty());
}

#[tokio::test]
async fn traceparent_flows_from_the_grpc_api_through_the_http_binding() {
    let upstream = TestApp::start().await;
    let dir = resources(&[(
        "h.yaml",
        &components::http("up", &format!("http://127.0.0.1:{}/hook", upstream.port)),
    )]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", sidecar.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = DaprClient::new(channel);
    let mut request = tonic::Request::new(InvokeBindingRequest {
        name: "up".into(),
        operation: "post".into(),
        data: b"{}".to_vec(),
        metadata: HashMap::new(),
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent().parse().unwrap());
    client.invoke_binding(request).await.expect("invoke");
    let seen = upstream.requests_to(&Method::POST, "/hook");
    assert_eq!(seen.len(), 1);
    let (trace, parent) = split(seen[0].header("traceparent").expect("traceparent upstream"));
    assert_eq!(trace, TRACE_ID);
    assert_ne!(parent, PARENT_ID);
    // Without sampling and without an incoming context nothing is invented.
    let mut request = tonic::Request::new(InvokeBindingRequest {
        name: "up".into(),
        operation: "post".into(),
        data: b"{}".to_vec(),
        metadata: HashMap::new(),
    });
    request.metadata_mut().insert("x", "y".parse().unwrap());
    client.invoke_binding(request).await.expect("invoke");
    let seen = upstream.requests_to(&Method::POST, "/hook");
    assert_eq!(seen[1].header("traceparent"), None);
}

#[tokio::test]
async fn cron_deliveries_start_traces_when_sampling_is_on() {
    let app = TestApp::start().await;
    let receiver = TestApp::start().await;
    let dir = resources(&[("c.yaml", &cron("tick"))]);
    let config = tracing_config(dir.path(), Some(receiver.port));
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .args(["--config", &config])
        .spawn()
        .await;
    let post = eventually(Duration::from_secs(10), || async {
        app.requests_to(&Method::POST, "/tick").into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no tick:\n{}", sidecar.output()));
    let (trace, parent) = split(post.header("traceparent").expect("traceparent to the app"));
    assert!(
        post.header("traceparent").unwrap().ends_with("-01"),
        "sampled"
    );
    let span = span_named(&receiver, "bindings/tick", &trace)
        .await
        .unwrap_or_else(|| panic!("no delivery span:\n{}", sidecar.output()));
    assert_eq!(hex(&span.span_id), parent);
    assert!(span.parent_span_id.is_empty(), "a new trace has no parent");
    assert_eq!(span.kind, bindery_api::otlp::SPAN_KIND_CLIENT);
}

/// The whole path through a queue: HTTP API → nats output (the context becomes a message
/// header) → nats input → the app, one trace with a new span at each hop.
#[tokio::test]
async fn a_trace_crosses_a_queue_from_output_call_to_app_delivery() {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let address = url.trim_start_matches("nats://").to_owned();
    if tokio::net::TcpStream::connect(&address).await.is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "nats not reachable at {address}"
        );
        eprintln!("SKIP: nats not reachable at {address}");
        return;
    }
    let subject = format!("obs-{}", free_port());
    let app = TestApp::start().await;
    let receiver = TestApp::start().await;
    let dir = resources(&[(
        "n.yaml",
        &component(
            "queue",
            "bindings.nats",
            &[("natsURL", &url), ("subject", &subject)],
            "",
        ),
    )]);
    let config = tracing_config(dir.path(), Some(receiver.port));
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .args(["--config", &config])
        .spawn()
        .await;
    // The subscription is up once the app was probed.
    eventually(Duration::from_secs(10), || async {
        (!app.requests_to(&Method::OPTIONS, "/queue").is_empty()).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("never probed:\n{}", sidecar.output()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = sidecar
        .client
        .post(sidecar.url("/v1.0/bindings/queue"))
        .header("traceparent", traceparent())
        .body(json!({"operation": "create", "data": "hi"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", sidecar.output());
    let post = eventually(Duration::from_secs(10), || async {
        app.requests_to(&Method::POST, "/queue").into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no event:\n{}", sidecar.output()));
    let (trace, app_parent) = split(post.header("traceparent").expect("traceparent"));
    assert_eq!(trace, TRACE_ID);
    span_named(&receiver, "bindings/queue", TRACE_ID)
        .await
        .expect("spans");
    let spans: Vec<Span> = received_spans(&receiver)
        .into_iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    let server = spans
        .iter()
        .find(|s| s.kind == bindery_api::otlp::SPAN_KIND_SERVER)
        .expect("output span");
    let delivery = eventually(Duration::from_secs(10), || async {
        received_spans(&receiver)
            .into_iter()
            .find(|s| hex(&s.trace_id) == TRACE_ID && s.kind == bindery_api::otlp::SPAN_KIND_CLIENT)
    })
    .await
    .expect("delivery span");
    assert_eq!(hex(&server.parent_span_id), PARENT_ID);
    assert_eq!(
        delivery.parent_span_id, server.span_id,
        "delivery under the output call"
    );
    assert_eq!(
        hex(&delivery.span_id),
        app_parent,
        "the app's parent is the delivery span"
    );
}

#[tokio::test]
async fn failed_components_show_in_metadata_without_failing_readiness() {
    let app = TestApp::start().await;
    let broken = component(
        "broken",
        "bindings.cron",
        &[("schedule", "not a schedule")],
        "  ignoreErrors: true\n",
    );
    let dir = resources(&[("b.yaml", &broken), ("c.yaml", &cron("tick"))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    let metadata: Value = sidecar
        .get("/v1.0/metadata")
        .await
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("metadata JSON"))
        .unwrap();
    let components = metadata["components"].as_array().unwrap();
    let find = |name: &str| {
        components
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {metadata}"))
    };
    let tick = find("tick");
    assert_eq!(tick["state"], "running");
    assert_eq!(tick["capabilities"], json!(["INPUT_BINDING"]));
    assert!(tick.get("error").is_none());
    let broken = find("broken");
    assert_eq!(broken["state"], "failed");
    assert_eq!(broken["type"], "bindings.cron");
    assert!(
        broken["error"].as_str().unwrap().contains("schedule"),
        "{broken}"
    );
    assert!(broken.get("capabilities").is_none());
    // ignoreErrors: the sidecar is still ready.
    let health = sidecar.get("/v1.0/healthz").await;
    assert_eq!(health.status(), 204);
    // The failure is a metric too.
    let text = sidecar.scrape_metrics().await;
    assert_eq!(
        sample(
            &text,
            "bindery_component_failed{app_id=\"testapp\",component=\"broken\",namespace=\"\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // gRPC's RegisteredComponents has no state field: only loaded components are listed.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", sidecar.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let listed = DaprClient::new(channel)
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap()
        .into_inner()
        .registered_components;
    let names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["tick"]);
}

#[tokio::test]
async fn every_log_line_is_json_with_log_as_json() {
    let app = TestApp::start().await;
    app.respond(Method::POST, "/tick", &[500]);
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[
        ("c.yaml", &cron("tick")),
        ("f.yaml", &localstorage(root.path())),
    ]);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .arg("--log-as-json")
        .spawn()
        .await;
    let _ = sidecar
        .invoke(
            "files",
            json!({"operation": "get", "metadata": {"fileName": "nope"}}),
        )
        .await;
    eventually(Duration::from_secs(10), || async {
        (!app.requests_to(&Method::POST, "/tick").is_empty()).then_some(())
    })
    .await
    .expect("a delivery");
    assert!(sidecar.terminate().success());
    let output = sidecar.output();
    let mut lines = 0;
    let mut warned = false;
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n---\n{output}"));
        assert!(
            value["level"].is_string() && value["message"].is_string(),
            "{line}"
        );
        if value["message"] == "Output binding call failed." {
            assert_eq!(value["component"], "files");
            assert_eq!(value["operation"], "get");
            assert!(value["cause"].is_string());
            warned = true;
        }
        lines += 1;
    }
    assert!(lines > 5, "{output}");
    assert!(warned, "{output}");
}

#[tokio::test]
async fn retries_and_dead_letters_are_counted() {
    let app = TestApp::start().await;
    app.respond(Method::POST, "/tick", &[500]);
    let root = tempfile::tempdir().unwrap();
    let tick = component(
        "tick",
        "bindings.cron",
        &[
            ("schedule", "@every 1s"),
            ("deliveryAttempts", "2"),
            ("deadLetterBinding", "files"),
        ],
        "",
    );
    let dir = resources(&[("c.yaml", &tick), ("f.yaml", &localstorage(root.path()))]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    let dead = "bindery_component_dead_letters_total{app_id=\"testapp\",component=\"tick\",namespace=\"\"}";
    let text = eventually(Duration::from_secs(15), || async {
        let text = sidecar.scrape_metrics().await;
        sample(&text, dead)
            .is_some_and(|v| v >= 1.0)
            .then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("no dead letter counted:\n{}", sidecar.output()));
    let retries = "bindery_component_retries_total{app_id=\"testapp\",component=\"tick\",direction=\"input\",namespace=\"\"}";
    assert!(sample(&text, retries).is_some_and(|v| v >= 1.0), "{text}");
    // The dead-letter write is an output call of `files`.
    let out = "dapr_component_output_binding_count{app_id=\"testapp\",component=\"files\",namespace=\"\",operation=\"create\",success=\"true\"}";
    assert!(sample(&text, out).is_some_and(|v| v >= 1.0), "{text}");
}
