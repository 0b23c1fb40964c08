//! PEM checks and the TLS settings handed to lapin.

use bindery_core::ConfigError;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Checks that the three PEM blocks parse, as daprd does at Init. Never echoes their content.
pub fn validate_pem(ca: &str, cert: &str, key: &str) -> Result<(), ConfigError> {
    check_certs("caCert", ca)?;
    check_certs("clientCert", cert)?;
    PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| {
        ConfigError::new(
            "clientKey",
            "invalid clientKey: no valid PEM private key found",
        )
    })?;
    Ok(())
}

fn check_certs(field: &str, pem: &str) -> Result<(), ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(()),
        _ => Err(ConfigError::new(
            field,
            format!("invalid {field}: no valid PEM certificate found"),
        )),
    }
}

pub fn owned_config(material: Option<&super::config::TlsMaterial>) -> OwnedTLSConfig {
    match material {
        None => OwnedTLSConfig::default(),
        Some(m) => OwnedTLSConfig {
            identity: Some(OwnedIdentity::PKCS8 {
                pem: m.client_cert.as_bytes().to_vec(),
                key: m.client_key.as_bytes().to_vec(),
            }),
            cert_chain: Some(m.ca_cert.clone()),
        },
    }
}
