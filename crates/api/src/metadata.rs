//! What the metadata endpoints report, computed once from the runtime and shaped afterwards for
//! each wire: JSON for `GET /v1.0/metadata`, protobuf for `Dapr/GetMetadata`.

use std::collections::BTreeMap;

use bindery_core::duration::format_go_duration;

use crate::state::{ApiState, RUNTIME_VERSION};

/// One loaded component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentView {
    pub name: String,
    pub spec_type: String,
    /// Empty when the component file gave none.
    pub version: String,
    /// `INPUT_BINDING`, `OUTPUT_BINDING`.
    pub capabilities: Vec<&'static str>,
    /// bindery's addition: `running`, or `failed` with the cause in `error`.
    pub state: &'static str,
    pub error: Option<String>,
    /// Whether the component is loaded at all (one that failed to initialise is not).
    pub loaded: bool,
}

/// How the sidecar reaches the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConnectionView {
    pub port: Option<u16>,
    pub protocol: &'static str,
    pub channel_address: String,
    /// `None` = unlimited.
    pub max_concurrency: Option<usize>,
    /// Set with `--enable-app-health-check`.
    pub health: Option<AppHealthView>,
}

/// The app health probe settings, durations in Go's notation (`5s`, `500ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHealthView {
    pub path: String,
    pub interval: String,
    pub timeout: String,
    pub threshold: u32,
}

/// The sidecar's self-description, independent of the wire.
#[derive(Debug, Clone)]
pub struct MetadataView {
    pub id: String,
    pub runtime_version: &'static str,
    pub enabled_features: Vec<String>,
    pub components: Vec<ComponentView>,
    /// Always has `daprRuntimeVersion`, plus what apps set.
    pub extended: BTreeMap<String, String>,
    pub app_connection: AppConnectionView,
}

impl MetadataView {
    pub fn new(state: &ApiState) -> Self {
        let snapshot = state.runtime.metadata();
        let config = state.runtime.config();
        let mut failures = state.runtime.telemetry().failures();
        let mut components: Vec<ComponentView> = snapshot
            .components
            .into_iter()
            .map(|c| {
                let failure = failures.remove(&c.name);
                let mut capabilities = Vec::new();
                if c.input {
                    capabilities.push("INPUT_BINDING");
                }
                if c.output {
                    capabilities.push("OUTPUT_BINDING");
                }
                ComponentView {
                    name: c.name,
                    spec_type: c.spec_type,
                    version: c.version,
                    capabilities,
                    state: if failure.is_some() {
                        "failed"
                    } else {
                        "running"
                    },
                    error: failure.map(|f| f.error),
                    loaded: true,
                }
            })
            .collect();
        // Components that failed to initialise under `ignoreErrors` are not loaded.
        components.extend(failures.into_iter().map(|(name, f)| ComponentView {
            name,
            spec_type: f.spec_type,
            version: f.version,
            capabilities: Vec::new(),
            state: "failed",
            error: Some(f.error),
            loaded: false,
        }));
        let mut extended = BTreeMap::new();
        extended.insert("daprRuntimeVersion".to_owned(), RUNTIME_VERSION.to_owned());
        extended.extend(snapshot.extended);
        Self {
            id: snapshot.app_id,
            runtime_version: RUNTIME_VERSION,
            enabled_features: state.enabled_features.clone(),
            components,
            extended,
            app_connection: AppConnectionView {
                port: config.app_port,
                protocol: config.app_protocol.as_str(),
                channel_address: config.app_channel_address.clone(),
                max_concurrency: config.app_max_concurrency,
                health: config.app_health.as_ref().map(|h| AppHealthView {
                    path: h.path.clone(),
                    interval: format_go_duration(h.interval),
                    timeout: format_go_duration(h.timeout),
                    threshold: h.threshold,
                }),
            },
        }
    }
}
