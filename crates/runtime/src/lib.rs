//! The runtime owns every component's lifecycle: it loads component files, resolves secrets and
//! templates, builds bindings through the registry, serves output invocations, runs input
//! bindings and hands their events to the app through an [`app::AppChannel`], and shuts all of
//! it down in order. It knows nothing of Dapr's wire format: the API crate implements the app
//! channel and turns [`InvokeError`] into Dapr's errors.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
mod delivery;
pub mod loader;
mod locks;
pub use bindery_core::registry;
pub mod reload;
pub mod resiliency;
mod runtime;
pub mod secrets;
pub(crate) mod state;
pub mod telemetry;
pub mod templates;

pub use config::{AppProtocol, RuntimeConfig};
pub use delivery::{FAILURE_BINDING_KEY, FAILURE_REASON_KEY};
pub use registry::Registry;
pub use runtime::{InvokeError, MetadataSnapshot, Readiness, Runtime, StartupError};
pub use state::{ComponentInfo, ReloadSummary};
pub use telemetry::Telemetry;
