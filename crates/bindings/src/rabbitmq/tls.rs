//! The TLS settings handed to lapin. The PEM blocks were checked when the metadata was decoded.

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};

use super::config::TlsMaterial;

pub fn owned_config(material: Option<&TlsMaterial>) -> OwnedTLSConfig {
    match material {
        None => OwnedTLSConfig::default(),
        Some(m) => OwnedTLSConfig {
            identity: Some(OwnedIdentity::PKCS8 {
                pem: m.client_cert.as_bytes().to_vec(),
                key: m.client_key.expose().as_bytes().to_vec(),
            }),
            cert_chain: Some(m.ca_cert.clone()),
        },
    }
}
