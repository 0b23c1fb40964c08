//! `bindings.aws.sns`: output `create` publishes to one topic (components-contrib
//! `bindings/aws/sns`).
//!
//! The data must be JSON `{"message": <any>, "subject": <any>}`; both are printed with Go's
//! `%v` as daprd does (a string as itself, an object as `map[k:v]`, a missing subject as the
//! literal `<nil>`).
//!
//! Deviation from daprd (a bindery option): every request metadata entry named
//! `attribute.<name>` becomes the String message attribute `<name>` (dotnet-sdk#957); daprd
//! sends no attributes.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties,
};
use serde_json::Value;

use crate::aws::auth::{AwsAuth, sdk_error};
use crate::aws::gofmt::go_v;

pub const TOPIC_ARN: Field = Field::new("topicArn", FieldType::String, "The SNS topic ARN.")
    .required()
    .example("arn:aws:sns:us-east-1:123456789012:my-topic");

pub const FIELDS: &[Field] = crate::aws_fields![TOPIC_ARN];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Publish data {\"message\", \"subject\"} (request metadata attribute.<name> adds message attributes).",
}];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.aws.sns",
    aliases: &[],
    status: "alpha",
    summary: "Publish messages to an Amazon SNS topic.",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<SnsConfig>,
    build_input: None,
    build_output: Some(build_output),
};

/// Request metadata with this prefix becomes a String message attribute.
pub const ATTRIBUTE_PREFIX: &str = "attribute.";

#[derive(Debug, Clone)]
pub struct SnsConfig {
    pub topic_arn: String,
    pub auth: AwsAuth,
}

impl BindingConfig for SnsConfig {
    fn decode(p: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: p.string(&TOPIC_ARN).unwrap_or_default(),
            auth: AwsAuth::decode(p)?,
        })
    }
}

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<SnsConfig>()?;
        let component = format!("aws.sns binding {:?}", cx.name);
        let sdk = config.auth.sdk_config(&component, false).await?;
        Ok(Box::new(Sns {
            client: Client::new(&sdk),
            endpoint: config.auth.endpoint_url(false),
            config,
            component,
        }) as Box<dyn OutputBinding>)
    })
}

pub struct Sns {
    client: Client,
    config: SnsConfig,
    endpoint: Option<String>,
    component: String,
}

/// daprd's `{message, subject}` as the two texts it publishes.
pub fn message_and_subject(data: &[u8]) -> Result<(String, String), BindingError> {
    let value: Value = serde_json::from_slice(data)
        .map_err(|e| BindingError::invalid(format!("failed to parse the request data: {e}")))?;
    let Value::Object(map) = value else {
        return Err(BindingError::invalid(
            "failed to parse the request data: it must be a JSON object {\"message\", \"subject\"}",
        ));
    };
    let field = |name: &str| go_v(map.get(name).unwrap_or(&Value::Null));
    Ok((field("message"), field("subject")))
}

#[async_trait]
impl OutputBinding for Sns {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        if req.operation != "create" {
            return Err(BindingError::invalid(format!(
                "binding does not support operation {}",
                req.operation
            )));
        }
        let (message, subject) = message_and_subject(&req.data)?;
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.config.topic_arn)
            .message(message)
            .subject(subject);
        for (key, value) in &req.metadata {
            if let Some(name) = key.strip_prefix(ATTRIBUTE_PREFIX).filter(|n| !n.is_empty()) {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| BindingError::invalid(e.to_string()))?;
                publish = publish.message_attributes(name, attr);
            }
        }
        publish.send().await.map_err(|e| {
            let prefix = "error publishing to SNS: ";
            if crate::aws::missing::is_missing(&e, &["NotFound", "NotFoundException"]) {
                let arn = &self.config.topic_arn;
                return crate::aws::missing::missing_error(prefix, "topic", arn, &e);
            }
            sdk_error(&self.component, self.endpoint.as_deref(), prefix, &e)
        })?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_printed_with_go_v() {
        let (m, s) = message_and_subject(br#"{"message": "hi", "subject": "s"}"#).unwrap();
        assert_eq!((m.as_str(), s.as_str()), ("hi", "s"));
        let (m, s) = message_and_subject(br#"{"message": {"a": 1}}"#).unwrap();
        assert_eq!((m.as_str(), s.as_str()), ("map[a:1]", "<nil>"));
        assert!(message_and_subject(b"[1]").is_err());
        assert!(message_and_subject(b"not json").is_err());
    }
}
