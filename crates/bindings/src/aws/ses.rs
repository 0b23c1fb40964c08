//! `bindings.aws.ses`: output `create` sends one HTML email (components-contrib
//! `bindings/aws/ses`).
//!
//! `emailFrom`, `emailTo`, `subject`, `emailCc` and `emailBcc` come from the component and can
//! be overridden per request by request metadata of the same name (matched case-insensitively,
//! as daprd's metadata decoder does); an override applies to that request only. Address lists
//! are separated by `;`. The data must be a quoted string (Go's `strconv.Unquote`), sent as the
//! UTF-8 HTML body.
//!
//! Deviations from daprd:
//! - daprd replaces the whole destination when `emailCc` or `emailBcc` is set, so the `To`
//!   (and, with both, the `Cc`) recipients are silently dropped; bindery sends to all three;
//! - `endpoint` is honoured (daprd's SES ignores it), so the binding can run against moto.

use async_trait::async_trait;
use aws_sdk_ses::Client;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, Metadata, OutputBinding, Properties,
};

use crate::aws::auth::{AwsAuth, sdk_error};

pub const EMAIL_FROM: Field = Field::new(
    "emailFrom",
    FieldType::String,
    "The sender address; request metadata emailFrom overrides it.",
)
.required()
.example("sender@example.com");
pub const EMAIL_TO: Field = Field::new(
    "emailTo",
    FieldType::String,
    "Recipients, separated by `;`; request metadata emailTo overrides them.",
)
.required()
.example("recipient@example.com");
pub const SUBJECT: Field = Field::new(
    "subject",
    FieldType::String,
    "The subject; request metadata subject overrides it.",
)
.required()
.example("Hello from Dapr");
pub const EMAIL_CC: Field = Field::new(
    "emailCc",
    FieldType::String,
    "Cc recipients, separated by `;`.",
)
.example("cc@example.com");
pub const EMAIL_BCC: Field = Field::new(
    "emailBcc",
    FieldType::String,
    "Bcc recipients, separated by `;`.",
)
.example("bcc@example.com");

pub const FIELDS: &[Field] = crate::aws_fields![EMAIL_FROM, EMAIL_TO, SUBJECT, EMAIL_CC, EMAIL_BCC];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Send the (quoted string) data as an HTML email.",
}];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.aws.ses",
    aliases: &[],
    status: "alpha",
    summary: "Send email with Amazon SES.",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<SesConfig>,
    build_input: None,
    build_output: Some(build_output),
};

/// The mail fields: the component's, or one request's merge of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    pub email_from: String,
    pub email_to: String,
    pub subject: String,
    pub email_cc: String,
    pub email_bcc: String,
}

impl Mail {
    /// This request's fields: request metadata of the same name (any case) wins. `self` is
    /// never changed, so nothing carries over to later requests.
    pub fn merged(&self, meta: &Metadata) -> Mail {
        let pick = |field: &Field, base: &String| {
            meta.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field.name))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| base.clone())
        };
        Mail {
            email_from: pick(&EMAIL_FROM, &self.email_from),
            email_to: pick(&EMAIL_TO, &self.email_to),
            subject: pick(&SUBJECT, &self.subject),
            email_cc: pick(&EMAIL_CC, &self.email_cc),
            email_bcc: pick(&EMAIL_BCC, &self.email_bcc),
        }
    }

    fn check(&self) -> Result<(), BindingError> {
        for (value, name) in [
            (&self.email_from, "emailFrom"),
            (&self.email_to, "emailTo"),
            (&self.subject, "subject"),
        ] {
            if value.is_empty() {
                return Err(BindingError::invalid(format!(
                    "SES binding error: {name} property not supplied in configuration- or request-metadata"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct SesConfig {
    pub mail: Mail,
    pub auth: AwsAuth,
}

impl BindingConfig for SesConfig {
    fn decode(p: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let s = |f: &Field| p.string(f).unwrap_or_default();
        Ok(Self {
            mail: Mail {
                email_from: s(&EMAIL_FROM),
                email_to: s(&EMAIL_TO),
                subject: s(&SUBJECT),
                email_cc: s(&EMAIL_CC),
                email_bcc: s(&EMAIL_BCC),
            },
            auth: AwsAuth::decode(p)?,
        })
    }
}

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<SesConfig>()?;
        let component = format!("aws.ses binding {:?}", cx.name);
        let sdk = config.auth.sdk_config(&component, false).await?;
        Ok(Box::new(Ses {
            client: Client::new(&sdk),
            endpoint: config.auth.endpoint_url(false),
            config,
            component,
        }) as Box<dyn OutputBinding>)
    })
}

pub struct Ses {
    client: Client,
    config: SesConfig,
    endpoint: Option<String>,
    component: String,
}

fn addresses(list: &str) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.split(';').map(str::to_owned).collect())
}

fn utf8(text: String) -> Result<Content, BindingError> {
    Content::builder()
        .charset("UTF-8")
        .data(text)
        .build()
        .map_err(|e| BindingError::invalid(e.to_string()))
}

#[async_trait]
impl OutputBinding for Ses {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        if req.operation != "create" {
            return Err(BindingError::invalid(format!(
                "binding does not support operation {}",
                req.operation
            )));
        }
        let mail = self.config.mail.merged(&req.metadata);
        mail.check()?;
        let body = crate::common::unquote(&req.data).ok_or_else(|| {
            BindingError::invalid("SES binding error. Can't unquote data field: invalid syntax")
        })?;
        let destination = Destination::builder()
            .set_to_addresses(addresses(&mail.email_to))
            .set_cc_addresses(addresses(&mail.email_cc))
            .set_bcc_addresses(addresses(&mail.email_bcc))
            .build();
        let message = Message::builder()
            .subject(utf8(mail.subject)?)
            .body(Body::builder().html(utf8(body)?).build())
            .build();
        self.client
            .send_email()
            .source(mail.email_from)
            .destination(destination)
            .message(message)
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    &self.component,
                    self.endpoint.as_deref(),
                    "SES binding error. Sending email failed: ",
                    &e,
                )
            })?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_to_one_request_only() {
        let base = Mail {
            email_from: "a@x".into(),
            email_to: "b@x".into(),
            subject: "s".into(),
            ..Mail::default()
        };
        let meta = Metadata::from([("EmailTo".to_owned(), "c@x;d@x".to_owned())]);
        let merged = base.merged(&meta);
        assert_eq!(merged.email_to, "c@x;d@x");
        assert_eq!(merged.email_from, "a@x");
        assert_eq!(base.merged(&Metadata::new()), base);
        let err = Mail::default()
            .merged(&Metadata::new())
            .check()
            .unwrap_err();
        assert!(
            err.message().contains("emailFrom property not supplied"),
            "{err}"
        );
    }
}
