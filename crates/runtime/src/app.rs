//! The runtime's view of the app: something that says whether it wants a binding's events and
//! accepts them. The API crate implements it over HTTP and gRPC; the runtime decides when to
//! call it and what a failure means for the event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::{Delivery, DeliveryError, EventSink, InputEvent};
use bytes::Bytes;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::telemetry::Telemetry;

/// One input binding as the app sees it.
#[derive(Debug, Clone)]
pub struct InputTarget {
    /// Component name (gRPC apps always see this).
    pub name: String,
    /// HTTP path: `/` + the `route` metadata, or `/<name>`.
    pub route: String,
}

/// What the app answered to an event.
#[derive(Debug, Clone, Default)]
pub struct AppReply {
    /// Response body (HTTP) or `BindingEventResponse.data` (gRPC), handed back to the component.
    pub body: Bytes,
    /// Output bindings the app asked to receive a payload (gRPC `to`).
    pub forward_to: Vec<String>,
    /// The payload for `forward_to`.
    pub forward_data: Bytes,
    /// Send to `forward_to` concurrently rather than one after another.
    pub forward_in_parallel: bool,
}

/// Why the app did not take an event or answer a probe.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub message: String,
    /// The app could not be reached at all (connection refused, timeout).
    pub unreachable: bool,
}

impl AppError {
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unreachable: true,
        }
    }
    pub fn rejected(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unreachable: false,
        }
    }
}

#[async_trait]
pub trait AppChannel: Send + Sync + 'static {
    /// Whether the app wants this binding's events (daprd's OPTIONS probe or
    /// `ListInputBindings`).
    async fn is_subscribed(
        &self,
        target: &InputTarget,
        timeout: Duration,
    ) -> Result<bool, AppError>;

    /// Delivers one event; `Ok` only when the app accepted it.
    async fn deliver(&self, target: &InputTarget, event: InputEvent) -> Result<AppReply, AppError>;

    /// One app health probe (`--enable-app-health-check`): HTTP `GET <path>` answering 2xx, or
    /// gRPC `AppCallbackHealthCheck/HealthCheck` answering OK.
    async fn check_health(&self, timeout: Duration) -> Result<(), AppError>;
}

/// What the runtime needs to act on a reply that forwards data to output bindings.
#[async_trait]
pub trait Forwarder: Send + Sync + 'static {
    async fn forward(&self, reply: &AppReply);
}

/// The [`EventSink`] an input binding delivers into: refuses events once the binding is
/// stopping, bounds concurrency, and reports the app's verdict back.
pub(crate) struct AppSink {
    pub target: InputTarget,
    pub channel: Arc<dyn AppChannel>,
    pub concurrency: Option<Arc<Semaphore>>,
    pub stopping: CancellationToken,
    pub forwarder: Arc<dyn Forwarder>,
    /// Deliveries wait while the app is unhealthy, which holds the source back.
    pub healthy: watch::Receiver<bool>,
    pub telemetry: Arc<Telemetry>,
}

/// Waits until the app is healthy; `false` when `stopping` fires first.
pub(crate) async fn wait_until_healthy(
    healthy: &watch::Receiver<bool>,
    stopping: &CancellationToken,
) -> bool {
    let mut healthy = healthy.clone();
    tokio::select! {
        result = healthy.wait_for(|h| *h) => result.is_ok(),
        _ = stopping.cancelled() => false,
    }
}

#[async_trait]
impl EventSink for AppSink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        if self.stopping.is_cancelled() || !wait_until_healthy(&self.healthy, &self.stopping).await
        {
            return Err(DeliveryError::new("input binding is closed"));
        }
        let _permit = match &self.concurrency {
            Some(limit) => Some(
                limit
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| DeliveryError::new("input binding is closed"))?,
            ),
            None => None,
        };
        let delivery = self.telemetry.delivery(&self.target.name);
        let result = self.channel.deliver(&self.target, event).await;
        delivery.finish(result.as_ref().err().map(|e| e as &dyn std::fmt::Display));
        match result {
            Ok(reply) => {
                if !reply.forward_to.is_empty() {
                    self.forwarder.forward(&reply).await;
                }
                Ok(reply.body)
            }
            Err(e) => Err(DeliveryError::new(e.message)),
        }
    }
}
