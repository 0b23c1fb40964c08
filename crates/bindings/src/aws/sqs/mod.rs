//! `bindings.aws.sqs`: output `create` sends a message; the input long-polls the queue and
//! deletes a message only after the app accepted it (components-contrib `bindings/aws/sqs`).
//!
//! Deviations from daprd, all bindery options that leave daprd's behaviour as the default:
//! - output request metadata `DelaySeconds`, `MessageGroupId` and `MessageDeduplicationId`
//!   (FIFO queues) are passed to `SendMessage`, and every request metadata entry named
//!   `attribute.<name>` becomes the String message attribute `<name>` (cc#3480, cc#3889);
//!   daprd ignores all request metadata;
//! - input events carry metadata `messageId`, `receiveCount` (`ApproximateReceiveCount`),
//!   `sentTimestamp` and every String or Number message attribute under its own name; daprd
//!   passes none;
//! - a missing queue or an unreachable endpoint backs off (100 ms doubling to 30 s) instead of
//!   daprd's hot loop; an output `create` to a missing queue fails at once, as daprd's, with an
//!   error naming the queue that a resiliency policy does not retry;
//! - a receive answers within `waitTimeSeconds` + 5 s or counts as failed (a dead link is
//!   noticed then; daprd's SDK sets no timeout), and a delete of a delivered message is tried
//!   up to 3 times, each failure logged, before the message is left to be redelivered; other
//!   calls have the timeouts of `aws::auth` (connect 5 s, answer 20 s, whole call 30 s);
//! - messages are delivered one at a time, as daprd does; with the delivery option
//!   `maxConcurrentDeliveries: N` up to N at once, each deleted only after its own success.
//!   `maxMessages` (1 to 10, default 1 as daprd) receives up to that many messages per call,
//!   never more than there is room for among the deliveries in flight (so with one at a time,
//!   one per call). FIFO queues (`.fifo`) always deliver one at a time, in order.

mod input;
mod output;

use std::sync::Arc;

use aws_sdk_sqs::Client;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InputBinding, OutputBinding, Properties,
};
use tokio::sync::Mutex;

use crate::aws::auth::AwsAuth;

pub const QUEUE_NAME: Field = Field::new("queueName", FieldType::String, "The SQS queue name.")
    .required()
    .example("my-queue");
pub const MAX_MESSAGES: Field = Field::new(
    "maxMessages",
    FieldType::Number,
    "bindery option, input: messages received per call (1 to 10), at most as many as maxConcurrentDeliveries leaves room for (one at a time without it; FIFO queues always one at a time).",
)
.default_value("1")
.input_only();
pub const WAIT_TIME_SECONDS: Field = Field::new(
    "waitTimeSeconds",
    FieldType::Number,
    "bindery option, input: long-poll wait of one receive (0 to 20).",
)
.default_value("20")
.input_only();

pub const FIELDS: &[Field] = crate::aws_fields![QUEUE_NAME, MAX_MESSAGES, WAIT_TIME_SECONDS];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Send the data as one message (request metadata DelaySeconds, MessageGroupId, MessageDeduplicationId, attribute.<name>).",
}];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.aws.sqs",
    aliases: &[],
    status: "alpha",
    summary: "Send messages to and receive messages from an Amazon SQS queue.",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<SqsConfig>,
    build_input: Some(build_input),
    build_output: Some(build_output),
};

#[derive(Debug, Clone)]
pub struct SqsConfig {
    pub queue_name: String,
    pub max_messages: i32,
    pub wait_time_seconds: i32,
    pub auth: AwsAuth,
}

impl BindingConfig for SqsConfig {
    fn decode(p: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let max_messages = p.number::<i32>(&MAX_MESSAGES)?.unwrap_or(1);
        if !(1..=10).contains(&max_messages) {
            return Err(ConfigError::new(
                MAX_MESSAGES.name,
                "must be between 1 and 10",
            ));
        }
        let wait_time_seconds = p.number::<i32>(&WAIT_TIME_SECONDS)?.unwrap_or(20);
        if !(0..=20).contains(&wait_time_seconds) {
            return Err(ConfigError::new(
                WAIT_TIME_SECONDS.name,
                "must be between 0 and 20",
            ));
        }
        Ok(Self {
            // Required in practice; daprd does not check it, GetQueueUrl fails instead.
            queue_name: p.string(&QUEUE_NAME).unwrap_or_default(),
            max_messages,
            wait_time_seconds,
            auth: AwsAuth::decode(p)?,
        })
    }
}

impl SqsConfig {
    fn is_fifo(&self) -> bool {
        self.queue_name.ends_with(".fifo")
    }
}

/// The client and the queue URL, looked up once and again after a failure.
pub(crate) struct Queue {
    client: Client,
    config: SqsConfig,
    endpoint: Option<String>,
    component: String,
    url: Mutex<Option<String>>,
}

impl Queue {
    async fn connect(cx: &BuildContext) -> Result<Arc<Self>, BindingError> {
        let config = cx.config::<SqsConfig>()?;
        let component = format!("aws.sqs binding {:?}", cx.name);
        let sdk = config.auth.sdk_config(&component, false).await?;
        Ok(Arc::new(Self {
            client: Client::new(&sdk),
            endpoint: config.auth.endpoint_url(false),
            config,
            component,
            url: Mutex::new(None),
        }))
    }

    async fn url(&self) -> Result<String, BindingError> {
        let mut cached = self.url.lock().await;
        if let Some(url) = cached.as_ref() {
            return Ok(url.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(&self.config.queue_name)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist())
                {
                    let prefix = format!("{}: ", self.component);
                    return crate::aws::missing::missing_error(
                        &prefix,
                        "queue",
                        &self.config.queue_name,
                        &e,
                    );
                }
                crate::aws::auth::sdk_error(
                    &self.component,
                    self.endpoint.as_deref(),
                    &format!("{}: queue {:?}: ", self.component, self.config.queue_name),
                    &e,
                )
            })?;
        let url = out.queue_url().unwrap_or_default().to_owned();
        *cached = Some(url.clone());
        Ok(url)
    }

    /// Forgets the URL, so the next call looks it up again (the queue may have been recreated).
    async fn forget_url(&self) {
        *self.url.lock().await = None;
    }
}

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let queue = Queue::connect(&cx).await?;
        Ok(Box::new(output::SqsOutput { queue }) as Box<dyn OutputBinding>)
    })
}

fn build_input(cx: BuildContext) -> BoxFuture<Result<Box<dyn InputBinding>, BindingError>> {
    Box::pin(async move {
        let queue = Queue::connect(&cx).await?;
        Ok(Box::new(input::SqsInput { queue }) as Box<dyn InputBinding>)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_daprd_fields_and_checks_options() {
        let p = Properties::from_pairs([("queueName", "q"), ("awsRegion", "us-east-1")]);
        let c = SqsConfig::decode(&p, &mut Vec::new()).unwrap();
        assert_eq!((c.max_messages, c.wait_time_seconds), (1, 20));
        assert!(!c.is_fifo());
        let p = Properties::from_pairs([("queueName", "q.fifo"), ("maxMessages", "11")]);
        assert_eq!(
            SqsConfig::decode(&p, &mut Vec::new()).unwrap_err().field,
            "maxMessages"
        );
    }
}
