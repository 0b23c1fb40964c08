//! The input: long-poll, deliver, delete on the app's success; otherwise the message stays and
//! comes back after the queue's visibility timeout (or moves to its dead-letter queue).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use bindery_core::{BindingError, InFlight, InputBinding, InputContext, InputEvent, Metadata};
use bytes::Bytes;

use super::Queue;
use crate::aws::auth::describe;
use crate::common::Backoff;

const COMPONENT: &str = "aws.sqs";

/// Attempts to delete a delivered message (each with the client's timeouts, no SDK retries).
const DELETE_ATTEMPTS: u32 = 3;

/// How much longer than its `waitTimeSeconds` a long poll may take to answer before its
/// connection counts as dead: a dead link is noticed within `waitTimeSeconds` + 5 s (25 s by
/// default).
const POLL_MARGIN: Duration = Duration::from_secs(5);

/// The timeouts of one receive: a long poll is silent for up to `wait` by design, so the
/// client's read timeout (shorter) does not apply; its answer must start within `wait` +
/// [`POLL_MARGIN`] and be read within another margin. No SDK retries: the read loop retries.
fn receive_override(wait: Duration) -> aws_sdk_sqs::config::Builder {
    let read = wait + POLL_MARGIN;
    aws_sdk_sqs::config::Builder::default()
        .timeout_config(crate::aws::auth::timeouts(read, read + POLL_MARGIN))
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
}

pub struct SqsInput {
    pub(super) queue: Arc<Queue>,
}

/// The event metadata of a message: id, receive count, sent time and its attributes.
pub fn event_metadata(m: &Message) -> Metadata {
    let mut md = Metadata::new();
    for (name, value) in m.message_attributes().into_iter().flatten() {
        if let Some(v) = value.string_value() {
            md.insert(name.clone(), v.to_owned());
        }
    }
    let system = m.attributes();
    let get = |n: MessageSystemAttributeName| system.and_then(|a| a.get(&n)).cloned();
    if let Some(v) = get(MessageSystemAttributeName::ApproximateReceiveCount) {
        md.insert("receiveCount".into(), v);
    }
    if let Some(v) = get(MessageSystemAttributeName::SentTimestamp) {
        md.insert("sentTimestamp".into(), v);
    }
    if let Some(id) = m.message_id() {
        md.insert("messageId".into(), id.to_owned());
    }
    md
}

impl SqsInput {
    /// Delivers one message; deletes it only when the app accepted it.
    async fn handle(queue: Arc<Queue>, cx: InputContext, url: Arc<str>, m: Message) {
        let event = InputEvent {
            data: Bytes::from(m.body().unwrap_or_default().to_owned()),
            metadata: event_metadata(&m),
        };
        match cx.deliver(event).await {
            Ok(_) => {
                let Some(receipt) = m.receipt_handle() else {
                    return;
                };
                // Each attempt is logged, so a dead connection under a delete is seen (an SDK
                // retry would hide it).
                for attempt in 1..=DELETE_ATTEMPTS {
                    let deleted = queue
                        .client
                        .delete_message()
                        .queue_url(&*url)
                        .receipt_handle(receipt)
                        .customize()
                        .config_override(
                            aws_sdk_sqs::config::Builder::default()
                                .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()),
                        )
                        .send()
                        .await;
                    match deleted {
                        Ok(_) => return,
                        Err(e) if attempt < DELETE_ATTEMPTS => {
                            tracing::warn!(component = COMPONENT, binding = cx.name(), error = %describe(&e), "Deleting a delivered message from SQS failed; retrying.");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        // It comes back after the visibility timeout: at-least-once.
                        Err(e) => {
                            tracing::warn!(component = COMPONENT, binding = cx.name(), error = %describe(&e), "Deleting a delivered message from SQS failed; it will be redelivered.");
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(component = COMPONENT, binding = cx.name(), error = %e,
                "App refused the message; it stays in the queue until its visibility timeout."),
        }
    }

    /// Receives up to `max` messages (long poll).
    async fn receive(&self, url: &str, max: i32) -> Result<Vec<Message>, BindingError> {
        let q = &self.queue;
        let out = q
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .wait_time_seconds(q.config.wait_time_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .customize()
            .config_override(receive_override(Duration::from_secs(
                q.config.wait_time_seconds.unsigned_abs().into(),
            )))
            .send()
            .await
            .map_err(|e| {
                crate::aws::auth::sdk_error(
                    &q.component,
                    q.endpoint.as_deref(),
                    "receiving failed: ",
                    &e,
                )
            })?;
        Ok(out.messages.unwrap_or_default())
    }
}

#[async_trait]
impl InputBinding for SqsInput {
    /// Receives while there is room among the deliveries in flight (`maxConcurrentDeliveries`,
    /// else one at a time as daprd; FIFO queues always one at a time, in order), never more
    /// messages than there is room for, so none waits invisible before its delivery starts.
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let q = self.queue.clone();
        let mut in_flight = if q.config.is_fifo() {
            InFlight::new(1)
        } else {
            cx.in_flight()
        };
        let mut backoff = Backoff::new(Duration::from_secs(30));
        loop {
            tokio::select! {
                biased;
                _ = cx.shutdown().cancelled() => break,
                () = in_flight.wait_for_room() => {}
            }
            let max = i32::try_from(in_flight.room())
                .unwrap_or(i32::MAX)
                .min(q.config.max_messages);
            let attempt = async {
                let url = q.url().await?;
                let messages = self.receive(&url, max).await?;
                Ok::<_, BindingError>((url, messages))
            };
            // Deliveries already started run on by themselves while this waits.
            let result = tokio::select! {
                _ = cx.shutdown().cancelled() => break,
                r = attempt => r,
            };
            match result {
                Ok((url, messages)) => {
                    backoff.reset();
                    let url: Arc<str> = url.into();
                    for m in messages {
                        in_flight.start(Self::handle(q.clone(), cx.clone(), url.clone(), m));
                    }
                }
                Err(e) => {
                    q.forget_url().await;
                    let delay = backoff.next_delay();
                    tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e, "Receiving from SQS failed; retrying in {delay:?}.");
                    tokio::select! {
                        _ = cx.shutdown().cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        // Graceful shutdown: every started delivery finishes and deletes its message.
        in_flight.finish().await;
        Ok(())
    }
}
