//! TLS helpers the bindings share: Go-compatible PEM sniffing (pure, for every binding) and,
//! for the rustls-based bindings, PEM checks at decode time and the pieces of a
//! `rustls::ClientConfig` (root stores, client identities, the custom verifiers of
//! `bindery-tls`).

/// Whether `text` holds a PEM block (`-----BEGIN X-----` … `-----END X-----`), as Go's
/// `pem.Decode` would find one.
pub fn contains_pem_block(text: &str) -> bool {
    let Some(begin) = text.find("-----BEGIN ") else {
        return false;
    };
    let rest = &text[begin + "-----BEGIN ".len()..];
    let Some(label_end) = rest.find("-----") else {
        return false;
    };
    let label = &rest[..label_end];
    if label.contains('\n') {
        return false;
    }
    rest[label_end..].contains(&format!("-----END {label}-----"))
}

#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "rabbitmq",
    feature = "mqtt3"
))]
pub use with_rustls::*;

#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "rabbitmq",
    feature = "mqtt3"
))]
mod with_rustls {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    #[cfg(feature = "postgres")]
    pub use bindery_tls::{AcceptAnyCertificate, ChainOnly};

    /// Whether `pem` holds at least one certificate and every certificate block in it parses.
    pub fn has_certificates(pem: &str) -> bool {
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
        matches!(certs, Ok(c) if !c.is_empty())
    }

    /// Whether `pem` holds a private key rustls can use.
    pub fn has_private_key(pem: &str) -> bool {
        PrivateKeyDer::from_pem_slice(pem.as_bytes()).is_ok()
    }

    /// The ring provider every binding's rustls configuration uses.
    pub fn ring_provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// Makes ring the process-wide rustls provider, for clients that build their own configuration
    /// (redis, mysql). A provider already installed is kept.
    pub fn install_ring_provider() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    /// Every certificate of a PEM bundle, as a root store.
    pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(cert.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
        Ok(roots)
    }

    /// A client certificate chain and its private key, from PEM text.
    pub fn client_identity(
        cert: &str,
        key: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let chain: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(cert.as_bytes()).collect();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?;
        Ok((chain.map_err(|e| e.to_string())?, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_found_like_go() {
        assert!(contains_pem_block(
            "-----BEGIN X-----\nabc\n-----END X-----"
        ));
        assert!(contains_pem_block(
            "junk\n-----BEGIN A B-----\n-----END A B-----\n"
        ));
        assert!(!contains_pem_block(
            "-----BEGIN X-----\nabc\n-----END Y-----"
        ));
        assert!(!contains_pem_block("-----BEGIN X\n-----\n-----END X-----"));
        assert!(!contains_pem_block("/etc/ssl/cert.pem"));
    }

    #[cfg(feature = "mqtt3")]
    #[test]
    fn pem_checks() {
        assert!(!has_certificates(""));
        assert!(!has_certificates("not a pem"));
        assert!(!has_private_key("not a pem"));
        assert!(roots_from_pem(b"").unwrap().is_empty());
    }
}
