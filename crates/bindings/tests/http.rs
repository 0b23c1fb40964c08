//! The http binding built through its descriptor, against a real HTTP server started here.
#![cfg(feature = "http")]

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bindery_bindings::http::DESCRIPTOR;
use bindery_core::{BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties};

/// Echoes the request as JSON; a few paths answer specially.
async fn handler(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    if let Some(code) = path.strip_prefix("/status/") {
        let code: u16 = code.parse().unwrap_or(500);
        let mut resp = (
            StatusCode::from_u16(code).unwrap(),
            format!("body of {code}"),
        )
            .into_response();
        resp.headers_mut()
            .insert("x-upstream", "yes".parse().unwrap());
        return resp;
    }
    if path == "/big" {
        return vec![b'a'; 10_000].into_response();
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return "late".into_response();
    }
    let mut echoed = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("?"))
            .collect();
        echoed.insert(name.as_str().to_owned(), values.join(",").into());
    }
    let json = serde_json::json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "headers": echoed,
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = axum::Json(json).into_response();
    resp.headers_mut().append("x-multi", "one".parse().unwrap());
    resp.headers_mut().append("x-multi", "two".parse().unwrap());
    resp
}

async fn server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handler);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

async fn build(pairs: &[(&str, &str)]) -> Box<dyn OutputBinding> {
    let build = DESCRIPTOR.build_output.expect("output binding");
    build(BuildContext::new(
        "api".to_owned(),
        Properties::from_pairs(pairs.iter().copied()),
        "app".to_owned(),
    ))
    .await
    .map_err(|e| e.to_string())
    .expect("builds")
}

fn req(op: &str, data: &str, metadata: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: op.to_owned(),
        data: data.as_bytes().to_vec().into(),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn echo(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).expect("echo JSON")
}

#[tokio::test]
async fn methods_bodies_and_default_headers() {
    let base = server().await;
    let b = build(&[("url", &format!("{base}/call/"))]).await;
    for (op, method, sends_body) in [
        ("create", "POST", true),
        ("post", "POST", true),
        ("put", "PUT", true),
        ("patch", "PATCH", true),
        ("get", "GET", false),
        ("delete", "DELETE", false),
        ("options", "OPTIONS", false),
        ("trace", "TRACE", false),
    ] {
        let resp = b.invoke(req(op, r#""hello""#, &[])).await.unwrap().unwrap();
        let e = echo(&resp.data);
        assert_eq!(e["method"], method, "{op}");
        assert_eq!(e["uri"], "/call/", "{op}");
        assert_eq!(
            e["headers"]["accept"], "application/json; charset=utf-8",
            "{op}"
        );
        if sends_body {
            // No unquoting: the JSON string arrives with its quotes.
            assert_eq!(e["body"], r#""hello""#, "{op}");
            assert_eq!(
                e["headers"]["content-type"], "application/json; charset=utf-8",
                "{op}"
            );
        } else {
            assert_eq!(e["body"], "", "{op}");
            assert!(e["headers"].get("content-type").is_none(), "{op}");
        }
        assert_eq!(resp.metadata["statusCode"], "200");
        assert_eq!(resp.metadata["status"], "200 OK");
        assert_eq!(resp.metadata["Content-Type"], "application/json");
        assert_eq!(resp.metadata["X-Multi"], "one, two");
        assert!(
            resp.metadata.contains_key("Content-Length"),
            "{:?}",
            resp.metadata
        );
    }
    // HEAD: headers and status, no body.
    let resp = b.invoke(req("head", "", &[])).await.unwrap().unwrap();
    assert!(resp.data.is_empty());
    assert_eq!(resp.metadata["statusCode"], "200");
}

#[tokio::test]
async fn path_join_and_header_forwarding() {
    let base = server().await;
    let b = build(&[
        ("url", &format!("{base}/api//")),
        ("securityToken", "tok3n"),
        ("securityTokenHeader", "X-Token"),
    ])
    .await;
    let resp = b
        .invoke(req(
            "post",
            "<x/>",
            &[
                ("path", "//items/7?q=1"),
                ("Content-Type", "application/xml"),
                ("Accept", "text/plain"),
                ("X-Custom", "v1"),
                ("Authorization", "Bearer abc"),
                ("lowercase", "not a header"),
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                ("tracestate", "k=v"),
                ("baggage", "a=b"),
                ("fileName", "ignored"),
            ],
        ))
        .await
        .unwrap()
        .unwrap();
    let e = echo(&resp.data);
    assert_eq!(e["uri"], "/api/items/7?q=1");
    let h = &e["headers"];
    assert_eq!(h["content-type"], "application/xml");
    assert_eq!(h["accept"], "text/plain");
    assert_eq!(h["x-custom"], "v1");
    assert_eq!(h["authorization"], "Bearer abc");
    assert_eq!(h["x-token"], "tok3n");
    assert_eq!(
        h["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(h["tracestate"], "k=v");
    assert_eq!(h["baggage"], "a=b");
    assert!(h.get("lowercase").is_none());
    assert!(h.get("filename").is_none());
    assert!(h.get("path").is_none());
    assert_eq!(e["body"], "<x/>");

    // A user header cannot override the trace context.
    let resp = b
        .invoke(req(
            "get",
            "",
            &[("Traceparent", "user"), ("traceparent", "runtime")],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echo(&resp.data)["headers"]["traceparent"], "runtime");
}

#[tokio::test]
async fn non_2xx_statuses() {
    let base = server().await;
    let strict = build(&[("url", &base)]).await;
    let err = strict
        .invoke(req("get", "", &[("path", "status/404")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "received status code 404");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.response_metadata()["statusCode"], "404");
    assert_eq!(err.response_metadata()["status"], "404 Not Found");
    assert_eq!(err.response_metadata()["X-Upstream"], "yes");
    let err = strict
        .invoke(req("post", "{}", &[("path", "/status/503")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "received status code 503");
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    // Per-request override.
    let resp = strict
        .invoke(req(
            "get",
            "",
            &[("path", "status/404"), ("errorIfNot2XX", "false")],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&resp.data[..], b"body of 404");
    assert_eq!(resp.metadata["statusCode"], "404");

    // Component-level off, and the request turning it back on.
    let lax = build(&[("url", &base), ("errorIfNot2XX", "false")]).await;
    let resp = lax
        .invoke(req("get", "", &[("path", "status/500")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.metadata["status"], "500 Internal Server Error");
    assert_eq!(&resp.data[..], b"body of 500");
    let err = lax
        .invoke(req(
            "get",
            "",
            &[("path", "status/500"), ("errorIfNot2XX", "true")],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "received status code 500");

    // 204 is a success with empty data.
    let resp = strict
        .invoke(req("delete", "", &[("path", "status/204")]))
        .await
        .unwrap()
        .unwrap();
    assert!(resp.data.is_empty());
    assert_eq!(resp.metadata["statusCode"], "204");
}

#[tokio::test]
async fn body_truncated_at_max_size() {
    let base = server().await;
    let b = build(&[("url", &base), ("maxResponseBodySize", "1Ki")]).await;
    let resp = b
        .invoke(req("get", "", &[("path", "big")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.data.len(), 1024);
    let unlimited = build(&[("url", &base), ("maxResponseBodySize", "0")]).await;
    let resp = unlimited
        .invoke(req("get", "", &[("path", "big")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.data.len(), 10_000);
}

#[tokio::test]
async fn response_timeout_and_network_errors() {
    let base = server().await;
    let b = build(&[("url", &base), ("responseTimeout", "300ms")]).await;
    let started = std::time::Instant::now();
    let err = b
        .invoke(req("get", "", &[("path", "slow")]))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err.message(),
        format!("Get \"{base}/slow\": context deadline exceeded")
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    // Nothing listens on port 1.
    let closed = build(&[("url", "http://127.0.0.1:1/x")]).await;
    let err = closed.invoke(req("post", "{}", &[])).await.unwrap_err();
    assert!(
        err.message().starts_with("Post \"http://127.0.0.1:1/x\": "),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    // An empty url fails per request, not at build.
    let empty = build(&[]).await;
    let err = empty.invoke(req("get", "", &[])).await.unwrap_err();
    assert_eq!(err.message(), "Get \"\": unsupported protocol scheme \"\"");

    let err = b
        .invoke(req("get", "", &[("X-Bad", "line\nbreak")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    let err = b.invoke(req("fetch", "", &[])).await.unwrap_err();
    assert_eq!(err.message(), "invalid operation: fetch");
}

#[tokio::test]
async fn bad_tls_material_fails_to_build() {
    let build = DESCRIPTOR.build_output.expect("output binding");
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("MTLSRootCA", "/nonexistent/ca.pem")],
            "provided \"MTLSRootCA\" value is neither a valid file path or nor a valid pem encoded string: open /nonexistent/ca.pem: no such file or directory",
        ),
        (
            &[(
                "MTLSRootCA",
                "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            )],
            "failed to add root certificate to certpool",
        ),
        (
            &[("MTLSRenegotiation", "Always")],
            "invalid renegotiation value: Always",
        ),
    ];
    for (pairs, message) in cases {
        let result = build(BuildContext::new(
            "api".to_owned(),
            Properties::from_pairs(pairs.iter().copied()),
            "app".to_owned(),
        ))
        .await;
        match result {
            Ok(_) => panic!("must not build: {message}"),
            Err(e) => assert_eq!(e.message(), message),
        }
    }
}
