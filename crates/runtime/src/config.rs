//! Settings the runtime needs, filled in by the binary from daprd-style flags.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppProtocol {
    #[default]
    Http,
    Https,
    Grpc,
    Grpcs,
    H2c,
}

impl AppProtocol {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "http" => Ok(Self::Http),
            "https" => Ok(Self::Https),
            "grpc" => Ok(Self::Grpc),
            "grpcs" => Ok(Self::Grpcs),
            "h2c" => Ok(Self::H2c),
            other => Err(format!(
                "invalid app protocol {other:?}: expected http, https, grpc, grpcs or h2c"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Grpc => "grpc",
            Self::Grpcs => "grpcs",
            Self::H2c => "h2c",
        }
    }

    pub fn is_grpc(self) -> bool {
        matches!(self, Self::Grpc | Self::Grpcs)
    }
}

/// `--enable-app-health-check` and its settings.
#[derive(Debug, Clone)]
pub struct AppHealthConfig {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before the app counts as unhealthy.
    pub threshold: u32,
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub app_id: String,
    /// `NAMESPACE` env; empty outside Kubernetes.
    pub namespace: String,
    /// `POD_NAME` env, for the `{podName}` template.
    pub pod_name: Option<String>,
    pub resources_paths: Vec<PathBuf>,
    pub app_port: Option<u16>,
    pub app_protocol: AppProtocol,
    pub app_channel_address: String,
    /// `None` = unlimited (daprd's -1).
    pub app_max_concurrency: Option<usize>,
    pub graceful_shutdown: Duration,
    /// Deadline of one subscription probe (`--app-binding-options-timeout`).
    pub app_binding_options_timeout: Duration,
    /// `None` = the app counts as healthy once its port is open.
    pub app_health: Option<AppHealthConfig>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            namespace: String::new(),
            pod_name: None,
            resources_paths: Vec::new(),
            app_port: None,
            app_protocol: AppProtocol::Http,
            app_channel_address: "127.0.0.1".to_owned(),
            app_max_concurrency: None,
            graceful_shutdown: Duration::from_secs(5),
            app_binding_options_timeout: Duration::from_secs(3),
            app_health: None,
        }
    }
}
