//! `authType` and its credentials: the legacy `authRequired` upgrade, the per-type required
//! fields, the SASL mechanism and the checks daprd makes after decoding the metadata.

use bindery_core::{ConfigError, ConfigWarning, Field, Properties, Sensitive};

use super::fields::*;
use super::parse::{err, go_parse_bool};
use crate::common::tls::contains_pem_block;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    None,
    Password,
    Mtls,
    Certificate,
    Oidc,
    OidcPrivateKeyJwt,
    AwsIam,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Password => "password",
            AuthType::Mtls => "mtls",
            AuthType::Certificate => "certificate",
            AuthType::Oidc => "oidc",
            AuthType::OidcPrivateKeyJwt => "oidc_private_key_jwt",
            AuthType::AwsIam => "awsiam",
        }
    }

    /// Whether bindery can connect with this authentication type.
    pub fn is_supported(self) -> bool {
        !matches!(
            self,
            AuthType::Oidc | AuthType::OidcPrivateKeyJwt | AuthType::AwsIam
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// The credentials `authType` asks for, checked as daprd checks them.
#[derive(Debug, Clone)]
pub(super) struct Auth {
    pub auth_type: AuthType,
    pub sasl_username: String,
    pub sasl_password: Sensitive<String>,
    /// Given for any auth type; used for mtls only.
    pub client_cert: Option<String>,
    pub client_key: Option<Sensitive<String>>,
}

/// upgradeMetadata: the legacy authRequired flag decides authType when that is empty.
pub(super) fn raw_auth_type(
    p: &Properties,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<String, ConfigError> {
    let auth_type_raw = p.get(AUTH_TYPE.name).unwrap_or("").to_owned();
    let Some(required) = p.get(AUTH_REQUIRED.name).filter(|v| !v.is_empty()) else {
        return Ok(auth_type_raw);
    };
    if !auth_type_raw.is_empty() {
        return Ok(auth_type_raw);
    }
    warnings.push(ConfigWarning::new(
        AUTH_REQUIRED.name,
        "authRequired is deprecated, use authType instead",
    ));
    Ok(match go_parse_bool(required) {
        Some(true) if p.get(SASL_PASSWORD.name).is_some_and(|v| !v.is_empty()) => {
            "password".to_owned()
        }
        Some(true) => "mtls".to_owned(),
        Some(false) => "none".to_owned(),
        None => {
            return Err(err(
                AUTH_REQUIRED.name,
                "kafka error: invalid value for 'authRequired' attribute",
            ));
        }
    })
}

/// The `authType` value and what it requires. `has_ca_cert`: a CA certificate was given.
pub(super) fn decode(
    p: &Properties,
    auth_type_raw: &str,
    has_ca_cert: bool,
) -> Result<Auth, ConfigError> {
    if auth_type_raw.is_empty() {
        return Err(err(
            AUTH_TYPE.name,
            "kafka error: 'authType' attribute was missing or empty",
        ));
    }
    let non_empty = |f: &Field| p.get(f.name).filter(|v| !v.is_empty()).map(str::to_owned);
    let auth = Auth {
        auth_type: AuthType::None,
        sasl_username: p.get(SASL_USERNAME.name).unwrap_or("").to_owned(),
        sasl_password: Sensitive::new(p.get(SASL_PASSWORD.name).unwrap_or("").to_owned()),
        client_cert: non_empty(&CLIENT_CERT),
        client_key: non_empty(&CLIENT_KEY).map(Sensitive::new),
    };
    let lower = auth_type_raw.to_ascii_lowercase();
    let auth_type = match lower.as_str() {
        "password" => check_password(&auth)?,
        "oidc" => check_oidc(p, AuthType::Oidc)?,
        "oidc_private_key_jwt" => check_oidc(p, AuthType::OidcPrivateKeyJwt)?,
        "mtls" => check_mtls(&auth)?,
        "none" => AuthType::None,
        "certificate" if !has_ca_cert => {
            return Err(err(
                CA_CERT.name,
                "missing CA certificate property 'caCert' for authType 'certificate'",
            ));
        }
        "certificate" => AuthType::Certificate,
        "awsiam" => AuthType::AwsIam,
        _ => {
            return Err(err(
                AUTH_TYPE.name,
                "kafka error: invalid value for 'authType' attribute",
            ));
        }
    };
    Ok(Auth { auth_type, ..auth })
}

fn check_password(auth: &Auth) -> Result<AuthType, ConfigError> {
    if auth.sasl_username.is_empty() {
        return Err(err(
            SASL_USERNAME.name,
            "kafka error: missing SASL Username for authType 'password'",
        ));
    }
    if auth.sasl_password.expose().is_empty() {
        return Err(err(
            SASL_PASSWORD.name,
            "kafka error: missing SASL Password for authType 'password'",
        ));
    }
    Ok(AuthType::Password)
}

fn check_oidc(p: &Properties, at: AuthType) -> Result<AuthType, ConfigError> {
    let name = at.as_str();
    let missing = |f: &Field, what: &str| -> Result<(), ConfigError> {
        if p.get(f.name).unwrap_or("").is_empty() {
            return Err(err(
                f.name,
                format!("kafka error: missing OIDC {what} for authType '{name}'"),
            ));
        }
        Ok(())
    };
    missing(&OIDC_TOKEN_ENDPOINT, "Token Endpoint")?;
    missing(&OIDC_CLIENT_ID, "Client ID")?;
    if at == AuthType::Oidc {
        missing(&OIDC_CLIENT_SECRET, "Client Secret")?;
    } else {
        missing(&OIDC_CLIENT_ASSERTION_CERT, "Client Assertion Cert")?;
        missing(&OIDC_CLIENT_ASSERTION_KEY, "Client Assertion Key")?;
    }
    if let Some(ext) = p.get(OIDC_EXTENSIONS.name).filter(|v| !v.is_empty()) {
        let ok = serde_json::from_str::<std::collections::HashMap<String, String>>(ext)
            .is_ok_and(|m| !m.is_empty());
        if !ok {
            return Err(err(
                OIDC_EXTENSIONS.name,
                format!("kafka error: improper OIDC Extensions format for authType '{name}'"),
            ));
        }
    }
    Ok(at)
}

fn check_mtls(auth: &Auth) -> Result<AuthType, ConfigError> {
    if auth
        .client_cert
        .as_deref()
        .is_some_and(|c| !contains_pem_block(c))
    {
        return Err(err(
            CLIENT_CERT.name,
            "kafka error: invalid client certificate",
        ));
    }
    if auth
        .client_key
        .as_ref()
        .is_some_and(|c| !contains_pem_block(c.expose()))
    {
        return Err(err(CLIENT_KEY.name, "kafka error: invalid client key"));
    }
    if auth.client_key.is_some() != auth.client_cert.is_some() {
        return Err(err(
            CLIENT_KEY.name,
            "kafka error: clientKey or clientCert is missing",
        ));
    }
    Ok(AuthType::Mtls)
}

/// daprd's `Init` checks after the metadata is decoded: mTLS cannot work without TLS, and AWS
/// IAM needs a region.
pub(super) fn check_after_metadata(
    p: &Properties,
    auth_type: AuthType,
    tls_disable: bool,
) -> Result<(), ConfigError> {
    if auth_type == AuthType::Mtls && tls_disable {
        return Err(err(
            DISABLE_TLS.name,
            "kafka: cannot configure mTLS authentication when TLSDisable is 'true'",
        ));
    }
    if auth_type == AuthType::AwsIam {
        let region = p
            .exact(REGION.name)
            .filter(|v| !v.is_empty())
            .or_else(|| p.exact(AWS_REGION.name).filter(|v| !v.is_empty()));
        if region.is_none() {
            return Err(err(
                REGION.name,
                "failed to validate AWS IAM authentication fields: metadata property \
                 AWSRegion is missing",
            ));
        }
    }
    Ok(())
}

pub(super) fn sasl_mechanism(p: &Properties) -> SaslMechanism {
    match p.get(SASL_MECHANISM.name).unwrap_or("") {
        "SHA-256" => SaslMechanism::ScramSha256,
        "SHA-512" => SaslMechanism::ScramSha512,
        _ => SaslMechanism::Plain,
    }
}
