//! The gRPC API and gRPC apps of the real binary, driven with raw tonic clients and a tonic app:
//! InvokeBinding (raw data, header merging, metadata headers, errors with ErrorInfo), metadata,
//! shutdown, tokens, reflection, bad input, and delivery to gRPC apps that misbehave.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery_api::proto::runtime::app_callback_health_check_server::{
    AppCallbackHealthCheck, AppCallbackHealthCheckServer,
};
use bindery_api::proto::runtime::app_callback_server::{AppCallback, AppCallbackServer};
use bindery_api::proto::runtime::binding_event_response::BindingEventConcurrency;
use bindery_api::proto::runtime::dapr_client::DaprClient;
use bindery_api::proto::runtime::{
    BindingEventRequest, BindingEventResponse, GetMetadataRequest, HealthCheckResponse,
    InvokeBindingRequest, ListInputBindingsResponse, SetMetadataRequest, ShutdownRequest,
};
use bindery_testkit::grpc::RawCodec;
use bindery_testkit::{Sidecar, TestApp, components, eventually, free_port, resources};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

async fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the gRPC API")
}

async fn client(sidecar: &Sidecar) -> DaprClient<Channel> {
    DaprClient::new(channel(sidecar.grpc_port).await)
}

fn invoke(
    name: &str,
    operation: &str,
    data: &[u8],
    metadata: &[(&str, &str)],
) -> InvokeBindingRequest {
    InvokeBindingRequest {
        name: name.to_owned(),
        operation: operation.to_owned(),
        data: data.to_vec(),
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn assert_invoke_error(status: &Status, message: &str) {
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.message(), message);
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo detail in {status:?}"));
    assert_eq!(info.reason, "ERR_INVOKE_OUTPUT_BINDING");
    assert_eq!(info.domain, "dapr.io");
}

async fn raw_call(port: u16, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel(port).await);
    grpc.ready().await.expect("channel ready");
    grpc.unary(
        Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(Response::into_inner)
}

#[tokio::test]
async fn invoke_binding_hands_data_over_raw_and_answers_like_daprd() {
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[(
        "files.yaml",
        &components::localstorage("files", root.path()),
    )]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let mut dapr = client(&sidecar).await;

    // Bytes that are neither UTF-8 nor JSON reach the component unchanged; a JSON string keeps
    // its quotes (no HTTP-style re-encoding on the gRPC path).
    let binary = b"\x00\x01 not json \xff".to_vec();
    let r = dapr
        .invoke_binding(invoke(
            "files",
            "create",
            &binary,
            &[("fileName", "bin.dat")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.data, br#"{"fileName":"bin.dat"}"#);
    assert!(r.metadata.is_empty());
    assert_eq!(std::fs::read(root.path().join("bin.dat")).unwrap(), binary);

    let r = dapr
        .invoke_binding(invoke("files", "get", b"", &[("fileName", "bin.dat")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.data, binary);

    // A nil response: both fields empty.
    let r = dapr
        .invoke_binding(invoke("files", "delete", b"", &[("fileName", "bin.dat")]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.data.is_empty() && r.metadata.is_empty());

    let e = dapr
        .invoke_binding(invoke("nope", "create", b"x", &[]))
        .await
        .unwrap_err();
    assert_invoke_error(
        &e,
        "error invoking output binding nope: couldn't find output binding nope",
    );
    let e = dapr
        .invoke_binding(invoke("files", "", b"x", &[]))
        .await
        .unwrap_err();
    assert_invoke_error(
        &e,
        "error invoking output binding files: operation field is missing from request",
    );
    let e = dapr
        .invoke_binding(invoke("files", "explode", b"x", &[]))
        .await
        .unwrap_err();
    assert_invoke_error(
        &e,
        "error invoking output binding files: binding files does not support operation explode. supported operations:create get delete list",
    );
    let e = dapr
        .invoke_binding(invoke("files", "get", b"", &[("fileName", "absent.txt")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert!(
        e.message()
            .starts_with("error invoking output binding files: file not found: "),
        "{e:?}"
    );
}

#[tokio::test]
async fn grpc_headers_join_the_metadata_and_response_metadata_comes_back_as_headers() {
    let target = TestApp::start().await;
    target.respond(http::Method::POST, "/missing", &[404]);
    let url = format!("http://127.0.0.1:{}", target.port);
    let dir = resources(&[("web.yaml", &components::http("web", &url))]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let mut dapr = client(&sidecar).await;

    // bindings.http appends the `path` metadata to its URL: a gRPC header named `path` reaches
    // the component when the request does not set it...
    let mut request = Request::new(invoke("web", "create", b"{\"x\":1}", &[]));
    request
        .metadata_mut()
        .insert("path", "/from-header".parse().unwrap());
    let response = dapr.invoke_binding(request).await.unwrap();
    assert_eq!(
        response.metadata().get("metadata.statuscode").unwrap(),
        "200",
        "{:?}",
        response.metadata()
    );
    assert_eq!(response.get_ref().metadata["statusCode"], "200");
    // ...and never overwrites what the request set.
    let mut request = Request::new(invoke("web", "create", b"{}", &[("path", "/from-request")]));
    request
        .metadata_mut()
        .insert("path", "/from-header-2".parse().unwrap());
    dapr.invoke_binding(request).await.unwrap();
    let paths: Vec<String> = target.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/from-header", "/from-request"]);
    assert_eq!(&target.requests()[0].body[..], b"{\"x\":1}");

    // Response metadata is sent as headers on failure too.
    let e = dapr
        .invoke_binding(invoke("web", "create", b"{}", &[("path", "/missing")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert!(
        e.message()
            .starts_with("error invoking output binding web: "),
        "{e:?}"
    );
    assert_eq!(e.metadata().get("metadata.statuscode").unwrap(), "404");
}

#[tokio::test]
async fn metadata_set_metadata_and_reflection_match_the_http_api() {
    let dir = resources(&[
        ("ticker.yaml", &components::cron("ticker", "@every 1s")),
        (
            "files.yaml",
            &components::localstorage("files", tempfile::tempdir().unwrap().keep().as_path()),
        ),
    ]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--app-max-concurrency", "7"])
        .spawn()
        .await;
    let mut dapr = client(&sidecar).await;

    dapr.set_metadata(SetMetadataRequest {
        key: "fromGrpc".into(),
        value: "yes".into(),
    })
    .await
    .unwrap();
    let grpc = dapr
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    let http = sidecar.get_json("/v1.0/metadata").await;

    assert_eq!(grpc.id, "testapp");
    assert_eq!(http["id"], "testapp");
    assert_eq!(grpc.runtime_version, http["runtimeVersion"]);
    assert_eq!(grpc.extended_metadata["fromGrpc"], "yes");
    assert_eq!(http["extended"]["fromGrpc"], "yes");
    assert_eq!(
        grpc.extended_metadata["daprRuntimeVersion"],
        http["extended"]["daprRuntimeVersion"]
    );
    let mut components: Vec<(String, String, Vec<String>)> = grpc
        .registered_components
        .iter()
        .map(|c| (c.name.clone(), c.r#type.clone(), c.capabilities.clone()))
        .collect();
    components.sort();
    assert_eq!(
        components,
        [
            (
                "files".to_owned(),
                "bindings.localstorage".to_owned(),
                vec!["OUTPUT_BINDING".to_owned()]
            ),
            (
                "ticker".to_owned(),
                "bindings.cron".to_owned(),
                vec!["INPUT_BINDING".to_owned()]
            ),
        ]
    );
    let app = grpc.app_connection_properties.unwrap();
    assert_eq!(app.protocol, "http");
    assert_eq!(app.channel_address, "127.0.0.1");
    assert_eq!(app.max_concurrency, 7);
    assert_eq!(http["appConnectionProperties"]["maxConcurrency"], 7);
    assert_eq!(grpc.actor_runtime.unwrap().runtime_status, 1, "DISABLED");

    // Server reflection lists the services without proto files (what grpcurl uses).
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel(sidecar.grpc_port).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("unexpected reflection answer {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"dapr.proto.runtime.v1.Dapr".to_owned()),
        "{names:?}"
    );

    // RPCs of Dapr's API that bindery does not serve answer UNIMPLEMENTED.
    let e = raw_call(
        sidecar.grpc_port,
        "/dapr.proto.runtime.v1.Dapr/GetState",
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented, "{e:?}");
}

#[tokio::test]
async fn bad_input_gets_daprd_statuses_and_the_sidecar_keeps_serving() {
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[(
        "files.yaml",
        &components::localstorage("files", root.path()),
    )]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .args(["--max-body-size", "1Ki"])
        .spawn()
        .await;

    // Not a protobuf message at all.
    let e = raw_call(
        sidecar.grpc_port,
        "/dapr.proto.runtime.v1.Dapr/InvokeBinding",
        vec![0xff, 0xff, 0xff, 0xff, 0x0f],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e:?}");

    // Over --max-body-size: RESOURCE_EXHAUSTED, as grpc-go answers.
    let mut dapr = client(&sidecar).await;
    let e = dapr
        .invoke_binding(invoke(
            "files",
            "create",
            &[b'a'; 4096],
            &[("fileName", "big")],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message()
            .starts_with("grpc: received message larger than max ("),
        "{e:?}"
    );
    assert!(e.message().ends_with(" vs. 1024)"), "{e:?}");
    assert!(!root.path().join("big").exists());

    // The same connection and a new one still work.
    let r = dapr
        .invoke_binding(invoke(
            "files",
            "create",
            b"small",
            &[("fileName", "small")],
        ))
        .await
        .unwrap();
    assert_eq!(r.get_ref().data, br#"{"fileName":"small"}"#);
    let mut fresh = client(&sidecar).await;
    fresh
        .get_metadata(GetMetadataRequest {})
        .await
        .expect("a new connection is served");
}

#[tokio::test]
async fn dapr_api_token_is_required_on_every_call() {
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[(
        "files.yaml",
        &components::localstorage("files", root.path()),
    )]);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .env("DAPR_API_TOKEN", "s3cret")
        .spawn()
        .await;
    let mut dapr = client(&sidecar).await;

    for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret!")] {
        let mut request = Request::new(invoke("files", "create", b"x", &[("fileName", "t")]));
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("dapr-api-token", token.parse().unwrap());
        }
        let e = dapr.invoke_binding(request).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{token:?}: {e:?}");
        assert_eq!(e.message(), "Unauthorized");
        let info = e.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.domain, "dapr.io");
        let e = dapr.get_metadata(GetMetadataRequest {}).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    assert!(!root.path().join("t").exists());

    let mut request = Request::new(invoke("files", "create", b"x", &[("fileName", "t")]));
    request
        .metadata_mut()
        .insert("dapr-api-token", "s3cret".parse().unwrap());
    dapr.invoke_binding(request).await.unwrap();
    assert_eq!(std::fs::read(root.path().join("t")).unwrap(), b"x");
}

#[tokio::test]
async fn shutdown_rpc_stops_the_sidecar_gracefully() {
    let dir = resources(&[]);
    let mut sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let mut dapr = client(&sidecar).await;
    dapr.shutdown(ShutdownRequest {}).await.unwrap();
    let status = sidecar.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", sidecar.output());
    assert!(
        sidecar
            .output()
            .contains("Shutdown requested through the gRPC API")
    );
}

// ---------------------------------------------------------------------------------------------
// A gRPC app written with tonic, whose behaviour each test sets.

#[derive(Clone)]
enum Behaviour {
    Accept,
    Fail(Code, &'static str),
    Slow(Duration),
    Forward {
        to: Vec<String>,
        data: Vec<u8>,
        parallel: bool,
    },
}

struct Received {
    request: BindingEventRequest,
    headers: MetadataMap,
}

#[derive(Clone)]
struct FakeApp {
    lists: Vec<String>,
    behaviour: Arc<Mutex<Behaviour>>,
    received: Arc<Mutex<Vec<Received>>>,
    list_calls: Arc<AtomicUsize>,
    /// ListInputBindings answers UNAVAILABLE this many times first.
    list_failures: Arc<AtomicUsize>,
    health_calls: Arc<AtomicUsize>,
}

impl FakeApp {
    fn new(lists: &[&str]) -> Self {
        Self {
            lists: lists.iter().map(|s| (*s).to_owned()).collect(),
            behaviour: Arc::new(Mutex::new(Behaviour::Accept)),
            received: Arc::new(Mutex::new(Vec::new())),
            list_calls: Arc::new(AtomicUsize::new(0)),
            list_failures: Arc::new(AtomicUsize::new(0)),
            health_calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Serves on `port` until the returned sender is dropped or fires.
    async fn serve(&self, port: u16) -> tokio::sync::oneshot::Sender<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the gRPC app");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AppCallbackServer::new(app.clone()))
                .add_service(AppCallbackHealthCheckServer::new(app))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await
                .expect("serve the gRPC app");
        });
        tx
    }
}

#[tonic::async_trait]
impl AppCallback for FakeApp {
    async fn list_input_bindings(
        &self,
        _request: Request<()>,
    ) -> Result<Response<ListInputBindingsResponse>, Status> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        let failures = self.list_failures.load(Ordering::SeqCst);
        if failures > 0 {
            self.list_failures.store(failures - 1, Ordering::SeqCst);
            return Err(Status::unavailable("starting up"));
        }
        Ok(Response::new(ListInputBindingsResponse {
            bindings: self.lists.clone(),
        }))
    }

    async fn on_binding_event(
        &self,
        request: Request<BindingEventRequest>,
    ) -> Result<Response<BindingEventResponse>, Status> {
        let headers = request.metadata().clone();
        let request = request.into_inner();
        self.received
            .lock()
            .unwrap()
            .push(Received { request, headers });
        let behaviour = self.behaviour.lock().unwrap().clone();
        match behaviour {
            Behaviour::Accept => Ok(Response::new(BindingEventResponse::default())),
            Behaviour::Fail(code, message) => Err(Status::new(code, message)),
            Behaviour::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(Response::new(BindingEventResponse::default()))
            }
            Behaviour::Forward { to, data, parallel } => Ok(Response::new(BindingEventResponse {
                to,
                data,
                concurrency: if parallel {
                    BindingEventConcurrency::Parallel as i32
                } else {
                    BindingEventConcurrency::Sequential as i32
                },
                ..Default::default()
            })),
        }
    }
}

#[tonic::async_trait]
impl AppCallbackHealthCheck for FakeApp {
    async fn health_check(
        &self,
        _request: Request<()>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.health_calls.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(HealthCheckResponse {}))
    }
}

async fn grpc_app_sidecar(dir: &std::path::Path, app_port: u16, extra: &[&str]) -> Sidecar {
    Sidecar::builder(BIN)
        .resources(dir)
        .app_port(app_port)
        .args(["--app-protocol", "grpc"])
        .args(extra.iter().copied())
        .env("APP_API_TOKEN", "to-the-app")
        .spawn()
        .await
}

async fn wait_for(what: &str, sidecar: &Sidecar, check: impl Fn() -> bool) {
    let done = eventually(Duration::from_secs(20), || {
        let ok = check();
        async move { ok.then_some(()) }
    })
    .await;
    assert!(
        done.is_some(),
        "{what} did not happen:\n{}",
        sidecar.output()
    );
}

#[tokio::test]
async fn grpc_app_gets_events_by_exact_name_with_metadata_unchanged_and_the_app_token() {
    let app = FakeApp::new(&["Ticker", "other"]);
    let app_port = free_port();
    let _server = app.serve(app_port).await;
    let dir = resources(&[
        ("a.yaml", &components::cron("Ticker", "@every 1s")),
        ("b.yaml", &components::cron("OTHER", "@every 1s")),
        ("c.yaml", &components::cron("third", "@every 1s")),
    ]);
    let sidecar = grpc_app_sidecar(dir.path(), app_port, &[]).await;

    wait_for("two events", &sidecar, || app.count() >= 2).await;
    let received = app.received.lock().unwrap();
    for event in received.iter() {
        assert_eq!(event.request.name, "Ticker", "exact, case-sensitive match");
        assert!(event.request.data.is_empty());
        assert!(event.request.metadata.contains_key("timeZone"));
        assert!(event.request.metadata.contains_key("readTimeUTC"));
        assert_eq!(event.headers.get("dapr-api-token").unwrap(), "to-the-app");
    }
    drop(received);
    assert_eq!(
        app.list_calls.load(Ordering::SeqCst),
        1,
        "ListInputBindings is asked once"
    );
    let output = sidecar.output();
    assert!(
        output.contains("app has not subscribed to binding OTHER"),
        "{output}"
    );
    assert!(
        output.contains("app has not subscribed to binding third"),
        "{output}"
    );
}

#[tokio::test]
async fn grpc_app_errors_slowness_and_outage_never_stop_the_sidecar() {
    let app = FakeApp::new(&["ticker"]);
    let app_port = free_port();
    let server = app.serve(app_port).await;
    let root = tempfile::tempdir().unwrap();
    let dir = resources(&[
        ("ticker.yaml", &components::cron("ticker", "@every 1s")),
        (
            "files.yaml",
            &components::localstorage("files", root.path()),
        ),
    ]);
    let sidecar = grpc_app_sidecar(dir.path(), app_port, &[]).await;
    let mut dapr = client(&sidecar).await;

    // Errors: reported, never fatal.
    app.set(Behaviour::Fail(Code::Internal, "boom"));
    wait_for("a refused event", &sidecar, || app.count() >= 2).await;
    wait_for("the error in the log", &sidecar, || {
        sidecar
            .output()
            .contains("error invoking app: rpc error: code = Internal desc = boom")
    })
    .await;
    dapr.invoke_binding(invoke("files", "create", b"1", &[("fileName", "one")]))
        .await
        .expect("the API serves while the app fails");

    // Slowness: the API is not held up by a delivery in progress.
    app.set(Behaviour::Slow(Duration::from_secs(4)));
    let before = app.count();
    wait_for("a slow delivery to start", &sidecar, || {
        app.count() > before
    })
    .await;
    dapr.invoke_binding(invoke("files", "create", b"2", &[("fileName", "two")]))
        .await
        .expect("the API serves while the app is slow");
    let r = sidecar.get("/v1.0/healthz").await;
    assert_eq!(r.status(), 204);

    // Outage: deliveries fail while the app is down and resume when it is back.
    app.set(Behaviour::Accept);
    drop(server);
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_for("the outage in the log", &sidecar, || {
        sidecar.output().contains("code = Unavailable")
    })
    .await;
    dapr.invoke_binding(invoke("files", "create", b"3", &[("fileName", "three")]))
        .await
        .expect("the API serves while the app is down");
    let before = app.count();
    let _server = app.serve(app_port).await;
    wait_for("deliveries after the app came back", &sidecar, || {
        app.count() >= before + 2
    })
    .await;
    for name in ["one", "two", "three"] {
        assert!(root.path().join(name).exists(), "{name}");
    }
}

#[tokio::test]
async fn grpc_app_reply_forwards_data_to_output_bindings() {
    let app = FakeApp::new(&["ticker"]);
    app.set(Behaviour::Forward {
        to: vec!["files".into()],
        data: br#"{"b":1,"a":"<"}"#.to_vec(),
        parallel: false,
    });
    let app_port = free_port();
    let _server = app.serve(app_port).await;
    let root = tempfile::tempdir().unwrap();
    let target = TestApp::start().await;
    let url = format!("http://127.0.0.1:{}", target.port);
    let dir = resources(&[
        ("ticker.yaml", &components::cron("ticker", "@every 1s")),
        (
            "files.yaml",
            &components::localstorage("files", root.path()),
        ),
        ("web.yaml", &components::http("web", &url)),
    ]);
    let sidecar = grpc_app_sidecar(dir.path(), app_port, &[]).await;

    let contents = || -> Vec<String> {
        std::fs::read_dir(root.path())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    // `create` without a fileName: localstorage picks a UUID; the payload went through daprd's
    // JSON round trip (sorted keys, HTML escaping).
    wait_for("a forwarded payload", &sidecar, || {
        contents().iter().any(|c| c == r#"{"a":"\u003c","b":1}"#)
    })
    .await;

    // Not JSON: forwarded as `null` (with operation `create`, i.e. a POST for bindings.http),
    // in parallel mode too, where one failing target does not stop the others.
    app.set(Behaviour::Forward {
        to: vec!["missing".into(), "web".into()],
        data: b"not json".to_vec(),
        parallel: true,
    });
    wait_for("a null payload", &sidecar, || {
        target
            .requests()
            .iter()
            .any(|r| r.method == http::Method::POST && &r.body[..] == b"null")
    })
    .await;
    wait_for("the failed forward in the log", &sidecar, || {
        sidecar
            .output()
            .contains("couldn't find output binding missing")
    })
    .await;
}

#[tokio::test]
async fn a_failed_list_input_bindings_is_asked_again_not_cached() {
    let app = FakeApp::new(&["ticker"]);
    app.list_failures.store(2, Ordering::SeqCst);
    let app_port = free_port();
    let _server = app.serve(app_port).await;
    let dir = resources(&[("ticker.yaml", &components::cron("ticker", "@every 1s"))]);
    let sidecar = grpc_app_sidecar(dir.path(), app_port, &[]).await;

    wait_for("events after the probe recovered", &sidecar, || {
        app.count() >= 1
    })
    .await;
    assert_eq!(app.list_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn grpc_app_health_checks_use_app_callback_health_check() {
    let app = FakeApp::new(&["ticker"]);
    let app_port = free_port();
    let _server = app.serve(app_port).await;
    let dir = resources(&[("ticker.yaml", &components::cron("ticker", "@every 1s"))]);
    let sidecar = grpc_app_sidecar(
        dir.path(),
        app_port,
        &[
            "--enable-app-health-check",
            "--app-health-probe-interval",
            "1s",
        ],
    )
    .await;
    wait_for("health probes and events", &sidecar, || {
        app.health_calls.load(Ordering::SeqCst) >= 2 && app.count() >= 1
    })
    .await;
    let metadata = sidecar.get_json("/v1.0/metadata").await;
    assert_eq!(metadata["appConnectionProperties"]["protocol"], "grpc");
    assert_eq!(
        metadata["appConnectionProperties"]["health"]["healthProbeInterval"],
        "1s"
    );
    let mut dapr = client(&sidecar).await;
    let grpc = dapr
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    let health = grpc.app_connection_properties.unwrap().health.unwrap();
    assert_eq!(health.health_probe_interval, "1s");
    assert_eq!(health.health_check_path, "/healthz");
}
