//! `bindings.azure.storagequeues`: enqueue with `create` (output) and dequeue to the app
//! (input), as daprd's component does. The queue is created at start.
//!
//! Input reads and delivers one message at a time (with the delivery option
//! `maxConcurrentDeliveries: N`, up to N at once, each deleted only after its own success)
//! with `visibilityTimeout`, waits `pollingInterval` when
//! the queue is empty, delivers the text (base64-decoded with `decodeBase64`) with `messageID`,
//! `popReceipt`, `insertionTime`, `expirationTime`, `nextVisibleTime` (RFC 3339) and
//! `dequeueCount` as metadata, and deletes the message only once the app accepted it. A refused
//! message stays in the queue and reappears after the visibility timeout with `dequeueCount`
//! one higher.
//!
//! # Deviations from daprd
//!
//! - **Visibility extension**: while a delivery is in progress (the app working, or the
//!   runtime retrying it), the message's visibility is extended every half
//!   `visibilityTimeout` (Update Message), so it does not reappear and get delivered twice
//!   while the first delivery still runs. daprd lets it reappear. `popReceipt` in the event
//!   metadata is the one from the dequeue; later receipts are used internally.
//! - **Poison messages**: daprd retries a refused message forever (cc#2250). With bindery's
//!   `deadLetterBinding` delivery option, the runtime sends a message the app keeps refusing
//!   (after `deliveryAttempts`) to that binding and it is then deleted here.
//! - A `visibilityTimeout` under one second is raised to one second when reading (the service
//!   refuses less, so daprd's reads would fail forever); a warning says so at validation.
//! - I/O errors while reading back off (100 ms doubling to 5 s) instead of retrying at once.
//! - `popReceipt`/`messageID` missing from an answer cannot happen with this client (it
//!   reads them from the XML), so daprd's "could not delete message" error has no equivalent.

mod config;
mod input;
pub mod queue;

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bindery_core::descriptor::Operation;
use bindery_core::duration::parse_go_duration;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InputBinding, InvokeRequest, InvokeResponse,
    OutputBinding, decode_as,
};

pub use config::{FIELDS, QueueAuth, QueueConfig, try_get_ttl};
pub use queue::{Queue, QueueMessage};

use super::client::{Authorizer, StorageClient};

const COMPONENT: &str = "bindings.azure.storagequeues";
const DEFAULT_TTL: Duration = Duration::from_secs(600);

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Enqueue the data as a message (a JSON string is unquoted first; base64-encoded with encodeBase64). Request metadata: ttl/ttlInSeconds (message time to live, default the component's ttl, else 10 minutes), initialVisibilityDelay (a Go duration).",
}];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: COMPONENT,
    aliases: &[],
    status: "stable",
    summary: "Send messages to and receive them from an Azure Storage queue (Azurite-compatible).",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<QueueConfig>,
    build_input: Some(|cx| Box::pin(build_input(cx))),
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

/// A client for the configured queue; `retries` extra attempts on transient failures.
pub fn connect(cfg: &QueueConfig, retries: u32) -> Result<Queue, BindingError> {
    let auth = match &cfg.auth {
        QueueAuth::SharedKey(key) => Authorizer::SharedKey(key.clone()),
        QueueAuth::AzureAd(ad) => super::ad_authorizer(ad)?,
    };
    let client = StorageClient::new(auth)
        .map_err(|e| BindingError::other(e.to_string()))?
        .with_retries(retries);
    Ok(Queue {
        client,
        url: cfg.queue_url.clone().map_err(BindingError::invalid)?,
    })
}

/// Creates the queue within 2 minutes, as daprd's Init does.
async fn create_queue(queue: &Queue) -> Result<(), BindingError> {
    match tokio::time::timeout(Duration::from_secs(120), queue.create()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into_binding_error("cannot create the storage queue")),
        Err(_) => Err(BindingError::unavailable(
            "cannot create the storage queue: timed out after 2m0s",
        )),
    }
}

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cfg = cx.config::<QueueConfig>()?;
    let queue = connect(&cfg, 3)?;
    create_queue(&queue).await?;
    Ok(Box::new(QueueOutput { cfg, queue }))
}

async fn build_input(cx: BuildContext) -> Result<Box<dyn InputBinding>, BindingError> {
    let cfg = cx.config::<QueueConfig>()?;
    // The read loop retries by itself, with backoff.
    let queue = connect(&cfg, 0)?;
    create_queue(&queue).await?;
    Ok(Box::new(input::QueueInput { cfg, queue }))
}

/// The output side.
pub struct QueueOutput {
    cfg: QueueConfig,
    queue: Queue,
}

/// The message text `create` enqueues: Go's `strconv.Unquote` of the data (raw when it is not
/// a quoted string), then base64 with `encodeBase64`.
pub fn message_text(data: &[u8], encode_base64: bool) -> String {
    let text =
        crate::common::unquote(data).unwrap_or_else(|| String::from_utf8_lossy(data).into_owned());
    if encode_base64 {
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    } else {
        text
    }
}

#[async_trait]
impl OutputBinding for QueueOutput {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let ttl = try_get_ttl(|k| {
            req.metadata
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        })
        .map_err(BindingError::invalid)?
        .or(self.cfg.ttl)
        .unwrap_or(DEFAULT_TTL);
        let delay = match req
            .metadata
            .get("initialVisibilityDelay")
            .filter(|v| !v.is_empty())
        {
            Some(v) => Some(parse_go_duration(v).map_err(|e| {
                BindingError::invalid(format!(
                    "invalid value for initialVisibilityDelay: time: {e}"
                ))
            })?),
            None => self.cfg.initial_visibility_delay,
        };
        let text = message_text(&req.data, self.cfg.encode_base64);
        self.queue.put(&text, ttl, delay).await.map_err(|e| {
            if e.code() == Some("QueueNotFound") {
                // Deleted since the start (daprd creates it at start, as this binding does).
                return BindingError::invalid(format!(
                    "error enqueueing the message: queue {} does not exist: {e}",
                    self.cfg.queue_name
                ));
            }
            e.into_binding_error("error enqueueing the message")
        })?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_texts() {
        assert_eq!(message_text(br#""hello""#, false), "hello");
        assert_eq!(message_text(b"{\"a\":1}", false), "{\"a\":1}");
        assert_eq!(message_text(br#""hi""#, true), "aGk=");
    }
}
