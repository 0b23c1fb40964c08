//! `bindings.twilio.sendgrid`: sends one email per `create` through SendGrid's v3 mail API.
//!
//! As daprd: a JSON POST to `/v3/mail/send` with `Authorization: Bearer <apiKey>`, one
//! personalization holding `to` (and `cc`, `bcc`, `subject`, `dynamic_template_data`), the
//! data (unquoted when it is a string literal) as `text/html` content, `template_id` when a
//! dynamic template is named. Request metadata `emailFrom` (with `emailFromName`), `emailTo`
//! (with `emailToName`), `subject`, `emailCc`, `emailBcc`, `dynamicTemplateId` and
//! `dynamicTemplateData` override the component's values for that request only. A non-2xx
//! answer fails with `error from SendGrid: sending email failed: <code> {Errors:[...]}`, the
//! vendor's errors printed as Go's `%+v` prints them. The response is empty.
//!
//! Deviations: the bindery-only `endpoint` (default `https://api.sendgrid.com`) replaces the
//! hard-coded host; when a template is named and the data is empty, no `content` is sent
//! (daprd sends an empty `text/html` part, which SendGrid refuses).

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, Metadata, OutputBinding, Properties,
    Sensitive, decode_as,
};
use serde_json::{Map, Value, json};

use super::{body_text, parse_endpoint, post_error, status_kind};

pub const API_KEY: Field = Field::new("apiKey", FieldType::String, "The SendGrid API key")
    .required()
    .sensitive()
    .example("SG.api-key");
pub const EMAIL_FROM: Field = Field::new(
    "emailFrom",
    FieldType::String,
    "The sender address; request metadata `emailFrom` overrides it",
)
.example("sender@example.com");
pub const EMAIL_FROM_NAME: Field = Field::new(
    "emailFromName",
    FieldType::String,
    "The sender's display name (used with the component's emailFrom)",
)
.example("John Doe");
pub const EMAIL_TO: Field = Field::new(
    "emailTo",
    FieldType::String,
    "The recipient address; request metadata `emailTo` overrides it",
)
.example("recipient@example.com");
pub const EMAIL_TO_NAME: Field = Field::new(
    "emailToName",
    FieldType::String,
    "The recipient's display name (used with the component's emailTo)",
)
.example("Jane Smith");
pub const SUBJECT: Field = Field::new(
    "subject",
    FieldType::String,
    "The subject; request metadata `subject` overrides it",
)
.example("Hello from Dapr");
pub const EMAIL_CC: Field =
    Field::new("emailCc", FieldType::String, "One CC address").example("cc@example.com");
pub const EMAIL_BCC: Field =
    Field::new("emailBcc", FieldType::String, "One BCC address").example("bcc@example.com");
pub const DYNAMIC_TEMPLATE_DATA: Field = Field::new(
    "dynamicTemplateData",
    FieldType::String,
    "A JSON object of dynamic template data, checked at start-up",
)
.example(r#"{"name":"John","age":30}"#);
pub const DYNAMIC_TEMPLATE_ID: Field = Field::new(
    "dynamicTemplateId",
    FieldType::String,
    "The dynamic template to send",
)
.example("d-1234567890");
pub const ENDPOINT: Field = Field::new(
    "endpoint",
    FieldType::String,
    "bindery only: the base URL of SendGrid's API, for a proxy or a local stand-in",
)
.default_value("https://api.sendgrid.com")
.example("http://127.0.0.1:8080");

pub const FIELDS: &[Field] = &[
    API_KEY,
    EMAIL_FROM,
    EMAIL_FROM_NAME,
    EMAIL_TO,
    EMAIL_TO_NAME,
    SUBJECT,
    EMAIL_CC,
    EMAIL_BCC,
    DYNAMIC_TEMPLATE_DATA,
    DYNAMIC_TEMPLATE_ID,
    ENDPOINT,
];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Send an email; the data is its HTML body. Request metadata `emailFrom`, \
                  `emailFromName`, `emailTo`, `emailToName`, `subject`, `emailCc`, `emailBcc`, \
                  `dynamicTemplateId` and `dynamicTemplateData` override the component's \
                  values for this email only",
}];

#[derive(Debug, Clone)]
pub struct SendGridConfig {
    pub api_key: Sensitive<String>,
    pub email_from: Option<String>,
    pub email_from_name: Option<String>,
    pub email_to: Option<String>,
    pub email_to_name: Option<String>,
    pub subject: Option<String>,
    pub email_cc: Option<String>,
    pub email_bcc: Option<String>,
    pub dynamic_template_id: Option<String>,
    /// Parsed at decode time, as daprd caches it at Init.
    pub dynamic_template_data: Option<Map<String, Value>>,
    pub endpoint: String,
}

impl BindingConfig for SendGridConfig {
    fn decode(p: &Properties, _warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let non_empty = |f: &Field| p.string(f).filter(|v| !v.is_empty());
        let api_key = non_empty(&API_KEY).ok_or_else(|| {
            ConfigError::new(API_KEY.name, "apiKey field is required in metadata")
        })?;
        let dynamic_template_data = match non_empty(&DYNAMIC_TEMPLATE_DATA) {
            Some(text) => {
                template_data(&text).map_err(|m| ConfigError::new(DYNAMIC_TEMPLATE_DATA.name, m))?
            }
            None => None,
        };
        Ok(Self {
            api_key: Sensitive::new(api_key),
            email_from: non_empty(&EMAIL_FROM),
            email_from_name: non_empty(&EMAIL_FROM_NAME),
            email_to: non_empty(&EMAIL_TO),
            email_to_name: non_empty(&EMAIL_TO_NAME),
            subject: non_empty(&SUBJECT),
            email_cc: non_empty(&EMAIL_CC),
            email_bcc: non_empty(&EMAIL_BCC),
            dynamic_template_id: non_empty(&DYNAMIC_TEMPLATE_ID),
            dynamic_template_data,
            endpoint: parse_endpoint(ENDPOINT.name, &p.string(&ENDPOINT).unwrap_or_default())?,
        })
    }
}

/// daprd's `UnmarshalDynamicTemplateData`: a JSON object (or `null`, meaning none).
fn template_data(text: &str) -> Result<Option<Map<String, Value>>, String> {
    let invalid = |detail: String| {
        format!("error from SendGrid binding, dynamic template data is not valid JSON: {detail}")
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        Ok(other) => Err(invalid(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_json_kind(&other)
        ))),
        Err(e) => Err(invalid(e.to_string())),
    }
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.twilio.sendgrid",
    aliases: &[],
    status: "alpha",
    summary: "Sends email through Twilio SendGrid",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<SendGridConfig>,
    build_input: None,
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let config = cx.config::<SendGridConfig>()?;
    Ok(Box::new(SendGridBinding::new(config)?))
}

/// The binding: a configured HTTP client.
pub struct SendGridBinding {
    config: SendGridConfig,
    client: reqwest::Client,
    url: String,
}

/// One address as SendGrid's JSON has it (`name` omitted when empty).
fn address(email: &str, name: Option<&str>) -> Value {
    let mut m = Map::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        m.insert("name".into(), name.into());
    }
    m.insert("email".into(), email.into());
    Value::Object(m)
}

fn request_value<'a>(md: &'a Metadata, key: &str) -> Option<&'a str> {
    md.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

impl SendGridBinding {
    pub fn new(config: SendGridConfig) -> Result<Self, BindingError> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| BindingError::invalid(format!("failed to create HTTP client: {e}")))?;
        let url = format!("{}/v3/mail/send", config.endpoint);
        Ok(Self {
            config,
            client,
            url,
        })
    }

    /// The v3 mail body for one request: the component's values with this request's
    /// overrides, never changing the component's own.
    fn mail(&self, req: &InvokeRequest) -> Result<Value, SendGridError> {
        let c = &self.config;
        let md = &req.metadata;
        let from = match request_value(md, "emailFrom") {
            Some(from) => address(from, request_value(md, "emailFromName")),
            None => address(
                c.email_from.as_deref().ok_or(SendGridError::MissingFrom)?,
                c.email_from_name.as_deref(),
            ),
        };
        let to = match request_value(md, "emailTo") {
            Some(to) => address(to, request_value(md, "emailToName")),
            None => address(
                c.email_to.as_deref().ok_or(SendGridError::MissingTo)?,
                c.email_to_name.as_deref(),
            ),
        };
        let subject = request_value(md, "subject")
            .or(c.subject.as_deref())
            .ok_or(SendGridError::MissingSubject)?;
        let mut personalization = Map::new();
        personalization.insert("to".into(), json!([to]));
        if let Some(cc) = request_value(md, "emailCc").or(c.email_cc.as_deref()) {
            personalization.insert("cc".into(), json!([address(cc, None)]));
        }
        if let Some(bcc) = request_value(md, "emailBcc").or(c.email_bcc.as_deref()) {
            personalization.insert("bcc".into(), json!([address(bcc, None)]));
        }
        personalization.insert("subject".into(), subject.into());
        let template_data = match request_value(md, "dynamicTemplateData") {
            Some(text) => template_data(text).map_err(SendGridError::TemplateData)?,
            None => c.dynamic_template_data.clone(),
        };
        if let Some(data) = template_data {
            personalization.insert("dynamic_template_data".into(), Value::Object(data));
        }
        let template_id =
            request_value(md, "dynamicTemplateId").or(c.dynamic_template_id.as_deref());
        let body = body_text(&req.data);
        let mut mail = Map::new();
        mail.insert("from".into(), from);
        mail.insert("personalizations".into(), json!([personalization]));
        if !(body.is_empty() && template_id.is_some()) {
            mail.insert(
                "content".into(),
                json!([{"type": "text/html", "value": body}]),
            );
        }
        if let Some(id) = template_id {
            mail.insert("template_id".into(), id.into());
        }
        Ok(Value::Object(mail))
    }

    async fn send(&self, req: &InvokeRequest) -> Result<(), SendGridError> {
        let mail = self.mail(req)?;
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(self.config.api_key.expose())
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(mail.to_string())
            .send()
            .await
            .map_err(|e| SendGridError::Transport(post_error(&self.url, &e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(SendGridError::Status {
            status,
            errors: go_rest_errors(&text),
        })
    }
}

/// daprd decodes the answer into `{Errors []{Field, Message, Help any}}` and prints it with
/// `%+v`: `{Errors:[{Field:from Message:bad Help:<nil>}]}`.
fn go_rest_errors(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let items: Vec<String> = parsed
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let field = |k: &str| go_any(e.get(k).unwrap_or(&Value::Null));
                    format!(
                        "{{Field:{} Message:{} Help:{}}}",
                        field("field"),
                        field("message"),
                        field("help")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!("{{Errors:[{}]}}", items.join(" "))
}

/// Go's `%v` of a JSON value decoded into `any`.
fn go_any(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            Some(f) => f.to_string(),
            None => n.to_string(),
        },
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(go_any).collect::<Vec<_>>().join(" ")
            )
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_any(&map[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[async_trait]
impl OutputBinding for SendGridBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        self.send(&request).await.map_err(BindingError::from)?;
        Ok(None)
    }
}

#[derive(Debug, thiserror::Error)]
enum SendGridError {
    #[error("error SendGrid from email not supplied")]
    MissingFrom,
    #[error("error SendGrid to email not supplied")]
    MissingTo,
    #[error("error SendGrid subject not supplied")]
    MissingSubject,
    #[error("{0}")]
    TemplateData(String),
    #[error("error from SendGrid: sending email failed: {0}")]
    Transport(String),
    #[error("error from SendGrid: sending email failed: {} {errors}", status.as_u16())]
    Status {
        status: reqwest::StatusCode,
        errors: String,
    },
}

impl From<SendGridError> for BindingError {
    fn from(e: SendGridError) -> Self {
        let message = e.to_string();
        match e {
            SendGridError::Transport(_) => BindingError::unavailable(message),
            SendGridError::Status { status, .. } => BindingError::new(status_kind(status), message),
            _ => BindingError::invalid(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn decode(pairs: &[(&str, &str)]) -> Result<SendGridConfig, ConfigError> {
        SendGridConfig::decode(
            &Properties::from_pairs(pairs.iter().copied()),
            &mut Vec::new(),
        )
    }

    fn binding(pairs: &[(&str, &str)]) -> SendGridBinding {
        SendGridBinding::new(decode(pairs).unwrap()).unwrap()
    }

    fn req(data: &str, md: &[(&str, &str)]) -> InvokeRequest {
        InvokeRequest {
            operation: "create".into(),
            data: Bytes::copy_from_slice(data.as_bytes()),
            metadata: md
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn api_key_is_required_and_template_data_checked() {
        assert_eq!(
            decode(&[]).unwrap_err().message,
            "apiKey field is required in metadata"
        );
        let err = decode(&[("apiKey", "k"), ("dynamicTemplateData", "[1]")]).unwrap_err();
        assert!(
            err.message.starts_with(
                "error from SendGrid binding, dynamic template data is not valid JSON: json: cannot unmarshal array"
            ),
            "{}",
            err.message
        );
        assert!(decode(&[("apiKey", "k"), ("dynamicTemplateData", "{bad")]).is_err());
        let c = decode(&[("APIKEY", "k"), ("dynamicTemplateData", r#"{"a":1}"#)]).unwrap();
        assert_eq!(c.dynamic_template_data.unwrap()["a"], 1);
        assert_eq!(c.endpoint, "https://api.sendgrid.com");
    }

    #[test]
    fn request_overrides_apply_to_that_request_only() {
        let b = binding(&[
            ("apiKey", "k"),
            ("emailFrom", "a@x"),
            ("emailFromName", "A"),
            ("emailTo", "b@x"),
            ("subject", "s"),
        ]);
        let m = b
            .mail(&req(
                "\"<b>hi</b>\"",
                &[("emailTo", "c@x"), ("emailToName", "C"), ("emailCc", "d@x")],
            ))
            .unwrap();
        assert_eq!(m["from"], json!({"name": "A", "email": "a@x"}));
        assert_eq!(
            m["personalizations"][0]["to"],
            json!([{"name": "C", "email": "c@x"}])
        );
        assert_eq!(m["personalizations"][0]["cc"], json!([{"email": "d@x"}]));
        assert_eq!(
            m["content"],
            json!([{"type": "text/html", "value": "<b>hi</b>"}])
        );
        let m = b.mail(&req("x", &[])).unwrap();
        assert_eq!(m["personalizations"][0]["to"], json!([{"email": "b@x"}]));
        assert!(m["personalizations"][0].get("cc").is_none());
    }

    #[test]
    fn missing_parts_fail_in_daprd_order() {
        let b = binding(&[("apiKey", "k")]);
        let e = b.mail(&req("x", &[])).unwrap_err();
        assert_eq!(e.to_string(), "error SendGrid from email not supplied");
        let e = b.mail(&req("x", &[("emailFrom", "a@x")])).unwrap_err();
        assert_eq!(e.to_string(), "error SendGrid to email not supplied");
        let e = b
            .mail(&req("x", &[("emailFrom", "a@x"), ("emailTo", "b@x")]))
            .unwrap_err();
        assert_eq!(e.to_string(), "error SendGrid subject not supplied");
    }

    #[test]
    fn vendor_errors_print_as_go_does() {
        let body = r#"{"errors":[{"message":"bad from","field":"from.email","help":null},{"message":"x","field":null,"help":{"b":2,"a":"y"}}]}"#;
        assert_eq!(
            go_rest_errors(body),
            "{Errors:[{Field:from.email Message:bad from Help:<nil>} {Field:<nil> Message:x Help:map[a:y b:2]}]}"
        );
        assert_eq!(go_rest_errors("not json"), "{Errors:[]}");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = decode(&[("apiKey", "SG.very-secret")]).unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn corpus_and_example_components_decode() {
        if crate::common::corpus_tests_dir().is_none() {
            eprintln!("SKIP: components-contrib corpus not found");
        }
        // Dapr's corpus holds no bindings.twilio.sendgrid component today; any that appears must decode.
        for (file, p) in crate::common::corpus_components(&["bindings.twilio.sendgrid"]) {
            SendGridConfig::decode(&p, &mut Vec::new()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let p = crate::common::example_properties(&DESCRIPTOR);
        SendGridConfig::decode(&p, &mut Vec::new()).expect("the documented example decodes");
    }
}
