//! daprd's command line: the flags bindery uses, the ones it accepts and ignores so the dapr CLI
//! can launch it as `daprd`, and Go's single-dash long-flag form.

use clap::Args;

/// daprd flags that take a value and mean nothing to a bindings sidecar.
const IGNORED_WITH_VALUE: &[&str] = &[
    "placement-host-address",
    "scheduler-host-address",
    "profile-port",
    "dapr-internal-grpc-port",
    "dapr-internal-grpc-listen-address",
    "dapr-public-port",
    "dapr-public-listen-address",
    "mode",
    "control-plane-address",
    "control-plane-trust-domain",
    "sentry-address",
    "trust-anchors-file",
    "allowed-origins",
    "dapr-http-max-request-size",
    "dapr-http-read-buffer-size",
    "read-buffer-size",
    "dapr-block-shutdown-duration",
    "unix-domain-socket",
    "hot-reload-reconcile-interval",
    "kubernetes-namespace",
    "enable-mtls-with-trust-anchors",
    "actors-service",
    "reminders-service",
    "scheduler-host-address-dns-a",
];

/// daprd boolean flags that mean nothing to a bindings sidecar.
const IGNORED_BOOLEAN: &[&str] = &[
    "enable-profiling",
    "enable-mtls",
    "enable-api-logging",
    "app-ssl",
    "disable-builtin-k8s-secret-store",
    "wait",
];

/// Turns Go's `-flag` into `--flag` and drops daprd flags bindery ignores (logged at debug
/// once logging is up). Stops at a bare `--`, after which the app's own command follows.
pub fn normalise_args(args: impl IntoIterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    let mut iter = args.into_iter().peekable();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    let mut passthrough = false;
    while let Some(arg) = iter.next() {
        if passthrough {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let arg = if arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2 {
            format!("-{arg}")
        } else {
            arg
        };
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, has_inline_value) = match flag.split_once('=') {
                Some((name, _)) => (name, true),
                None => (flag, false),
            };
            if IGNORED_WITH_VALUE.contains(&name) {
                ignored.push(name.to_owned());
                if !has_inline_value {
                    iter.next();
                }
                continue;
            }
            if IGNORED_BOOLEAN.contains(&name) {
                ignored.push(name.to_owned());
                continue;
            }
        }
        out.push(arg);
    }
    (out, ignored)
}

fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(format!("invalid boolean {other:?}")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct SidecarArgs {
    /// The app's id.
    #[arg(long, default_value = "")]
    pub app_id: String,
    /// The port the app listens on; without it no input event is delivered.
    #[arg(long)]
    pub app_port: Option<u16>,
    /// How to talk to the app: http, https, grpc, grpcs or h2c.
    #[arg(long, default_value = "http")]
    pub app_protocol: String,
    /// The address the app listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub app_channel_address: String,
    /// Port of the HTTP API.
    #[arg(long)]
    pub dapr_http_port: Option<u16>,
    /// Port of the gRPC API.
    #[arg(long)]
    pub dapr_grpc_port: Option<u16>,
    /// Port of the Prometheus metrics endpoint.
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Serve metrics.
    #[arg(long, num_args = 0..=1, default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub enable_metrics: bool,
    /// Addresses the metrics endpoint listens on, comma-separated; all interfaces when empty.
    #[arg(long, default_value = "")]
    pub metrics_listen_address: String,
    /// Folders of component files; repeat the flag or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub resources_path: Vec<String>,
    /// Deprecated name of --resources-path.
    #[arg(long, value_delimiter = ',')]
    pub components_path: Vec<String>,
    /// A Configuration file.
    #[arg(long)]
    pub config: Vec<String>,
    /// debug, info, warn, error or fatal.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// One JSON object per log line.
    #[arg(long, num_args = 0..=1, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub log_as_json: bool,
    /// Addresses the APIs listen on, comma-separated; all interfaces when empty.
    #[arg(long, default_value = "")]
    pub dapr_listen_addresses: String,
    /// Largest request body, as a quantity (4Mi).
    #[arg(long, default_value = "4Mi")]
    pub max_body_size: String,
    /// Most events delivered to the app at once; -1 for no limit.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub app_max_concurrency: i64,
    /// Seconds allowed for a graceful shutdown.
    #[arg(long, default_value_t = 5)]
    pub dapr_graceful_shutdown_seconds: u64,
    /// Deadline of one subscription probe (Go duration).
    #[arg(long, default_value = "3s")]
    pub app_binding_options_timeout: String,
    /// Probe the app's health and pause input delivery while it is unhealthy.
    #[arg(long, num_args = 0..=1, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub enable_app_health_check: bool,
    /// Path of the app's HTTP health endpoint.
    #[arg(long, default_value = "/healthz")]
    pub app_health_check_path: String,
    /// Seconds between health probes (Go duration or seconds).
    #[arg(long, default_value = "5s")]
    pub app_health_probe_interval: String,
    /// Deadline of one health probe.
    #[arg(long, default_value = "500ms")]
    pub app_health_probe_timeout: String,
    /// Consecutive failures before the app counts as unhealthy.
    #[arg(long, default_value_t = 3)]
    pub app_health_threshold: u32,
}

impl SidecarArgs {
    pub fn resources_paths(&self) -> Vec<String> {
        self.resources_path
            .iter()
            .chain(&self.components_path)
            .filter(|p| !p.is_empty())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> (Vec<String>, Vec<String>) {
        normalise_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_flags_are_accepted() {
        let (args, _) = norm(&["bindery", "-app-id", "x", "--app-port", "3000", "-h"]);
        assert_eq!(
            args,
            ["bindery", "--app-id", "x", "--app-port", "3000", "-h"]
        );
    }

    #[test]
    fn daprd_flags_bindery_does_not_use_are_dropped() {
        let (args, ignored) = norm(&[
            "daprd",
            "--placement-host-address",
            "localhost:50005",
            "--enable-mtls",
            "--profile-port=7777",
            "-app-id",
            "a",
            "--",
            "--placement-host-address",
            "kept",
        ]);
        assert_eq!(
            args,
            [
                "daprd",
                "--app-id",
                "a",
                "--",
                "--placement-host-address",
                "kept"
            ]
        );
        assert_eq!(
            ignored,
            ["placement-host-address", "enable-mtls", "profile-port"]
        );
    }
}
