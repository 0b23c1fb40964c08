//! Azure Storage bindings: `bindings.azure.blobstorage` (output) and
//! `bindings.azure.storagequeues` (input and output), wire-compatible with daprd's components.
//!
//! # Why a small hand-written REST client, not Microsoft's crates
//!
//! Checked on 2026-12-01 (`cargo info`, the crates' own sources and changelogs):
//!
//! - Microsoft's current crates (`azure_storage_blob` 1.1.0, `azure_storage_queue` 1.1.0, on
//!   `azure_core` 1.1) construct every client from a `TokenCredential` (Entra ID) or from a
//!   ready-made SAS URL. They have **no shared-key credential** and no account-key SAS builder
//!   (`azure_storage_sas` builds user-delegation SAS only, which needs Entra ID). Azurite, the
//!   emulator our tests run against, and most daprd deployments authenticate with the account
//!   key or a connection string, and `presign`/`signTTL` need an account-key SAS.
//! - The previous community generation (`azure_storage_blobs`/`azure_storage_queues` 0.21) had
//!   shared key but is unmaintained and pins an older `azure_core` with its own HTTP stack.
//! - Either way we would add `azure_core`, `typespec_client_core`, `quick-xml`, `time` and their
//!   pipeline for a handful of REST calls, on a 2-core build with a 45 MB binary budget.
//!
//! So both bindings use this module: the workspace's `reqwest`, `roxmltree` to read the XML
//! answers, and a **hand-written SharedKey signer and service-SAS signer** in [`auth`]
//! (HMAC-SHA256 over Microsoft's documented canonical strings, "Authorize with Shared Key" and
//! "Create a service SAS"). The signer is unit-tested against Microsoft's documented
//! string-to-sign example and an independently computed HMAC, and end to end against Azurite,
//! which verifies every signature.
//!
//! Azure AD (Entra ID) is decoded and validated from the `azuread` profile's fields (see
//! [`auth::AzureAdConfig`]); tokens come from [`ad`], also hand-written on `reqwest`
//! (client secret, workload identity, managed identity; `azure_identity` would bring
//! `azure_core` and, for certificates, OpenSSL). AD cannot be reached from this machine: the
//! token flows are tested against a local server that checks the documented requests only.
//!
//! # Deviations from daprd shared by both bindings
//!
//! - The REST API version sent is `2023-11-03` ([`client::API_VERSION`]).
//! - Retries of individual HTTP requests are not done by the client (daprd's Go SDK retries
//!   3 times); failures are classified `Unavailable` so a Resiliency policy retries them.
//! - A custom `endpoint` equal to the public Azure endpoint is used as given (daprd warns and
//!   ignores it); the resulting URL is the same apart from path style.
//! - Azure AD: the client certificate method is validated but not implemented (it fails when
//!   the token is fetched, naming the method); the Azure CLI and SPIFFE methods are refused
//!   at validation. Without `azureAuthMethods`, half-given credentials are an error (daprd
//!   skips them silently).

pub mod ad;
pub mod auth;
pub mod client;
pub mod json;

#[cfg(feature = "azure-blobstorage")]
pub mod blobstorage;
#[cfg(feature = "azure-storagequeues")]
pub mod storagequeues;

pub use bindery_core::Sensitive;

/// The bearer-token authorizer for an Azure AD configuration (process environment).
pub(crate) fn ad_authorizer(
    ad: &auth::AzureAdConfig,
) -> Result<client::Authorizer, bindery_core::BindingError> {
    let tokens = ad::AdTokens::new(ad.clone(), ad::process_env())
        .map_err(|e| bindery_core::BindingError::other(e.to_string()))?;
    Ok(client::Authorizer::Bearer(std::sync::Arc::new(tokens)))
}

/// Go's `base64.StdEncoding.DecodeString` (CR and LF are skipped), with Go's error text.
pub(crate) fn go_b64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let cleaned: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(at, _) => at,
                base64::DecodeError::InvalidLastSymbol(at, _) => at,
                _ => cleaned.len(),
            };
            format!("illegal base64 data at input byte {at}")
        })
}

/// Go's `strconv.ParseBool`.
#[cfg(feature = "azure-blobstorage")]
pub(crate) fn go_parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
