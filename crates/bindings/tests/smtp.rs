//! `bindings.smtp` against a real SMTP server: aiosmtpd, started per test on a loopback port
//! (plain, STARTTLS, or implicit TLS on 465; with AUTH where the test needs it). The server
//! records every message it accepts, so each test checks what was actually received.
#![cfg(feature = "smtp")]

use std::path::PathBuf;

use base64::Engine as _;
use bindery_bindings::smtp::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties,
};
use bindery_testkit::notify::{SmtpMode, SmtpOptions, SmtpServer, header};
use bytes::Bytes;
use serde_json::Value;

async fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new(
        "mail",
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

/// The component's own defaults, as a daprd user would write them.
fn component(port: &str, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = vec![
        ("host", "127.0.0.1".into()),
        ("port", port.into()),
        ("emailFrom", "dapr@example.com".into()),
        ("emailTo", "ops@example.com".into()),
        ("subject", "Component subject".into()),
    ];
    v.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    v
}

async fn build_with(pairs: &[(&'static str, String)]) -> Box<dyn OutputBinding> {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    build(&pairs).await.unwrap()
}

/// A self-signed certificate for localhost/127.0.0.1, written as PEM files.
fn certificate(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn rcpts(m: &Value) -> Vec<&str> {
    m["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn part<'a>(m: &'a Value, content_type: &str) -> &'a Value {
    m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {m}"))
}

#[tokio::test]
async fn sends_with_daprd_headers_lists_and_bcc() {
    let Some(server) = SmtpServer::start(SmtpOptions::default()) else {
        return;
    };
    let port = server.port.to_string();
    let b = build_with(&component(
        &port,
        &[
            ("emailCC", "cc1@example.com;cc2@example.com"),
            ("emailBCC", "hidden@example.com"),
        ],
    ))
    .await;
    let resp = b
        .invoke(create(
            "\"<h1>Hello</h1>\"",
            &[("emailTo", "a@example.com;B <b@example.com>")],
        ))
        .await
        .unwrap();
    assert!(resp.is_none());
    let got = server.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["mail_from"], "dapr@example.com");
    assert_eq!(
        rcpts(m),
        [
            "a@example.com",
            "b@example.com",
            "cc1@example.com",
            "cc2@example.com",
            "hidden@example.com"
        ]
    );
    assert_eq!(header(m, "To"), Some("a@example.com, B <b@example.com>"));
    assert_eq!(header(m, "Cc"), Some("cc1@example.com, cc2@example.com"));
    assert_eq!(header(m, "Bcc"), None, "Bcc recipients get no header");
    assert_eq!(header(m, "Subject"), Some("Component subject"));
    assert_eq!(header(m, "X-priority"), Some("3"));
    assert_eq!(m["content_type"], "text/html");
    assert_eq!(
        part(m, "text/html")["text"].as_str().unwrap().trim_end(),
        "<h1>Hello</h1>"
    );
    assert_eq!(m["encrypted"], false);
}

/// daprd merges overrides into the component's own config, so a request's `emailTo` or
/// `subject` stays for every later request (components.md C.17). bindery must not.
#[tokio::test]
async fn request_overrides_never_leak_into_later_requests() {
    let Some(server) = SmtpServer::start(SmtpOptions::default()) else {
        return;
    };
    let port = server.port.to_string();
    let b = build_with(&component(&port, &[("priority", "4")])).await;
    b.invoke(create(
        "first",
        &[
            ("emailFrom", "other@example.com"),
            ("emailTo", "override@example.com"),
            ("emailCC", "cc@example.com"),
            ("emailBCC", "bcc@example.com"),
            ("subject", "Overridden subject"),
            ("priority", "1"),
        ],
    ))
    .await
    .unwrap();
    b.invoke(create("second", &[])).await.unwrap();
    let got = server.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["mail_from"], "other@example.com");
    assert_eq!(header(&got[0], "Subject"), Some("Overridden subject"));
    assert_eq!(header(&got[0], "X-priority"), Some("1"));
    let second = &got[1];
    assert_eq!(second["mail_from"], "dapr@example.com", "emailFrom leaked");
    assert_eq!(
        rcpts(second),
        ["ops@example.com"],
        "emailTo/emailCC/emailBCC leaked"
    );
    assert_eq!(
        header(second, "Subject"),
        Some("Component subject"),
        "subject leaked"
    );
    assert_eq!(header(second, "Cc"), None, "emailCC leaked");
    assert_eq!(header(second, "X-priority"), Some("4"), "priority leaked");

    // Concurrent requests each keep their own overrides.
    let b = std::sync::Arc::new(b);
    let calls = (0..12).map(|i| {
        let b = b.clone();
        async move {
            let to = format!("user{i}@example.com");
            let subject = format!("subject {i}");
            b.invoke(create("x", &[("emailTo", &to), ("subject", &subject)]))
                .await
        }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let got = server.messages();
    assert_eq!(got.len(), 14);
    for m in &got[2..] {
        let to = rcpts(m)[0].to_owned();
        let i = to
            .trim_start_matches("user")
            .trim_end_matches("@example.com");
        assert_eq!(
            header(m, "Subject"),
            Some(format!("subject {i}").as_str()),
            "{m}"
        );
    }
}

#[tokio::test]
async fn starttls_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certificate(&dir);
    let Some(server) = SmtpServer::start(SmtpOptions {
        mode: SmtpMode::StartTls,
        tls: Some(tls),
        auth: Some(("mailer".into(), "s3cret".into())),
        ..SmtpOptions::default()
    }) else {
        return;
    };
    let port = server.port.to_string();
    let b = build_with(&component(
        &port,
        &[
            ("user", "mailer"),
            ("password", "s3cret"),
            ("skipTLSVerify", "true"),
        ],
    ))
    .await;
    b.invoke(create("over starttls", &[])).await.unwrap();
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["encrypted"], true, "upgraded with STARTTLS");
    assert_eq!(got[0]["auth_user"], "mailer");

    let b = build_with(&component(
        &port,
        &[
            ("user", "mailer"),
            ("password", "wrong-pass"),
            ("skipTLSVerify", "true"),
        ],
    ))
    .await;
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("error from smtp binding, sending email failed: "),
        "{}",
        err.message()
    );
    assert!(err.message().contains("535"), "{}", err.message());
    assert!(!err.message().contains("wrong-pass"));
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    // Certificates are checked unless skipTLSVerify says otherwise: this one is self-signed.
    let b = build_with(&component(
        &port,
        &[("user", "mailer"), ("password", "s3cret")],
    ))
    .await;
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert!(err.message().contains("certificate"), "{}", err.message());
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn auth_on_a_plain_loopback_session() {
    let Some(server) = SmtpServer::start(SmtpOptions {
        auth: Some(("mailer".into(), "s3cret".into())),
        auth_without_tls: true,
        ..SmtpOptions::default()
    }) else {
        return;
    };
    let port = server.port.to_string();
    let b = build_with(&component(
        &port,
        &[("user", "mailer"), ("password", "s3cret")],
    ))
    .await;
    b.invoke(create("plain auth", &[])).await.unwrap();
    let got = server.messages();
    assert_eq!(got[0]["auth_user"], "mailer");
    assert_eq!(got[0]["encrypted"], false);
    // Without credentials the server refuses the mail.
    let b = build_with(&component(&port, &[])).await;
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert!(err.message().contains("530"), "{}", err.message());
}

/// Port 465 means TLS from the first byte (gomail's rule, so daprd's).
#[tokio::test]
async fn implicit_tls_on_465() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certificate(&dir);
    if std::net::TcpListener::bind("127.0.0.1:465").is_err() {
        assert!(
            !bindery_testkit::faults::under_ci(),
            "127.0.0.1:465 is needed for the implicit-TLS test"
        );
        eprintln!("SKIP: 127.0.0.1:465 cannot be bound (not root, or in use)");
        return;
    }
    let Some(server) = SmtpServer::start(SmtpOptions {
        mode: SmtpMode::ImplicitTls,
        tls: Some(tls),
        port: Some(465),
        auth: Some(("mailer".into(), "s3cret".into())),
        ..SmtpOptions::default()
    }) else {
        return;
    };
    let b = build_with(&component(
        "465",
        &[
            ("user", "mailer"),
            ("password", "s3cret"),
            ("skipTLSVerify", "true"),
        ],
    ))
    .await;
    b.invoke(create("implicit tls", &[])).await.unwrap();
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["encrypted"], true);
    assert_eq!(got[0]["auth_user"], "mailer");
}

#[tokio::test]
async fn attachments_and_plain_text_alternative() {
    let Some(server) = SmtpServer::start(SmtpOptions::default()) else {
        return;
    };
    let port = server.port.to_string();
    let b = build_with(&component(&port, &[])).await;
    let pdf = b"%PDF-1.4 not really\x00\x01\x02";
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    b.invoke(create(
        "<p>See the <b>report</b>.</p>",
        &[
            ("bodyText", "See the report."),
            ("attachment:report.pdf", &encoded),
            ("attachmentContentType:report.pdf", "application/pdf"),
            ("attachment:notes.txt", "aGVsbG8gbm90ZXM="),
        ],
    ))
    .await
    .unwrap();
    let got = server.messages();
    let m = &got[0];
    assert_eq!(m["content_type"], "multipart/mixed");
    assert_eq!(
        part(m, "text/plain")["text"].as_str().unwrap().trim_end(),
        "See the report."
    );
    assert!(
        part(m, "text/html")["text"]
            .as_str()
            .unwrap()
            .contains("<b>report</b>")
    );
    let report = part(m, "application/pdf");
    assert_eq!(report["filename"], "report.pdf");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(report["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, pdf);
    let notes = part(m, "application/octet-stream");
    assert_eq!(notes["filename"], "notes.txt");

    let err = b
        .invoke(create("x", &[("attachment:bad.bin", "not base64!")]))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("attachment \"bad.bin\""),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn daprd_errors() {
    let Some(server) = SmtpServer::start(SmtpOptions::default()) else {
        return;
    };
    let port = server.port.to_string();
    let b = build(&[("host", "127.0.0.1"), ("port", &port)])
        .await
        .unwrap();
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert_eq!(
        err.message(),
        "smtp binding error: emailFrom property not supplied in configuration- or request-metadata"
    );
    let err = b
        .invoke(create(
            "x",
            &[("emailFrom", "a@example.com"), ("emailTo", "b@example.com")],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "smtp binding error: subject property not supplied in configuration- or request-metadata"
    );
    let b = build_with(&component(&port, &[])).await;
    let err = b
        .invoke(create("x", &[("priority", "7")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "smtp binding error:  priority value must be between 1 (highest) and 5 (lowest)"
    );
    assert!(server.messages().is_empty());

    let closed = bindery_testkit::free_port().to_string();
    let b = build_with(&component(&closed, &[])).await;
    let err = b.invoke(create("x", &[])).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("error from smtp binding, sending email failed: "),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let err = build(&[("host", "127.0.0.1")]).await.err().unwrap();
    assert_eq!(
        err.message(),
        "smtp binding error: host and port fields are required in metadata"
    );
}
