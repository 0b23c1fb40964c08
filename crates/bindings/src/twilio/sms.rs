//! `bindings.twilio.sms`: sends one SMS per `create` through Twilio's Messages API.
//!
//! As daprd: a form POST of `To`, `From`, `Body` with basic auth (account SID and auth token)
//! to `/2010-04-01/Accounts/<accountSid>/Messages.json`; the component's `toNumber` wins over
//! the request's; the body is the data unquoted (components-contrib's `utils.Unquote`); a non-2xx answer fails with
//! `error from Twilio (<code>): <code> <reason>`; the response is empty. `timeout` defaults to
//! 5 minutes, as in daprd's code (its metadata.yaml says 30s).
//!
//! Deviations: the bindery-only `endpoint` (default `https://api.twilio.com`) replaces the
//! hard-coded host; a `timeout` of 0 means no timeout (Go's client reads it the same way).
//! Twilio's own error code and message, which daprd drops, are logged at warn level.

use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties, Sensitive,
    decode_as,
};

use super::{json_scalar_text, parse_endpoint, post_error, status_kind};

pub const ACCOUNT_SID: Field =
    Field::new("accountSid", FieldType::String, "The Twilio account SID")
        .required()
        .example("AC1234567890abcdef");
pub const AUTH_TOKEN: Field = Field::new("authToken", FieldType::String, "The Twilio auth token")
    .required()
    .sensitive()
    .example("auth-token");
pub const FROM_NUMBER: Field =
    Field::new("fromNumber", FieldType::String, "The sender phone number")
        .required()
        .example("+1234567890");
pub const TO_NUMBER: Field = Field::new(
    "toNumber",
    FieldType::String,
    "The recipient phone number. When set it is used for every message and request metadata \
     `toNumber` is ignored; when absent, each request must give `toNumber`",
)
.example("+0987654321");
pub const TIMEOUT: Field = Field::new(
    "timeout",
    FieldType::Duration,
    "How long one request to Twilio may take; 0 means no limit",
)
.default_value("5m")
.example("30s");
pub const ENDPOINT: Field = Field::new(
    "endpoint",
    FieldType::String,
    "bindery only: the base URL of Twilio's API, for a proxy or a local stand-in",
)
.default_value("https://api.twilio.com")
.example("http://127.0.0.1:8080");

pub const FIELDS: &[Field] = &[
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    TO_NUMBER,
    TIMEOUT,
    ENDPOINT,
];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Send an SMS; the data is the message text. Request metadata `toNumber` names \
                  the recipient when the component has no toNumber",
}];

/// The request metadata key naming the recipient.
pub const REQUEST_TO_NUMBER: &str = "toNumber";

#[derive(Debug, Clone)]
pub struct SmsConfig {
    pub account_sid: String,
    pub auth_token: Sensitive<String>,
    pub from_number: String,
    pub to_number: Option<String>,
    pub timeout: Option<Duration>,
    pub endpoint: String,
}

impl BindingConfig for SmsConfig {
    fn decode(p: &Properties, _warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let non_empty = |f: &Field| p.string(f).filter(|v| !v.is_empty());
        let from_number = non_empty(&FROM_NUMBER).ok_or_else(|| {
            ConfigError::new(FROM_NUMBER.name, r#""fromNumber" is a required field"#)
        })?;
        let account_sid = non_empty(&ACCOUNT_SID).ok_or_else(|| {
            ConfigError::new(ACCOUNT_SID.name, r#""accountSid" is a required field"#)
        })?;
        let auth_token = non_empty(&AUTH_TOKEN).ok_or_else(|| {
            ConfigError::new(AUTH_TOKEN.name, r#""authToken" is a required field"#)
        })?;
        let endpoint = parse_endpoint(ENDPOINT.name, &p.string(&ENDPOINT).unwrap_or_default())?;
        Ok(Self {
            account_sid,
            auth_token: Sensitive::new(auth_token),
            from_number,
            to_number: non_empty(&TO_NUMBER),
            timeout: p.duration(&TIMEOUT)?.filter(|d| !d.is_zero()),
            endpoint,
        })
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.twilio.sms",
    aliases: &[],
    status: "stable",
    summary: "Sends SMS messages through Twilio",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<SmsConfig>,
    build_input: None,
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let config = cx.config::<SmsConfig>()?;
    Ok(Box::new(SmsBinding::new(cx.name.clone(), config)?))
}

/// The binding: a configured HTTP client.
pub struct SmsBinding {
    name: String,
    config: SmsConfig,
    client: reqwest::Client,
    url: String,
}

impl SmsBinding {
    pub fn new(name: String, config: SmsConfig) -> Result<Self, BindingError> {
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(30));
        if let Some(t) = config.timeout {
            builder = builder.timeout(t);
        }
        let client = builder
            .build()
            .map_err(|e| BindingError::invalid(format!("failed to create HTTP client: {e}")))?;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.endpoint, config.account_sid
        );
        Ok(Self {
            name,
            config,
            client,
            url,
        })
    }

    async fn send(&self, req: &InvokeRequest) -> Result<(), SmsError> {
        let to = match &self.config.to_number {
            Some(to) => to.clone(),
            None => req
                .metadata
                .get(REQUEST_TO_NUMBER)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or(SmsError::MissingTo)?,
        };
        let body = json_scalar_text(&req.data);
        // Go's url.Values.Encode sorts by key.
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Body", &body)
            .append_pair("From", &self.config.from_number)
            .append_pair("To", &to)
            .finish();
        let response = self
            .client
            .post(&self.url)
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| SmsError::Transport(post_error(&self.url, &e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        if let Ok(detail) = serde_json::from_str::<serde_json::Value>(&text) {
            tracing::warn!(
                component = %self.name,
                status = status.as_u16(),
                twilio_code = %detail.get("code").map(|c| c.to_string()).unwrap_or_default(),
                twilio_message = detail.get("message").and_then(|m| m.as_str()).unwrap_or_default(),
                "Twilio refused the message."
            );
        }
        Err(SmsError::Status(status))
    }
}

#[async_trait]
impl OutputBinding for SmsBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        self.send(&request).await.map_err(BindingError::from)?;
        Ok(None)
    }
}

#[derive(Debug, thiserror::Error)]
enum SmsError {
    #[error("twilio missing \"toNumber\" field")]
    MissingTo,
    #[error("{0}")]
    Transport(String),
    #[error("error from Twilio ({}): {} {}", .0.as_u16(), .0.as_u16(), .0.canonical_reason().unwrap_or(""))]
    Status(reqwest::StatusCode),
}

impl From<SmsError> for BindingError {
    fn from(e: SmsError) -> Self {
        let message = e.to_string();
        match e {
            SmsError::MissingTo => BindingError::invalid(message),
            SmsError::Transport(_) => BindingError::unavailable(message),
            SmsError::Status(status) => BindingError::new(status_kind(status), message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pairs: &[(&str, &str)]) -> Result<SmsConfig, ConfigError> {
        SmsConfig::decode(
            &Properties::from_pairs(pairs.iter().copied()),
            &mut Vec::new(),
        )
    }

    const OK: &[(&str, &str)] = &[
        ("accountSid", "AC1"),
        ("authToken", "secret-token"),
        ("fromNumber", "+1555"),
    ];

    #[test]
    fn required_fields_in_daprd_order() {
        let err = decode(&[]).unwrap_err();
        assert_eq!(err.message, r#""fromNumber" is a required field"#);
        let err = decode(&[("fromNumber", "+1")]).unwrap_err();
        assert_eq!(err.message, r#""accountSid" is a required field"#);
        let err = decode(&[("fromNumber", "+1"), ("accountSid", "AC")]).unwrap_err();
        assert_eq!(err.message, r#""authToken" is a required field"#);
    }

    #[test]
    fn defaults_and_case_insensitive_names() {
        let c = decode(OK).unwrap();
        assert_eq!(c.timeout, Some(Duration::from_secs(300)));
        assert_eq!(c.endpoint, "https://api.twilio.com");
        assert_eq!(c.to_number, None);
        let c = decode(&[
            ("ACCOUNTSID", "AC1"),
            ("authtoken", "t"),
            ("FromNumber", "+1"),
            ("tonumber", "+2"),
            ("timeout", "0"),
        ])
        .unwrap();
        assert_eq!(c.to_number.as_deref(), Some("+2"));
        assert_eq!(c.timeout, None);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = decode(OK).unwrap();
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn status_text_matches_daprd() {
        let e = SmsError::Status(reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(e.to_string(), "error from Twilio (400): 400 Bad Request");
    }

    #[test]
    fn descriptor_shape() {
        assert!(DESCRIPTOR.has_output() && !DESCRIPTOR.has_input());
        assert!(DESCRIPTOR.supports_operation("create"));
        const { assert!(AUTH_TOKEN.sensitive) };
    }

    #[test]
    fn corpus_and_example_components_decode() {
        if crate::common::corpus_tests_dir().is_none() {
            eprintln!("SKIP: components-contrib corpus not found");
        }
        // Dapr's corpus holds no bindings.twilio.sms component today; any that appears must decode.
        for (file, p) in crate::common::corpus_components(&["bindings.twilio.sms"]) {
            SmsConfig::decode(&p, &mut Vec::new()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let p = crate::common::example_properties(&DESCRIPTOR);
        SmsConfig::decode(&p, &mut Vec::new()).expect("the documented example decodes");
    }
}
