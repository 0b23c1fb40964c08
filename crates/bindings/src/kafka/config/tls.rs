//! TLS to the brokers: the CA certificate (checked as PEM when given under its exact key), the
//! client certificate of authType mtls, `skipVerify` and `disableTls`.

use bindery_core::{ConfigError, ConfigWarning, Properties, Sensitive};

use super::auth::{Auth, AuthType};
use super::fields::*;
use super::parse::err;
use crate::common::tls::contains_pem_block;

#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// TLS on the wire (false when disableTls or authType none).
    pub enabled: bool,
    pub skip_verify: bool,
    pub ca_cert: Option<String>,
    /// Client certificate and key; used for authType mtls only, as in daprd.
    pub client_cert: Option<String>,
    pub client_key: Option<Sensitive<String>>,
}

/// `caCert` under any case; the exact-case key wins and must hold a PEM block.
pub(super) fn ca_cert(p: &Properties) -> Result<Option<String>, ConfigError> {
    let mut ca_cert = p
        .get(CA_CERT.name)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if let Some(v) = p.exact(CA_CERT.name).filter(|v| !v.is_empty()) {
        if !contains_pem_block(v) {
            return Err(err(CA_CERT.name, "kafka error: invalid ca certificate"));
        }
        ca_cert = Some(v.to_owned());
    }
    Ok(ca_cert)
}

pub(super) fn warn_skip_verify(skip_verify: bool, warnings: &mut Vec<ConfigWarning>) {
    if skip_verify {
        warnings.push(ConfigWarning::new(
            SKIP_VERIFY.name,
            "skipVerify skips the broker's certificate verification, which is unsafe",
        ));
    }
}

pub(super) fn config(
    auth: &Auth,
    ca_cert: Option<String>,
    tls_disable: bool,
    skip_verify: bool,
) -> TlsConfig {
    let mtls = auth.auth_type == AuthType::Mtls;
    TlsConfig {
        enabled: !(tls_disable || auth.auth_type == AuthType::None),
        skip_verify,
        ca_cert,
        client_cert: auth.client_cert.clone().filter(|_| mtls),
        client_key: auth.client_key.clone().filter(|_| mtls),
    }
}
