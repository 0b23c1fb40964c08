//! What both APIs serve from: the runtime and the API-wide settings.

use std::sync::Arc;

use bindery_runtime::Runtime;

use crate::trace::Tracer;

pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone)]
pub struct ApiState {
    pub runtime: Arc<Runtime>,
    /// `DAPR_API_TOKEN`; when set every call but health must carry it.
    pub api_token: Option<String>,
    pub max_body_size: usize,
    pub enabled_features: Vec<String>,
    /// Spans for output calls; `Tracer::default()` only propagates.
    pub tracer: Tracer,
}
