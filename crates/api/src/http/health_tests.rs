//! Readiness follows component health: an input binding whose read loop ends with an error
//! makes `/v1.0/healthz` answer 500 `ERR_HEALTH_NOT_READY` naming it, and the metadata shows it
//! failed with the cause. No compiled-in component ends its loop with an error (they reconnect
//! forever), so a test component stands in for one; everything else is the real runtime and
//! router.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use bindery_core::descriptor::BoxFuture;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InputBinding, InputContext, InputEvent,
};
use bindery_runtime::app::{AppChannel, AppError, AppReply, InputTarget};
use bindery_runtime::{Registry, Runtime, RuntimeConfig};
use tower::ServiceExt;

use super::{ApiState, router};

struct Failing;

#[async_trait]
impl InputBinding for Failing {
    async fn run(self: Box<Self>, _cx: InputContext) -> Result<(), BindingError> {
        Err(BindingError::unavailable(
            "dial amqp://user:hunter2@broker:5672: connection refused",
        ))
    }
}

fn build(_cx: BuildContext) -> BoxFuture<Result<Box<dyn InputBinding>, BindingError>> {
    Box::pin(async { Ok(Box::new(Failing) as Box<dyn InputBinding>) })
}

const FAILING: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.failing",
    aliases: &[],
    status: "test",
    summary: "An input binding whose read loop fails at once.",
    fields: &[],
    operations: &[],
    decode: |_, _| Ok(bindery_core::DecodedConfig::none()),
    build_input: Some(build),
    build_output: None,
};

struct Subscribed;

#[async_trait]
impl AppChannel for Subscribed {
    async fn is_subscribed(&self, _: &InputTarget, _: Duration) -> Result<bool, AppError> {
        Ok(true)
    }
    async fn deliver(&self, _: &InputTarget, _: InputEvent) -> Result<AppReply, AppError> {
        Ok(AppReply::default())
    }
    async fn check_health(&self, _: Duration) -> Result<(), AppError> {
        Ok(())
    }
}

async fn get(state: &ApiState, path: &str) -> (StatusCode, serde_json::Value) {
    let response = router(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn an_input_binding_that_stops_with_an_error_makes_the_sidecar_unready() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("f.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: in\nspec:\n  type: bindings.failing\n  version: v1\n  metadata: []\n",
    )
    .unwrap();
    let config = RuntimeConfig {
        app_id: "t".into(),
        resources_paths: vec![dir.path().to_owned()],
        app_port: Some(1),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config, &Registry::new(vec![FAILING]))
        .await
        .unwrap();
    runtime.readiness().set_outbound();
    runtime.readiness().set_ready();
    let state = ApiState {
        runtime: runtime.clone(),
        api_token: None,
        max_body_size: 1 << 20,
        enabled_features: Vec::new(),
        tracer: Default::default(),
    };
    let (status, _) = get(&state, "/v1.0/healthz").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "healthy before reading");

    runtime.start_inputs(Arc::new(Subscribed));
    for _ in 0..100 {
        if runtime.telemetry().unready_component().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = get(&state, "/v1.0/healthz").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["errorCode"], "ERR_HEALTH_NOT_READY");
    assert_eq!(body["message"], "dapr is not ready: [component in]");

    let (status, metadata) = get(&state, "/v1.0/metadata").await;
    assert_eq!(status, StatusCode::OK);
    let component = &metadata["components"][0];
    assert_eq!(component["name"], "in");
    assert_eq!(
        component["capabilities"],
        serde_json::json!(["INPUT_BINDING"])
    );
    assert_eq!(component["state"], "failed");
    assert_eq!(
        component["error"], "dial amqp://user:***@broker:5672: connection refused",
        "the password never shows"
    );
}
