//! Output `create`: `SendMessage` of the data, with the bindery request-metadata options.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageAttributeValue;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse, OutputBinding};

use super::Queue;
use crate::aws::auth::sdk_error;

/// Request metadata with this prefix becomes a String message attribute.
pub const ATTRIBUTE_PREFIX: &str = "attribute.";

pub struct SqsOutput {
    pub(super) queue: Arc<Queue>,
}

#[async_trait]
impl OutputBinding for SqsOutput {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        if req.operation != "create" {
            return Err(BindingError::invalid(format!(
                "binding does not support operation {}",
                req.operation
            )));
        }
        let q = &self.queue;
        let url = q.url().await?;
        let body = String::from_utf8(req.data.to_vec()).map_err(|_| {
            BindingError::invalid(format!(
                "{}: the message body must be UTF-8 text",
                q.component
            ))
        })?;
        let mut send = q.client.send_message().queue_url(&url).message_body(body);
        for (key, value) in &req.metadata {
            match key.as_str() {
                "DelaySeconds" => {
                    let delay = value.parse::<i32>().map_err(|_| {
                        BindingError::invalid(format!(
                            "{}: DelaySeconds {value:?} is not a number",
                            q.component
                        ))
                    })?;
                    send = send.delay_seconds(delay);
                }
                "MessageGroupId" => send = send.message_group_id(value),
                "MessageDeduplicationId" => send = send.message_deduplication_id(value),
                _ => {
                    if let Some(name) = key.strip_prefix(ATTRIBUTE_PREFIX).filter(|n| !n.is_empty())
                    {
                        let attr = MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(value)
                            .build()
                            .map_err(|e| BindingError::invalid(e.to_string()))?;
                        send = send.message_attributes(name, attr);
                    }
                }
            }
        }
        if let Err(e) = send.send().await {
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist())
            {
                // Deleted since its URL was looked up: the next call looks it up again.
                q.forget_url().await;
                return Err(crate::aws::missing::missing_error(
                    &format!("{}: sending the message failed: ", q.component),
                    "queue",
                    &q.config.queue_name,
                    &e,
                ));
            }
            return Err(sdk_error(
                &q.component,
                q.endpoint.as_deref(),
                &format!("{}: sending the message failed: ", q.component),
                &e,
            ));
        }
        Ok(None)
    }
}
