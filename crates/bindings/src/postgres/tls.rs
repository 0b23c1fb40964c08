//! rustls settings for each libpq `sslmode`, matching pgx: `allow`, `prefer` and `require`
//! encrypt without verifying the certificate; `verify-ca` verifies the chain but not the host
//! name; `verify-full` verifies both. Roots come from `sslrootcert`, else the webpki roots.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::common::tls::{AcceptAnyCertificate, ChainOnly, ring_provider};

use super::config::{PostgresConfig, SslMode};

pub fn connector(config: &PostgresConfig) -> Result<MakeRustlsConnect, String> {
    let provider = ring_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let tls = match config.ssl_mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            match &config.ssl_root_cert {
                Some(path) => {
                    let pem =
                        std::fs::read(path).map_err(|e| format!("unable to read CA file: {e}"))?;
                    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                        let cert = cert.map_err(|e| format!("unable to parse CA file: {e}"))?;
                        roots
                            .add(cert)
                            .map_err(|e| format!("unable to add CA to cert pool: {e}"))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| e.to_string())?;
            if config.ssl_mode == SslMode::VerifyCa {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly::new(verifier)))
                    .with_no_client_auth()
            } else {
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
        }
    };
    Ok(MakeRustlsConnect::new(tls))
}
