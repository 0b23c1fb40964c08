//! The http binding's TLS options against a real TLS server that requires client certificates,
//! with a throw-away CA made by rcgen.
#![cfg(feature = "http")]

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use bindery_bindings::http::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Pki {
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
    server: rustls::ServerConfig,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["client".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        server,
    }
}

/// An HTTPS server that only talks to clients with a certificate from the test CA.
async fn tls_server(config: rustls::ServerConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Body::from("hello over mtls")))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://localhost:{port}")
}

async fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let build = DESCRIPTOR.build_output.expect("output binding");
    build(BuildContext::new(
        "api".to_owned(),
        Properties::from_pairs(pairs.iter().copied()),
        "app".to_owned(),
    ))
    .await
}

fn get() -> InvokeRequest {
    InvokeRequest {
        operation: "get".to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn mutual_tls_with_inline_pem_and_files() {
    let pki = pki();
    let url = tls_server(pki.server.clone()).await;

    // Inline PEM text.
    let b = build(&[
        ("url", &url),
        ("MTLSRootCA", &pki.ca_pem),
        ("MTLSClientCert", &pki.client_cert_pem),
        ("MTLSClientKey", &pki.client_key_pem),
        ("MTLSRenegotiation", "RenegotiateOnceAsClient"),
    ])
    .await
    .unwrap();
    let resp = b.invoke(get()).await.unwrap().unwrap();
    assert_eq!(&resp.data[..], b"hello over mtls");
    assert_eq!(resp.metadata["statusCode"], "200");

    // The same material from files.
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("c.pem"),
        dir.path().join("c.key"),
    );
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();
    let b = build(&[
        ("url", &url),
        ("MTLSRootCA", ca.to_str().unwrap()),
        ("MTLSClientCert", cert.to_str().unwrap()),
        ("MTLSClientKey", key.to_str().unwrap()),
    ])
    .await
    .unwrap();
    let resp = b.invoke(get()).await.unwrap().unwrap();
    assert_eq!(&resp.data[..], b"hello over mtls");

    // Without a client certificate the server refuses the connection.
    let b = build(&[("url", &url), ("MTLSRootCA", &pki.ca_pem)])
        .await
        .unwrap();
    let err = b.invoke(get()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.message().starts_with(&format!("Get \"{url}\": ")),
        "{err}"
    );

    // Without the CA the server's certificate is not trusted.
    let b = build(&[
        ("url", &url),
        ("MTLSClientCert", &pki.client_cert_pem),
        ("MTLSClientKey", &pki.client_key_pem),
    ])
    .await
    .unwrap();
    let err = b.invoke(get()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");

    // A key that is not a key.
    let err = build(&[
        ("url", &url),
        ("MTLSClientCert", &pki.client_cert_pem),
        (
            "MTLSClientKey",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
    ])
    .await
    .err()
    .expect("bad key refused");
    assert!(
        err.message()
            .starts_with("failed to load client certificate: "),
        "{err}"
    );
}
