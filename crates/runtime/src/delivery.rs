//! Input delivery: the [`EventSink`] every input binding hands its events to. It holds the
//! source back (app health, per-binding and global concurrency), runs the app call under the
//! binding's inbound policy, and, once every attempt failed, does what the binding's
//! bindery-only `onDeliveryFailure` says: hand the failure to the component (daprd's
//! behaviour), drop the event, or send it to a dead-letter output binding.

use std::sync::Arc;

use async_trait::async_trait;
use bindery_core::resiliency::{DeliveryOptions, OnDeliveryFailure, PolicyDirection, RetryPolicy};
use bindery_core::{Delivery, DeliveryError, EventSink, InputEvent, InvokeRequest};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::app::{AppChannel, AppError, Forwarder, InputTarget, wait_until_healthy};
use crate::resiliency::{Failure, PolicyError};
use crate::state::SharedState;
use crate::telemetry::{Direction, Telemetry};

/// Metadata keys added to an event sent to a dead-letter binding.
pub const FAILURE_REASON_KEY: &str = "bindery.failure.reason";
pub const FAILURE_BINDING_KEY: &str = "bindery.failure.binding";

const CLOSED: &str = "input binding is closed";

pub(crate) struct AppSink {
    pub target: InputTarget,
    pub channel: Arc<dyn AppChannel>,
    /// `--app-max-concurrency`: app calls in flight across every binding.
    pub concurrency: Option<Arc<Semaphore>>,
    /// `maxConcurrentDeliveries`: this binding's events in delivery (retries included).
    pub binding_concurrency: Option<Arc<Semaphore>>,
    pub stopping: CancellationToken,
    pub forwarder: Arc<dyn Forwarder>,
    /// Deliveries wait while the app is unhealthy, which holds the source back.
    pub healthy: watch::Receiver<bool>,
    pub options: DeliveryOptions,
    /// Policies are read from the current snapshot at each delivery.
    pub state: SharedState,
    pub telemetry: Arc<Telemetry>,
}

/// Waits for a permit, or `None` once the binding is stopping.
async fn acquire(
    limit: &Option<Arc<Semaphore>>,
    stopping: &CancellationToken,
) -> Result<Option<OwnedSemaphorePermit>, ()> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    tokio::select! {
        permit = limit.clone().acquire_owned() => permit.map(Some).map_err(|_| ()),
        _ = stopping.cancelled() => Err(()),
    }
}

/// Every app failure may be retried and counts against the breaker; the app's status code
/// lets `matching` choose.
fn classify_app_error(error: &AppError) -> Failure {
    Failure {
        retriable: true,
        trips: true,
        status: error.status,
    }
}

impl AppSink {
    async fn attempt(&self, event: &InputEvent) -> Result<crate::app::AppReply, AppError> {
        if !wait_until_healthy(&self.healthy, &self.stopping).await {
            return Err(AppError::unreachable(CLOSED));
        }
        let _permit = acquire(&self.concurrency, &self.stopping)
            .await
            .map_err(|()| AppError::unreachable(CLOSED))?;
        self.channel.deliver(&self.target, event.clone()).await
    }

    async fn on_failure(&self, event: InputEvent, reason: String) -> Delivery {
        let name = &self.target.name;
        match (self.options.on_failure, &self.options.dead_letter_binding) {
            (OnDeliveryFailure::Drop, _) => {
                tracing::warn!(binding = %name, reason = %reason,
                    "Dropping an event the app did not accept (onDeliveryFailure: drop); it is acknowledged to its source.");
                Ok(Bytes::new())
            }
            (OnDeliveryFailure::DeadLetter, Some(dead_letter)) => {
                let mut metadata = event.metadata;
                metadata.insert(FAILURE_REASON_KEY.to_owned(), reason.clone());
                metadata.insert(FAILURE_BINDING_KEY.to_owned(), name.clone());
                let request = InvokeRequest {
                    operation: "create".to_owned(),
                    data: event.data,
                    metadata,
                };
                match self.forwarder.dead_letter(dead_letter, request).await {
                    Ok(()) => {
                        self.telemetry.dead_letter(name);
                        tracing::warn!(binding = %name, dead_letter = %dead_letter, reason = %reason,
                            "Sent an event the app did not accept to the dead-letter binding; it is acknowledged to its source.");
                        Ok(Bytes::new())
                    }
                    Err(e) => {
                        tracing::error!(binding = %name, dead_letter = %dead_letter, error = %e,
                            "The dead-letter binding failed; the event is handed back to its source.");
                        Err(DeliveryError::new(format!(
                            "{reason}; sending it to dead-letter binding {dead_letter} failed: {e}"
                        )))
                    }
                }
            }
            _ => Err(DeliveryError::new(reason)),
        }
    }
}

#[async_trait]
impl EventSink for AppSink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        if self.stopping.is_cancelled() || !wait_until_healthy(&self.healthy, &self.stopping).await
        {
            return Err(DeliveryError::new(CLOSED));
        }
        let _binding_permit = acquire(&self.binding_concurrency, &self.stopping)
            .await
            .map_err(|()| DeliveryError::new(CLOSED))?;
        let resiliency = self.state.read().resiliency.clone();
        let mut policy = resiliency.policy(&self.target.name, PolicyDirection::Inbound);
        if self.options.attempts > 1 {
            if policy.has_retry() {
                tracing::debug!(binding = %self.target.name,
                    "A Resiliency inbound retry policy applies; deliveryAttempts is ignored.");
            }
            policy = policy.or_retry(RetryPolicy::attempts(self.options.attempts));
        }
        let delivery = self.telemetry.delivery(&self.target.name);
        let mut attempts = 0u32;
        let result = policy
            .run(Some(&self.stopping), classify_app_error, || {
                attempts += 1;
                if attempts > 1 {
                    self.telemetry.retry(&self.target.name, Direction::Input);
                }
                self.attempt(&event)
            })
            .await;
        delivery.finish(result.as_ref().err().map(|e| e as &dyn std::fmt::Display));
        match result {
            Ok(reply) => {
                if !reply.forward_to.is_empty() {
                    self.forwarder.forward(&reply).await;
                }
                Ok(reply.body)
            }
            Err(error) => {
                let reason = match &error {
                    PolicyError::Failed(e) => e.message.clone(),
                    PolicyError::Policy(p) => p.to_string(),
                };
                if self.stopping.is_cancelled() {
                    // Never drop or dead-letter because of a shutdown: the source keeps it.
                    return Err(DeliveryError::new(reason));
                }
                self.on_failure(event, reason).await
            }
        }
    }
}
