//! Dapr's HTTP API for bindings: `/v1.0/bindings`, health, metadata and shutdown.

mod decode;
#[cfg(test)]
mod health_tests;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub use decode::decode_output_request;

use crate::error::ApiError;
use crate::headers::insert_metadata_headers;
use crate::metadata::MetadataView;
use crate::trace::{TRACEPARENT, TRACESTATE, TraceContext};

/// The version bindery reports as its runtime version.
pub use crate::state::{ApiState, RUNTIME_VERSION};

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/v1.0/bindings/{name}",
            post(invoke_binding).put(invoke_binding),
        )
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(healthz_outbound))
        .route("/v1.0/metadata", get(get_metadata))
        .route("/v1.0/metadata/{key}", put(set_metadata))
        .route("/v1.0/shutdown", post(shutdown))
        .fallback(direct_invoke_fallback)
        .method_not_allowed_fallback(direct_invoke_fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            check_api_token,
        ))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// daprd hands unmatched routes to service invocation, which fails without an app id.
async fn direct_invoke_fallback() -> ApiError {
    ApiError::DirectInvoke
}

async fn check_api_token(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &state.api_token {
        let path = request.uri().path();
        let exempt = request.method() == axum::http::Method::GET
            && (path == "/v1.0/healthz" || path == "/v1.0/healthz/outbound");
        if !exempt {
            let given = request
                .headers()
                .get("dapr-api-token")
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !bool::from(given.ct_eq(expected.as_bytes())) {
                return ApiError::InvalidToken.into_response();
            }
        }
        request.headers_mut().remove("dapr-api-token");
    }
    next.run(request).await
}

/// How long a client may take to send a request body.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads a body of at most `limit` bytes. A declared length over the limit is refused before
/// reading, and a client that stops sending is cut off after [`BODY_READ_TIMEOUT`].
async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, String> {
    use http_body::Body as _;
    let too_large = || "http: request body too large".to_owned();
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        // The limit, or the client: a stalled or broken body is not a large one.
        Ok(Err(e)) if over_limit(&e) => Err(too_large()),
        Ok(Err(e)) => Err(format!("http: reading the request body failed: {e}")),
        Err(_) => Err("http: request body read timed out".to_owned()),
    }
}

/// Whether `to_bytes` stopped at its length limit rather than on the body's own error.
fn over_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod read_body_tests {
    use super::*;

    #[tokio::test]
    async fn a_broken_body_is_not_called_too_large() {
        let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![
            Ok(b"{\"data\":"),
            Err(std::io::Error::other("connection reset")),
        ];
        let body = Body::from_stream(futures::stream::iter(chunks));
        let err = read_body(body, 1024).await.unwrap_err();
        assert!(err.contains("reading the request body failed"), "{err}");
        assert!(err.contains("connection reset"), "{err}");
        assert!(!err.contains("too large"), "{err}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large() {
        let chunks: Vec<Result<&'static [u8], std::io::Error>> =
            vec![Ok(&[b'x'; 600]), Ok(&[b'y'; 600])];
        let body = Body::from_stream(futures::stream::iter(chunks));
        assert_eq!(
            read_body(body, 1024).await.unwrap_err(),
            "http: request body too large"
        );
        assert_eq!(
            read_body(Body::from(vec![b'z'; 2048]), 1024)
                .await
                .unwrap_err(),
            "http: request body too large"
        );
        assert_eq!(&read_body(Body::from("ok"), 1024).await.unwrap()[..], b"ok");
    }
}

async fn invoke_binding(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(body, state.max_body_size).await {
        Ok(b) => b,
        Err(e) => return ApiError::MalformedRequest(e).into_response(),
    };
    let request = match decode_output_request(&bytes) {
        Ok(r) => r,
        Err(e) => return ApiError::MalformedRequest(e).into_response(),
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let parent = header(TRACEPARENT).and_then(|tp| TraceContext::parse(tp, header(TRACESTATE)));
    let called = state
        .tracer
        .invoke_output(
            &state.runtime,
            &name,
            request,
            parent,
            "POST /v1.0/bindings",
        )
        .await;
    match called {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(response)) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            insert_metadata_headers(&mut headers, &response.metadata);
            (StatusCode::OK, headers, response.data).into_response()
        }
        Err(error) => ApiError::InvokeOutputBinding { name, error }.into_response(),
    }
}

#[derive(Deserialize)]
struct HealthQuery {
    appid: Option<String>,
}

async fn healthz(State(state): State<ApiState>, Query(query): Query<HealthQuery>) -> Response {
    let readiness = state.runtime.readiness();
    if !readiness.ready() {
        let pending = if readiness.outbound() {
            "app"
        } else {
            "runtime"
        };
        return ApiError::HealthNotReady(pending.to_owned()).into_response();
    }
    if let Some((name, _)) = state.runtime.telemetry().unready_component() {
        return ApiError::HealthNotReady(format!("component {name}")).into_response();
    }
    if let Some(app_id) = query.appid.filter(|a| !a.is_empty())
        && app_id != state.runtime.config().app_id
    {
        return ApiError::AppIdMismatch.into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn healthz_outbound(State(state): State<ApiState>) -> Response {
    if state.runtime.readiness().outbound() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        ApiError::OutboundNotReady.into_response()
    }
}

/// The metadata document, shaped like daprd's (empty fields left out, as Go's `omitempty`).
pub fn metadata_json(state: &ApiState) -> Value {
    let view = MetadataView::new(state);
    let components: Vec<Value> = view
        .components
        .iter()
        .map(|c| {
            let mut entry = json!({"name": c.name, "type": c.spec_type});
            if !c.version.is_empty() {
                entry["version"] = json!(c.version);
            }
            if !c.capabilities.is_empty() {
                entry["capabilities"] = json!(c.capabilities);
            }
            entry["state"] = json!(c.state);
            if let Some(error) = &c.error {
                entry["error"] = json!(error);
            }
            entry
        })
        .collect();
    let app_connection = &view.app_connection;
    let mut app = json!({
        "protocol": app_connection.protocol,
        "channelAddress": app_connection.channel_address,
    });
    if let Some(port) = app_connection.port {
        app["port"] = json!(port);
    }
    if let Some(max) = app_connection.max_concurrency {
        app["maxConcurrency"] = json!(max);
    }
    if let Some(health) = &app_connection.health {
        app["health"] = json!({
            "healthCheckPath": health.path,
            "healthProbeInterval": health.interval,
            "healthProbeTimeout": health.timeout,
            "healthThreshold": health.threshold,
        });
    }
    json!({
        "id": view.id,
        "runtimeVersion": view.runtime_version,
        "enabledFeatures": view.enabled_features,
        "components": components,
        "extended": view.extended,
        "appConnectionProperties": app,
        "actorRuntime": {"runtimeStatus": "DISABLED", "hostReady": false},
    })
}

async fn get_metadata(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        metadata_json(&state).to_string(),
    )
        .into_response()
}

async fn set_metadata(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Body,
) -> Response {
    match read_body(body, state.max_body_size).await {
        Ok(bytes) => {
            let value = String::from_utf8_lossy(&bytes).into_owned();
            state.runtime.set_extended_metadata(key, value);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ApiError::BodyRead(e).into_response(),
    }
}

async fn shutdown(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let forced = headers
        .get("dapr-force-shutdown")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if forced {
        tracing::warn!("Forced shutdown requested through the API; exiting now.");
        std::process::exit(1);
    }
    tracing::info!("Shutdown requested through the API.");
    state.runtime.request_shutdown();
    StatusCode::NO_CONTENT.into_response()
}
