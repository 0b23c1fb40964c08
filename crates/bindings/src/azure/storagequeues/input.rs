//! The input side: dequeue, deliver (extending the message's visibility while the delivery
//! runs), delete on the app's acceptance.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::{BindingError, Delivery, InputBinding, InputContext, InputEvent};
use bytes::Bytes;

use super::{COMPONENT, Queue, QueueConfig, QueueMessage};
use crate::common::Backoff;

pub(super) struct QueueInput {
    pub cfg: QueueConfig,
    pub queue: Queue,
}

/// The event for one message: its text (base64-decoded with `decodeBase64`) and daprd's
/// metadata keys.
pub(super) fn event(message: &QueueMessage, decode_base64: bool) -> Result<InputEvent, String> {
    let data = if decode_base64 {
        crate::azure::go_b64_decode(&message.text)?
    } else {
        message.text.clone().into_bytes()
    };
    let mut metadata = HashMap::new();
    for (key, value) in [
        ("messageID", &message.id),
        ("popReceipt", &message.pop_receipt),
        ("insertionTime", &message.insertion_time),
        ("expirationTime", &message.expiration_time),
        ("nextVisibleTime", &message.next_visible_time),
        ("dequeueCount", &message.dequeue_count),
    ] {
        if !value.is_empty() {
            metadata.insert(key.to_owned(), value.clone());
        }
    }
    Ok(InputEvent {
        data: Bytes::from(data),
        metadata,
    })
}

/// How often a delivery in progress extends the message's visibility: every half timeout
/// (at most twice a second).
fn extend_every(visibility: Duration) -> Duration {
    (visibility / 2).max(Duration::from_millis(500))
}

impl QueueInput {
    /// Delivers one event; while waiting for the verdict, keeps the message invisible.
    /// Returns the verdict and the pop receipt that is current afterwards.
    async fn deliver_holding(
        &self,
        cx: &InputContext,
        message: &QueueMessage,
        event: InputEvent,
    ) -> (Delivery, String) {
        let mut receipt = message.pop_receipt.clone();
        let visibility = self.cfg.visibility_timeout.max(Duration::from_secs(1));
        let every = extend_every(visibility);
        let delivery = cx.deliver(event);
        tokio::pin!(delivery);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                verdict = &mut delivery => return (verdict, receipt),
                _ = ticker.tick() => {
                    match self.queue.extend(&message.id, &receipt, visibility).await {
                        Ok((next, _)) => {
                            tracing::debug!(component = COMPONENT, binding = cx.name(), message = %message.id,
                                "Delivery still running; extended the message's visibility.");
                            receipt = next;
                        }
                        Err(e) => tracing::warn!(component = COMPONENT, binding = cx.name(), message = %message.id, error = %e,
                            "Could not extend the visibility of a message in delivery; it may be delivered again."),
                    }
                }
            }
        }
    }

    /// Handles one dequeued message.
    async fn handle(&self, cx: &InputContext, message: QueueMessage) {
        let event = match event(&message, self.cfg.decode_base64) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(component = COMPONENT, binding = cx.name(), message = %message.id, error = %e,
                    "Cannot decode the message text; it stays in the queue.");
                return;
            }
        };
        let (verdict, receipt) = self.deliver_holding(cx, &message, event).await;
        match verdict {
            Ok(_) => {
                if let Err(e) = self.queue.delete(&message.id, &receipt).await {
                    tracing::warn!(component = COMPONENT, binding = cx.name(), message = %message.id, error = %e,
                        "The app accepted a message but deleting it from the storage queue failed; it will be delivered again.");
                }
            }
            Err(e) => {
                tracing::debug!(component = COMPONENT, binding = cx.name(), message = %message.id, error = %e,
                "The app did not accept the message; it reappears after the visibility timeout.")
            }
        }
    }

    /// Waits `d`, or returns `false` at shutdown.
    async fn pause(cx: &InputContext, d: Duration) -> bool {
        tokio::select! {
            _ = cx.shutdown().cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// The most messages one Get Messages call returns.
const MAX_PER_GET: usize = 32;

#[async_trait]
impl InputBinding for QueueInput {
    /// Dequeues while there is room among the deliveries in flight (`maxConcurrentDeliveries`,
    /// else one at a time as daprd), never more messages than there is room for, so none
    /// waits invisible before its delivery starts.
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let this: Arc<Self> = Arc::from(self);
        let mut in_flight = cx.in_flight();
        let mut backoff = Backoff::new(Duration::from_secs(5));
        let mut failing = false;
        loop {
            tokio::select! {
                biased;
                _ = cx.shutdown().cancelled() => break,
                () = in_flight.wait_for_room() => {}
            }
            let n = in_flight.room().min(MAX_PER_GET) as u32;
            // Deliveries already started run on by themselves while this waits.
            let got = tokio::select! {
                _ = cx.shutdown().cancelled() => break,
                // The service takes 1 s at least (daprd would fail every read below that).
                got = this.queue.get(n, this.cfg.visibility_timeout.max(Duration::from_secs(1))) => got,
            };
            let pause = match got {
                Err(e) => {
                    if !failing {
                        tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e,
                            "Reading the storage queue failed; retrying with backoff.");
                        failing = true;
                    }
                    backoff.next_delay()
                }
                Ok(messages) => {
                    if failing {
                        tracing::info!(
                            component = COMPONENT,
                            binding = cx.name(),
                            "Reading the storage queue works again."
                        );
                        failing = false;
                    }
                    backoff.reset();
                    if messages.is_empty() {
                        this.cfg.polling_interval
                    } else {
                        for message in messages {
                            let (this, cx) = (this.clone(), cx.clone());
                            in_flight.start(async move { this.handle(&cx, message).await });
                        }
                        continue;
                    }
                }
            };
            if !Self::pause(&cx, pause).await {
                break;
            }
        }
        // Graceful shutdown: every started delivery finishes and deletes its message.
        in_flight.finish().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_daprds_metadata() {
        let m = QueueMessage {
            id: "id1".into(),
            pop_receipt: "pr".into(),
            insertion_time: "2026-12-01T09:00:00Z".into(),
            expiration_time: "2026-12-01T09:10:00Z".into(),
            next_visible_time: "2026-12-01T09:00:30Z".into(),
            dequeue_count: "1".into(),
            text: "aGk=".into(),
        };
        let e = event(&m, true).unwrap();
        assert_eq!(&e.data[..], b"hi");
        assert_eq!(e.metadata.len(), 6);
        assert_eq!(e.metadata["messageID"], "id1");
        assert_eq!(e.metadata["dequeueCount"], "1");
        assert_eq!(&event(&m, false).unwrap().data[..], b"aGk=");
        let bad = QueueMessage {
            text: "*".into(),
            ..m
        };
        assert!(event(&bad, true).is_err());
    }

    #[test]
    fn extension_period() {
        assert_eq!(
            extend_every(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
        assert_eq!(extend_every(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(
            extend_every(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
    }
}
