//! `bindings.twilio.sms` against a local stand-in for Twilio's Messages API.
//!
//! Twilio cannot be reached from here, so this is the honest substitute: an in-process server
//! that checks the exact request Twilio documents (POST
//! `/2010-04-01/Accounts/<AccountSid>/Messages.json`, HTTP basic auth with the account SID and
//! auth token, a form-encoded body with `To`, `From` and `Body`) and answers as Twilio does:
//! `201 Created` with a Message resource, or Twilio's JSON error (`code`, `message`,
//! `more_info`, `status`) with its status. The binding reaches it through bindery's `endpoint`.
#![cfg(feature = "twilio-sms")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use bindery_bindings::twilio::sms::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties,
};

const SID: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "test-auth-token";
/// A number the stand-in answers with 503, as Twilio does when it is overloaded.
const UNAVAILABLE_NUMBER: &str = "+15005550503";
/// A number the stand-in answers slowly.
const SLOW_NUMBER: &str = "+15005550999";

#[derive(Default, Clone)]
struct Twilio {
    received: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

async fn messages(
    State(state): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if account != SID || auth != Some(expected.as_str()) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    if content_type != Some("application/x-www-form-urlencoded") {
        return twilio_error(StatusCode::BAD_REQUEST, 20001, "Unsupported Content-Type");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let to = form.get("To").cloned().unwrap_or_default();
    if !to.starts_with('+') || to.len() < 4 || !to[1..].bytes().all(|b| b.is_ascii_digit()) {
        let message = format!("The 'To' number {to} is not a valid phone number.");
        return twilio_error(StatusCode::BAD_REQUEST, 21211, &message);
    }
    if form.get("Body").is_none_or(|b| b.is_empty()) {
        return twilio_error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    if to == UNAVAILABLE_NUMBER {
        return twilio_error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service unavailable",
        );
    }
    if to == SLOW_NUMBER {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    state.received.lock().unwrap().push(form.clone());
    let resource = serde_json::json!({
        "account_sid": SID,
        "sid": "SM00000000000000000000000000000001",
        "to": to,
        "from": form.get("From"),
        "body": form.get("Body"),
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages/SM00000000000000000000000000000001.json"),
    });
    (StatusCode::CREATED, axum::Json(resource)).into_response()
}

async fn start() -> (String, Twilio) {
    let state = Twilio::default();
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(messages),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), state)
}

async fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new("sms", Properties::from_pairs(pairs.iter().copied()), "test");
    (DESCRIPTOR.build_output.unwrap())(cx).await
}

fn create(data: &str, md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: "create".to_owned(),
        data: Bytes::copy_from_slice(data.as_bytes()),
        metadata: md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn component<'a>(endpoint: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("accountSid", SID),
        ("authToken", TOKEN),
        ("fromNumber", "+15550001111"),
        ("endpoint", endpoint),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn sends_the_documented_form_with_basic_auth() {
    let (endpoint, twilio) = start().await;
    let b = build(&component(&endpoint, &[])).await.unwrap();
    let resp = b
        .invoke(create(
            "\"Hello & welcome\"",
            &[("toNumber", "+15552223333")],
        ))
        .await
        .unwrap();
    assert!(resp.is_none(), "daprd answers nothing");
    let got = twilio.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["To"], "+15552223333");
    assert_eq!(got[0]["From"], "+15550001111");
    assert_eq!(got[0]["Body"], "Hello & welcome", "the data is unquoted");
    assert_eq!(got[0].len(), 3, "only To, From and Body: {:?}", got[0]);
}

#[tokio::test]
async fn component_number_wins_and_a_missing_number_is_refused() {
    let (endpoint, twilio) = start().await;
    let b = build(&component(&endpoint, &[("toNumber", "+15554445555")]))
        .await
        .unwrap();
    b.invoke(create("raw text", &[("toNumber", "+15559990000")]))
        .await
        .unwrap();
    let got = twilio.received.lock().unwrap().clone();
    assert_eq!(
        got[0]["To"], "+15554445555",
        "daprd: the component's toNumber wins"
    );
    assert_eq!(got[0]["Body"], "raw text");

    let b = build(&component(&endpoint, &[])).await.unwrap();
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert_eq!(err.message(), r#"twilio missing "toNumber" field"#);
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn twilio_errors_keep_daprd_text_and_kind() {
    let (endpoint, _twilio) = start().await;
    let mut pairs = component(&endpoint, &[]);
    pairs[1] = ("authToken", "wrong-token");
    let b = build(&pairs).await.unwrap();
    let err = b
        .invoke(create("x", &[("toNumber", "+15552223333")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "error from Twilio (401): 401 Unauthorized");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(!err.message().contains("wrong-token"));

    let b = build(&component(&endpoint, &[])).await.unwrap();
    let err = b
        .invoke(create("x", &[("toNumber", "12345")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "error from Twilio (400): 400 Bad Request");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    let err = b
        .invoke(create("x", &[("toNumber", UNAVAILABLE_NUMBER)]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "error from Twilio (503): 503 Service Unavailable"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn timeout_and_unreachable_endpoint() {
    let (endpoint, _twilio) = start().await;
    let b = build(&component(&endpoint, &[("timeout", "300ms")]))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = b
        .invoke(create("x", &[("toNumber", SLOW_NUMBER)]))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.message().contains("Client.Timeout exceeded"),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let port = bindery_testkit_free_port();
    let closed = format!("http://127.0.0.1:{port}");
    let b = build(&component(&closed, &[])).await.unwrap();
    let err = b
        .invoke(create("x", &[("toNumber", "+15552223333")]))
        .await
        .unwrap_err();
    let url = format!("{closed}/2010-04-01/Accounts/{SID}/Messages.json");
    assert!(
        err.message().starts_with(&format!("Post \"{url}\": ")),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn required_fields_fail_the_build() {
    let err = build(&[("accountSid", SID), ("authToken", TOKEN)])
        .await
        .err()
        .unwrap();
    assert_eq!(err.message(), r#""fromNumber" is a required field"#);
}

fn bindery_testkit_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
