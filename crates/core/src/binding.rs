//! The two traits every binding implements, one per direction, mirroring components-contrib's
//! `OutputBinding` and `InputBinding`. The runtime owns the lifecycle around them; components
//! never see HTTP, gRPC or the app.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::error::BindingError;
use crate::in_flight::InFlight;

/// A boxed future, as the descriptor's builders and the lock stores return.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Request or response metadata: a flat string map, as in Dapr.
pub type Metadata = HashMap<String, String>;

/// An output-binding call, after the API layer has decoded it.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    pub operation: String,
    pub data: Bytes,
    pub metadata: Metadata,
}

/// What a component answers. `None` from [`OutputBinding::invoke`] means "nothing to say"
/// (HTTP 204); `Some` with empty data is still an answer (HTTP 200, empty body).
#[derive(Debug, Clone, Default)]
pub struct InvokeResponse {
    pub data: Bytes,
    pub metadata: Metadata,
}

#[async_trait]
pub trait OutputBinding: Send + Sync + 'static {
    /// Performs one operation. The runtime has already checked that the operation is one the
    /// descriptor lists.
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError>;

    /// Releases connections. Called once; later `invoke` calls may fail.
    async fn close(&self) -> Result<(), BindingError> {
        Ok(())
    }
}

/// One event read from the external system.
#[derive(Debug, Clone, Default)]
pub struct InputEvent {
    pub data: Bytes,
    pub metadata: Metadata,
}

/// Why the app did not accept an event.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
}

impl DeliveryError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The app's verdict on an event: `Ok` with the app's response body once it accepted it.
/// A component acknowledges to its source only on `Ok`.
pub type Delivery = Result<Bytes, DeliveryError>;

/// Where an input binding hands its events. Implemented by the runtime.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn deliver(&self, event: InputEvent) -> Delivery;
}

/// Everything an input binding needs while it runs.
#[derive(Clone)]
pub struct InputContext {
    name: String,
    sink: Arc<dyn EventSink>,
    shutdown: CancellationToken,
    max_concurrent_deliveries: Option<usize>,
}

impl InputContext {
    pub fn new(
        name: impl Into<String>,
        sink: Arc<dyn EventSink>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            name: name.into(),
            sink,
            shutdown,
            max_concurrent_deliveries: None,
        }
    }

    /// Sets the binding's `maxConcurrentDeliveries` (`None` or 0: not set).
    pub fn with_max_concurrent_deliveries(mut self, limit: Option<usize>) -> Self {
        self.max_concurrent_deliveries = limit.filter(|n| *n > 0);
        self
    }

    /// The binding's `maxConcurrentDeliveries`, when its metadata sets it: how many events the
    /// component may hand to the app at once.
    pub fn max_concurrent_deliveries(&self) -> Option<usize> {
        self.max_concurrent_deliveries
    }

    /// The set a component starts its deliveries in: `maxConcurrentDeliveries` at once, or
    /// one at a time (daprd's components deliver sequentially) when it is not set.
    pub fn in_flight(&self) -> InFlight {
        InFlight::new(self.max_concurrent_deliveries.unwrap_or(1))
    }

    /// The component's name, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands one event to the app and waits for its verdict. Never fails silently: the result
    /// says whether to ack or nack.
    pub async fn deliver(&self, event: InputEvent) -> Delivery {
        self.sink.deliver(event).await
    }

    /// Cancelled when the binding must stop reading: finish or nack in-flight events, then
    /// return from [`InputBinding::run`].
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
}

#[async_trait]
pub trait InputBinding: Send + 'static {
    /// Reads events until `cx.shutdown()` is cancelled. Transient I/O errors are retried here,
    /// with backoff; an `Err` return means the binding cannot continue.
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError>;
}
