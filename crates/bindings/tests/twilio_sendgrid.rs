//! `bindings.twilio.sendgrid` against a local stand-in for SendGrid's v3 mail API.
//!
//! SendGrid cannot be reached from here, so this is the honest substitute: an in-process
//! server that checks the request SendGrid documents for `POST /v3/mail/send` (`Authorization:
//! Bearer <API key>`, a JSON body with `from`, `personalizations[].to/cc/bcc/subject/
//! dynamic_template_data`, `content[]` and `template_id`) and answers as SendGrid does:
//! `202 Accepted` with no body, or `{"errors":[{"message","field","help"}]}` with 400/401.
//! The binding reaches it through bindery's `endpoint`.
#![cfg(feature = "twilio-sendgrid")]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bindery_bindings::twilio::sendgrid::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties,
};
use serde_json::{Value, json};

const KEY: &str = "SG.test-key.0123456789";
const HELP: &str = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

#[derive(Default, Clone)]
struct SendGrid {
    received: Arc<Mutex<Vec<Value>>>,
}

fn errors(status: StatusCode, list: Vec<(Value, &str, Value)>) -> Response {
    let errors: Vec<Value> = list
        .into_iter()
        .map(|(field, message, help)| json!({"message": message, "field": field, "help": help}))
        .collect();
    (status, axum::Json(json!({ "errors": errors }))).into_response()
}

fn valid_email(v: &Value) -> bool {
    v.get("email")
        .and_then(Value::as_str)
        .is_some_and(|e| e.contains('@') && !e.starts_with('@') && !e.ends_with('@'))
}

/// The checks SendGrid makes that the binding can trip, with SendGrid's texts.
fn validate(mail: &Value) -> Vec<(Value, &'static str, Value)> {
    let mut found = Vec::new();
    if !mail.get("from").is_some_and(valid_email) {
        found.push((
            json!("from.email"),
            "The from email does not contain a valid address.",
            json!(format!("{HELP}#message.from")),
        ));
    }
    let templated = mail.get("template_id").is_some();
    let personalizations = mail["personalizations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if personalizations.is_empty() {
        found.push((
            json!("personalizations"),
            "The personalizations field is required and must have at least 1 item.",
            json!(format!("{HELP}#message.personalizations")),
        ));
    }
    for (i, p) in personalizations.iter().enumerate() {
        for kind in ["to", "cc", "bcc"] {
            for (j, a) in p[kind]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if !valid_email(a) {
                    found.push((
                        json!(format!("personalizations.{i}.{kind}.{j}.email")),
                        "Does not contain a valid address.",
                        json!(format!("{HELP}#message.personalizations.{kind}")),
                    ));
                }
            }
        }
        if !templated && p.get("subject").is_none() && mail.get("subject").is_none() {
            found.push((
                json!("subject"),
                "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
                json!(format!("{HELP}#message.subject")),
            ));
        }
    }
    let content = mail["content"].as_array().cloned().unwrap_or_default();
    if content.is_empty() && !templated {
        found.push((
            json!("content"),
            "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.",
            json!(format!("{HELP}#message.content")),
        ));
    }
    for (i, c) in content.iter().enumerate() {
        if c["value"].as_str().is_none_or(str::is_empty) {
            found.push((
                json!(format!("content.{i}.value")),
                "The content value must be a string at least one character in length.",
                json!(format!("{HELP}#message.content.value")),
            ));
        }
    }
    found
}

async fn send(State(state): State<SendGrid>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(format!("Bearer {KEY}").as_str()) {
        return errors(
            StatusCode::UNAUTHORIZED,
            vec![(
                Value::Null,
                "The provided authorization grant is invalid, expired, or revoked",
                Value::Null,
            )],
        );
    }
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Some(mail) = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|_| json_body)
    else {
        return errors(
            StatusCode::BAD_REQUEST,
            vec![(Value::Null, "Bad Request", Value::Null)],
        );
    };
    let found = validate(&mail);
    if !found.is_empty() {
        return errors(StatusCode::BAD_REQUEST, found);
    }
    state.received.lock().unwrap().push(mail);
    StatusCode::ACCEPTED.into_response()
}

async fn start() -> (String, SendGrid) {
    let state = SendGrid::default();
    let app = Router::new()
        .route("/v3/mail/send", post(send))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), state)
}

async fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new(
        "sendgrid",
        Properties::from_pairs(pairs.iter().copied()),
        "test",
    );
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
        ("apiKey", KEY),
        ("endpoint", endpoint),
        ("emailFrom", "sender@example.com"),
        ("emailFromName", "Sender"),
        ("emailTo", "to@example.com"),
        ("emailToName", "Recipient"),
        ("subject", "Component subject"),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn sends_the_documented_v3_body() {
    let (endpoint, sg) = start().await;
    let b = build(&component(
        &endpoint,
        &[
            ("emailCc", "cc@example.com"),
            ("emailBcc", "bcc@example.com"),
        ],
    ))
    .await
    .unwrap();
    let resp = b.invoke(create("\"<h1>Hi</h1>\"", &[])).await.unwrap();
    assert!(resp.is_none());
    let got = sg.received.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![json!({
            "from": {"name": "Sender", "email": "sender@example.com"},
            "personalizations": [{
                "to": [{"name": "Recipient", "email": "to@example.com"}],
                "cc": [{"email": "cc@example.com"}],
                "bcc": [{"email": "bcc@example.com"}],
                "subject": "Component subject",
            }],
            "content": [{"type": "text/html", "value": "<h1>Hi</h1>"}],
        })]
    );
}

#[tokio::test]
async fn request_overrides_do_not_stick() {
    let (endpoint, sg) = start().await;
    let b = build(&component(&endpoint, &[])).await.unwrap();
    b.invoke(create(
        "first",
        &[
            ("emailFrom", "other@example.com"),
            ("emailTo", "override@example.com"),
            ("emailToName", "Override"),
            ("subject", "Request subject"),
            ("emailCc", "cc2@example.com"),
        ],
    ))
    .await
    .unwrap();
    b.invoke(create("second", &[])).await.unwrap();
    let got = sg.received.lock().unwrap().clone();
    let p0 = &got[0]["personalizations"][0];
    assert_eq!(got[0]["from"], json!({"email": "other@example.com"}));
    assert_eq!(
        p0["to"],
        json!([{"name": "Override", "email": "override@example.com"}])
    );
    assert_eq!(p0["subject"], "Request subject");
    assert_eq!(p0["cc"], json!([{"email": "cc2@example.com"}]));
    let p1 = &got[1]["personalizations"][0];
    assert_eq!(
        got[1]["from"],
        json!({"name": "Sender", "email": "sender@example.com"})
    );
    assert_eq!(
        p1["to"],
        json!([{"name": "Recipient", "email": "to@example.com"}])
    );
    assert_eq!(p1["subject"], "Component subject");
    assert!(p1.get("cc").is_none());
}

#[tokio::test]
async fn dynamic_templates() {
    let (endpoint, sg) = start().await;
    let b = build(&component(
        &endpoint,
        &[
            ("dynamicTemplateId", "d-component"),
            ("dynamicTemplateData", r#"{"name":"John","age":30}"#),
        ],
    ))
    .await
    .unwrap();
    b.invoke(create("", &[])).await.unwrap();
    b.invoke(create(
        "body",
        &[
            ("dynamicTemplateId", "d-request"),
            ("dynamicTemplateData", r#"{"name":"Jane"}"#),
        ],
    ))
    .await
    .unwrap();
    let err = b
        .invoke(create("x", &[("dynamicTemplateData", "[1,2]")]))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("error from SendGrid binding, dynamic template data is not valid JSON"),
        "{}",
        err.message()
    );
    let got = sg.received.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["template_id"], "d-component");
    assert_eq!(
        got[0]["personalizations"][0]["dynamic_template_data"],
        json!({"name": "John", "age": 30})
    );
    assert!(
        got[0].get("content").is_none(),
        "no empty content with a template"
    );
    assert_eq!(got[1]["template_id"], "d-request");
    assert_eq!(
        got[1]["personalizations"][0]["dynamic_template_data"],
        json!({"name": "Jane"})
    );
    assert_eq!(got[1]["content"][0]["value"], "body");
}

#[tokio::test]
async fn sendgrid_errors_keep_daprd_text() {
    let (endpoint, _sg) = start().await;
    let b = build(&component(&endpoint, &[])).await.unwrap();
    let err = b
        .invoke(create("x", &[("emailTo", "not-an-address")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "error from SendGrid: sending email failed: 400 {{Errors:[{{Field:personalizations.0.to.0.email \
             Message:Does not contain a valid address. Help:{HELP}#message.personalizations.to}}]}}"
        )
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    let mut pairs = component(&endpoint, &[]);
    pairs[0] = ("apiKey", "SG.wrong-key");
    let b = build(&pairs).await.unwrap();
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert_eq!(
        err.message(),
        "error from SendGrid: sending email failed: 401 {Errors:[{Field:<nil> Message:The provided \
         authorization grant is invalid, expired, or revoked Help:<nil>}]}"
    );
    assert!(!err.message().contains("wrong-key"));
}

#[tokio::test]
async fn missing_parts_and_unreachable_endpoint() {
    let (endpoint, sg) = start().await;
    let b = build(&[("apiKey", KEY), ("endpoint", endpoint.as_str())])
        .await
        .unwrap();
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert_eq!(err.message(), "error SendGrid from email not supplied");
    let err = b
        .invoke(create("x", &[("emailFrom", "a@example.com")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "error SendGrid to email not supplied");
    let err = b
        .invoke(create(
            "x",
            &[("emailFrom", "a@example.com"), ("emailTo", "b@example.com")],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "error SendGrid subject not supplied");
    assert!(sg.received.lock().unwrap().is_empty());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    let b = build(&component(&closed, &[])).await.unwrap();
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert!(
        err.message().starts_with(&format!(
            "error from SendGrid: sending email failed: Post \"{closed}/v3/mail/send\": "
        )),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let err = build(&[("endpoint", endpoint.as_str())])
        .await
        .err()
        .unwrap();
    assert_eq!(err.message(), "apiKey field is required in metadata");
}
