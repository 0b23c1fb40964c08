//! The AWS authentication profile daprd's AWS components share
//! (`builtin-authentication-profiles.yaml`, `aws`), turned into an [`SdkConfig`].
//!
//! - `region` (alias `awsRegion`): without it the SDK's region chain applies (`AWS_REGION`,
//!   `AWS_DEFAULT_REGION`, the shared config file, instance metadata). When none yields a region,
//!   building fails with an error naming the component and the field.
//! - `endpoint`: a custom endpoint (moto, LocalStack, MinIO); every service client of the
//!   component uses it. Without a scheme, `https://` is prepended (`http://` when the binding
//!   has `disableSSL`).
//! - `accessKey` + `secretKey` (+ `sessionToken`): static keys. Without them the SDK's default
//!   chain applies: environment, shared config and credentials files, web identity (Kubernetes
//!   service accounts), ECS and EC2 instance metadata.
//! - `assumeRoleArn` + `sessionName` (default `DaprDefaultSession`): the credentials above
//!   assume that role through STS before use.
//!
//! Deviations from daprd:
//! - `trustAnchorArn` / `trustProfileArn` (IAM Roles Anywhere) are decoded, but building fails
//!   with "not supported by bindery" rather than silently using other credentials.
//! - `accessKey` without `secretKey` (or the reverse) is refused when the metadata is decoded;
//!   daprd only fails on the first request.
//! - Profiles that need `credential_process` or AWS SSO are not supported by the default chain
//!   here (the SDK features are left out to keep the binary small).
//!
//! Credentials are held as [`Sensitive`] and never reach a log, an error or a Debug print.
//!
//! Timeouts (fixed; daprd's AWS components have no field for them and its SDK sets none, so a
//! dead link hangs a call there): every client connects within [`CONNECT_TIMEOUT`], waits at
//! most [`READ_TIMEOUT`] from sending a request to the first byte of its answer (a request on
//! a dead connection fails then and is retried on a new one), and answers every call, the
//! SDK's own retries included, within [`OPERATION_TIMEOUT`]. A streamed download (S3 `get`)
//! is bounded only up to its answer's headers. A client with a longer wait of its own (SQS
//! long polling) overrides them per call ([`timeouts`]).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use bindery_core::{BindingError, ConfigError, Field, FieldType, Properties};

use bindery_core::Sensitive;

/// Time to open a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time from sending a request to the first byte of its answer, per attempt.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Time for a whole call, the SDK's retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The timeouts of an SDK client: [`CONNECT_TIMEOUT`], `read` (first byte of an answer) and
/// `operation` (the whole call, retries included).
pub fn timeouts(read: Duration, operation: Duration) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read)
        .operation_timeout(operation)
        .build()
}

pub const REGION: Field = Field::new(
    "region",
    FieldType::String,
    "The AWS region of the resource. Without it, the SDK's region chain applies (AWS_REGION, the shared config file, instance metadata).",
)
.aliases(&["awsRegion"])
.example("us-east-1");
pub const ENDPOINT: Field = Field::new(
    "endpoint",
    FieldType::String,
    "A custom endpoint (moto, LocalStack, an AWS-compatible service). Not for production AWS.",
)
.example("http://localhost:4566");
pub const ACCESS_KEY: Field = Field::new(
    "accessKey",
    FieldType::String,
    "AWS access key id. Without keys, the SDK's default credential chain applies.",
)
.sensitive();
pub const SECRET_KEY: Field =
    Field::new("secretKey", FieldType::String, "The secret of accessKey.").sensitive();
pub const SESSION_TOKEN: Field = Field::new(
    "sessionToken",
    FieldType::String,
    "Session token of temporary credentials.",
)
.sensitive();
pub const ASSUME_ROLE_ARN: Field = Field::new(
    "assumeRoleArn",
    FieldType::String,
    "IAM role assumed (through STS) with the credentials above before use.",
);
pub const SESSION_NAME: Field = Field::new(
    "sessionName",
    FieldType::String,
    "Session name when assuming assumeRoleArn.",
)
.default_value("DaprDefaultSession");
pub const TRUST_ANCHOR_ARN: Field = Field::new(
    "trustAnchorArn",
    FieldType::String,
    "IAM Roles Anywhere trust anchor. Not supported by bindery: setting it makes building fail.",
);
pub const TRUST_PROFILE_ARN: Field = Field::new(
    "trustProfileArn",
    FieldType::String,
    "IAM Roles Anywhere profile. Not supported by bindery: setting it makes building fail.",
);

/// A binding's `FIELDS`: its own fields followed by the authentication profile's.
#[macro_export]
#[doc(hidden)]
macro_rules! aws_fields {
    ($($field:expr),* $(,)?) => {
        &[
            $($field,)*
            $crate::aws::auth::REGION,
            $crate::aws::auth::ENDPOINT,
            $crate::aws::auth::ACCESS_KEY,
            $crate::aws::auth::SECRET_KEY,
            $crate::aws::auth::SESSION_TOKEN,
            $crate::aws::auth::ASSUME_ROLE_ARN,
            $crate::aws::auth::SESSION_NAME,
            $crate::aws::auth::TRUST_ANCHOR_ARN,
            $crate::aws::auth::TRUST_PROFILE_ARN,
        ]
    };
}

/// Decoded authentication and endpoint settings. Debug never shows a credential.
#[derive(Clone, Debug, Default)]
pub struct AwsAuth {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub access_key: Option<Sensitive<String>>,
    pub secret_key: Option<Sensitive<String>>,
    pub session_token: Option<Sensitive<String>>,
    pub assume_role_arn: Option<String>,
    pub session_name: String,
    pub roles_anywhere: bool,
}

fn non_empty(p: &Properties, field: &Field) -> Option<String> {
    p.string(field)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl AwsAuth {
    /// Decodes the profile's fields. Pure: no I/O.
    pub fn decode(p: &Properties) -> Result<Self, ConfigError> {
        let secret = |f: &Field| non_empty(p, f).map(Sensitive::new);
        let auth = Self {
            region: non_empty(p, &REGION),
            endpoint: non_empty(p, &ENDPOINT),
            access_key: secret(&ACCESS_KEY),
            secret_key: secret(&SECRET_KEY),
            session_token: secret(&SESSION_TOKEN),
            assume_role_arn: non_empty(p, &ASSUME_ROLE_ARN),
            session_name: non_empty(p, &SESSION_NAME)
                .unwrap_or_else(|| "DaprDefaultSession".into()),
            roles_anywhere: non_empty(p, &TRUST_ANCHOR_ARN).is_some()
                || non_empty(p, &TRUST_PROFILE_ARN).is_some(),
        };
        match (&auth.access_key, &auth.secret_key) {
            (Some(_), None) => Err(ConfigError::new(
                SECRET_KEY.name,
                "accessKey is set but secretKey is missing",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                ACCESS_KEY.name,
                "secretKey is set but accessKey is missing",
            )),
            _ => Ok(()),
        }?;
        if auth
            .endpoint
            .as_ref()
            .is_some_and(|e| e.contains(char::is_whitespace))
        {
            return Err(ConfigError::new(ENDPOINT.name, "the endpoint is not a URL"));
        }
        Ok(auth)
    }

    /// The endpoint as a URL: `https://` (or `http://` with `disable_ssl`) when it has no scheme.
    pub fn endpoint_url(&self, disable_ssl: bool) -> Option<String> {
        self.endpoint.as_ref().map(|e| {
            if e.contains("://") {
                e.clone()
            } else if disable_ssl {
                format!("http://{e}")
            } else {
                format!("https://{e}")
            }
        })
    }

    /// Resolves region and credentials into an SDK config. `component` names the binding in
    /// errors (`aws.s3 binding "files"`).
    pub async fn sdk_config(
        &self,
        component: &str,
        disable_ssl: bool,
    ) -> Result<SdkConfig, BindingError> {
        if self.roles_anywhere {
            return Err(BindingError::invalid(format!(
                "{component}: IAM Roles Anywhere (trustAnchorArn, trustProfileArn) is not supported by bindery"
            )));
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts(READ_TIMEOUT, OPERATION_TIMEOUT));
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = self.endpoint_url(disable_ssl) {
            loader = loader.endpoint_url(url);
        }
        if let (Some(key), Some(secret)) = (&self.access_key, &self.secret_key) {
            loader = loader.credentials_provider(Credentials::new(
                key.expose().clone(),
                secret.expose().clone(),
                self.session_token.as_ref().map(|t| t.expose().clone()),
                None,
                "bindery-component-metadata",
            ));
        }
        let base = loader.load().await;
        if base.region().is_none() {
            return Err(BindingError::invalid(format!(
                "{component}: no AWS region: set the component's field region (alias awsRegion), or AWS_REGION"
            )));
        }
        let Some(role) = &self.assume_role_arn else {
            return Ok(base);
        };
        let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .session_name(self.session_name.clone())
            .configure(&base)
            .build()
            .await;
        Ok(base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build())
    }
}

/// Whether an SDK error means the service could not be reached (refused, timed out, DNS),
/// as opposed to an answer from the service.
pub fn is_unreachable<E, R>(err: &SdkError<E, R>) -> bool {
    matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    )
}

/// The error text of an SDK error, with its whole source chain.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(err).to_string()
}

/// Converts an SDK error into a binding error: an unreachable service becomes `Unavailable`
/// with a message naming the component and the endpoint field; anything else keeps `prefix`
/// (daprd's text) and the SDK's message.
pub fn sdk_error<E, R>(
    component: &str,
    endpoint: Option<&str>,
    prefix: &str,
    err: &SdkError<E, R>,
) -> BindingError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if is_unreachable(err) {
        let target = match endpoint {
            Some(e) => format!("the endpoint {e} (field endpoint)"),
            None => "the AWS endpoint".to_owned(),
        };
        return BindingError::unavailable(format!(
            "{component}: cannot reach {target}: {}",
            describe(err)
        ));
    }
    BindingError::other(format!("{prefix}{}", describe(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_aliases_and_hides_credentials() {
        let p = Properties::from_pairs([
            ("awsRegion", "eu-west-1"),
            ("accessKey", "AKIDEXAMPLE"),
            ("secretKey", "wJalrXUtnFEMI"),
            ("sessionToken", "tok3n"),
        ]);
        let auth = AwsAuth::decode(&p).unwrap();
        assert_eq!(auth.region.as_deref(), Some("eu-west-1"));
        assert_eq!(auth.session_name, "DaprDefaultSession");
        let shown = format!("{auth:?}");
        for secret in ["AKIDEXAMPLE", "wJalrXUtnFEMI", "tok3n"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn region_wins_over_its_alias_and_half_keys_are_refused() {
        let p = Properties::from_pairs([("region", "a"), ("awsRegion", "b")]);
        assert_eq!(AwsAuth::decode(&p).unwrap().region.as_deref(), Some("a"));
        let p = Properties::from_pairs([("accessKey", "k")]);
        assert_eq!(AwsAuth::decode(&p).unwrap_err().field, "secretKey");
        let p = Properties::from_pairs([("secretKey", "k")]);
        assert_eq!(AwsAuth::decode(&p).unwrap_err().field, "accessKey");
    }

    #[test]
    fn endpoint_gets_a_scheme() {
        let p = Properties::from_pairs([("endpoint", "localhost:4566")]);
        let auth = AwsAuth::decode(&p).unwrap();
        assert_eq!(auth.endpoint_url(true).unwrap(), "http://localhost:4566");
        assert_eq!(auth.endpoint_url(false).unwrap(), "https://localhost:4566");
        let p = Properties::from_pairs([("endpoint", "http://127.0.0.1:5000")]);
        let auth = AwsAuth::decode(&p).unwrap();
        assert_eq!(auth.endpoint_url(false).unwrap(), "http://127.0.0.1:5000");
    }

    #[tokio::test]
    async fn missing_region_names_the_component_and_field() {
        // SAFETY-free: only this test in this binary reads these variables.
        if std::env::var_os("AWS_REGION").is_some()
            || std::env::var_os("AWS_DEFAULT_REGION").is_some()
        {
            eprintln!("SKIP: AWS_REGION is set in the environment");
            return;
        }
        let p = Properties::from_pairs([
            ("endpoint", "http://127.0.0.1:9"),
            ("accessKey", "a"),
            ("secretKey", "b"),
        ]);
        let auth = AwsAuth::decode(&p).unwrap();
        let err = auth
            .sdk_config("aws.sqs binding \"q\"", false)
            .await
            .unwrap_err();
        assert!(err.message().contains("aws.sqs binding \"q\""), "{err}");
        assert!(err.message().contains("region"), "{err}");
    }
}
