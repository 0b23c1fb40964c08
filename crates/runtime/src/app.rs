//! The runtime's view of the app: something that says whether it wants a binding's events and
//! accepts them. The API crate implements it over HTTP and gRPC; the runtime decides when to
//! call it and what a failure means for the event.

use std::time::Duration;

use async_trait::async_trait;
use bindery_core::{InputEvent, InvokeRequest};
use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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

/// The status an app answered a failed delivery with, for a retry policy's `matching`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// An HTTP status code (the app answered, but not 2xx).
    Http(u16),
    /// A gRPC status code (not OK).
    Grpc(u16),
}

/// Why the app did not take an event or answer a probe.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub message: String,
    /// The app could not be reached at all (connection refused, timeout).
    pub unreachable: bool,
    /// The status the app answered with, when it answered.
    pub status: Option<AppStatus>,
}

impl AppError {
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unreachable: true,
            status: None,
        }
    }
    pub fn rejected(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unreachable: false,
            status: None,
        }
    }
    pub fn with_status(mut self, status: AppStatus) -> Self {
        self.status = Some(status);
        self
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

/// What the runtime needs to act on a reply that forwards data to output bindings, and to
/// send an undeliverable event to a dead-letter binding.
#[async_trait]
pub trait Forwarder: Send + Sync + 'static {
    async fn forward(&self, reply: &AppReply);

    /// Invokes the output binding `binding` (under its outbound policy).
    async fn dead_letter(&self, binding: &str, request: InvokeRequest) -> Result<(), String>;
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
