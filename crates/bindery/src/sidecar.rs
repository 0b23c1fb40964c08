//! The sidecar proper: load components, open the APIs, wait for the app, deliver, shut down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bindery_api::app_grpc::GrpcAppChannel;
use bindery_api::app_http::HttpAppChannel;
use bindery_api::grpc::serve_grpc;
use bindery_api::http::{ApiState, router};
use bindery_api::otlp::{OtlpProtocol, OtlpSettings};
use bindery_api::serve::serve_http;
use bindery_api::trace::{TraceSettings, Tracer};
use bindery_core::configuration::Configuration;
use bindery_core::duration::parse_duration_or_seconds;
use bindery_core::properties::parse_quantity;
use bindery_runtime::app::AppChannel;
use bindery_runtime::config::AppHealthConfig;
use bindery_runtime::{AppProtocol, Registry, Runtime, RuntimeConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::flags::SidecarArgs;

pub fn main(args: SidecarArgs, ignored: Vec<String>) -> ExitCode {
    init_logging(&args.log_level, args.log_as_json);
    for flag in ignored {
        tracing::debug!(flag = %flag, "Ignoring a daprd flag bindery does not use.");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bindery: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

pub fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BINDERY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// The filter for `--log-level`. `debug` is bindery's own debug lines, as daprd's is its own:
/// the libraries under it (the AWS SDK, hyper, librdkafka's bridge, ...) stay at `info`, which
/// at `debug` would bury them (`BINDERY_LOG` still sets any filter).
fn log_filter(level: &str) -> String {
    const QUIET: &str = "h2=warn,hyper=warn,rustls=warn";
    /// Every bindery crate, named one by one.
    const OWN_DEBUG: &str = "bindery=debug,bindery_core=debug,bindery_runtime=debug,\
        bindery_api=debug,bindery_bindings=debug,bindery_tls=debug";
    match level.to_lowercase().as_str() {
        "debug" => format!("info,{OWN_DEBUG},{QUIET}"),
        "warn" | "warning" => "warn".to_owned(),
        // Not `QUIET`: its `warn` would let those libraries' warnings through.
        "error" | "fatal" => "error".to_owned(),
        _ => format!("info,{QUIET}"),
    }
}

fn runtime_config(args: &SidecarArgs) -> Result<RuntimeConfig, String> {
    let app_protocol = AppProtocol::parse(&args.app_protocol)?;
    let options_timeout = parse_duration_or_seconds(&args.app_binding_options_timeout)
        .map_err(|e| format!("--app-binding-options-timeout: {e}"))?;
    let app_health = if args.enable_app_health_check {
        let duration = |flag: &str, value: &str| {
            parse_duration_or_seconds(value).map_err(|e| format!("--{flag}: {e}"))
        };
        Some(AppHealthConfig {
            path: args.app_health_check_path.clone(),
            interval: duration("app-health-probe-interval", &args.app_health_probe_interval)?,
            timeout: duration("app-health-probe-timeout", &args.app_health_probe_timeout)?,
            threshold: args.app_health_threshold,
        })
    } else {
        None
    };
    Ok(RuntimeConfig {
        app_id: args.app_id.clone(),
        namespace: std::env::var("NAMESPACE").unwrap_or_default(),
        pod_name: std::env::var("POD_NAME").ok(),
        resources_paths: args
            .resources_paths()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        app_port: args.app_port,
        app_protocol,
        app_channel_address: args.app_channel_address.clone(),
        app_max_concurrency: usize::try_from(args.app_max_concurrency)
            .ok()
            .filter(|n| *n > 0),
        graceful_shutdown: Duration::from_secs(args.dapr_graceful_shutdown_seconds),
        app_binding_options_timeout: options_timeout,
        app_health,
    })
}

/// The configured addresses, or every interface: `[::]` (which also takes IPv4 on Linux, so
/// `localhost` works whichever way it resolves), else `0.0.0.0`.
async fn bind_all(args: &SidecarArgs, port: u16, what: &str) -> Result<Vec<TcpListener>, String> {
    bind_on(
        &args.dapr_listen_addresses,
        port,
        what,
        "--dapr-listen-addresses",
    )
    .await
}

async fn bind_on(
    addresses: &str,
    port: u16,
    what: &str,
    flag: &str,
) -> Result<Vec<TcpListener>, String> {
    let hosts: Vec<&str> = addresses
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        let any_v6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
        let any_v4 = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port));
        let listener = match TcpListener::bind(any_v6).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind(any_v4)
                .await
                .map_err(|e| format!("cannot listen for the {what} on {any_v4}: {e}"))?,
        };
        return Ok(vec![listener]);
    }
    let mut listeners = Vec::new();
    for host in hosts {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = if host == "localhost" {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            host.parse()
                .map_err(|_| format!("{flag}: invalid address {host:?}"))?
        };
        let address = SocketAddr::new(ip, port);
        listeners.push(
            TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen for the {what} on {address}: {e}"))?,
        );
    }
    Ok(listeners)
}

/// Reads the `--config` files; later files add to earlier ones.
fn load_configuration(paths: &[String]) -> Result<Configuration, String> {
    let mut merged = Configuration::default();
    for path in paths.iter().filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(path).map_err(|e| format!("--config {path}: {e}"))?;
        let config = Configuration::parse(path, &text).map_err(|e| format!("--config: {e}"))?;
        merged.features.extend(config.features);
        merged.sampling_rate = config.sampling_rate.or(merged.sampling_rate);
        merged.otel_endpoint = config.otel_endpoint.or(merged.otel_endpoint);
        merged.otel_secure |= config.otel_secure;
        merged.otel_protocol = config.otel_protocol.or(merged.otel_protocol);
    }
    Ok(merged)
}

async fn run(args: SidecarArgs) -> Result<(), String> {
    let config = runtime_config(&args)?;
    let configuration = load_configuration(&args.config)?;
    let max_body_size = parse_quantity(&args.max_body_size)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("--max-body-size: invalid quantity {:?}", args.max_body_size))?;
    let graceful = config.graceful_shutdown;
    tracing::info!(app_id = %config.app_id, version = env!("CARGO_PKG_VERSION"), "Starting bindery.");
    if config.resources_paths.is_empty() {
        tracing::warn!("No --resources-path given: no components are loaded.");
    }
    let registry = Registry::new(bindery_bindings::registry())
        .with_lock_stores(bindery_bindings::lock_stores());
    let runtime = Runtime::start(config, &registry)
        .await
        .map_err(|e| format!("Fatal error during start-up: {e}"))?;

    let api_token = std::env::var("DAPR_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let tracer = tracer(&configuration, &runtime.config().app_id);
    let state = ApiState {
        runtime: runtime.clone(),
        api_token,
        max_body_size,
        enabled_features: configuration.enabled_features(),
        tracer: tracer.clone(),
    };
    let servers_stop = CancellationToken::new();
    let mut servers = Vec::new();
    if args.enable_metrics {
        let port = args.metrics_port.unwrap_or(9090);
        let listeners = bind_on(
            &args.metrics_listen_address,
            port,
            "metrics",
            "--metrics-listen-address",
        )
        .await?;
        for listener in listeners {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(address = %address, "Metrics listening.");
            }
            servers.push(tokio::spawn(serve_http(
                listener,
                bindery_api::metrics::router(runtime.telemetry().clone()),
                servers_stop.clone(),
                graceful,
            )));
        }
    }
    // gRPC API first, then HTTP, as daprd opens them.
    let grpc_port = args.dapr_grpc_port.unwrap_or(50001);
    for listener in bind_all(&args, grpc_port, "gRPC API").await? {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(address = %address, "gRPC API listening.");
        }
        let serve = serve_grpc(listener, state.clone(), servers_stop.clone(), graceful);
        servers.push(tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "The gRPC API stopped.");
            }
        }));
    }
    let http_port = args.dapr_http_port.unwrap_or(3500);
    for listener in bind_all(&args, http_port, "HTTP API").await? {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(address = %address, "HTTP API listening.");
        }
        servers.push(tokio::spawn(serve_http(
            listener,
            router(state.clone()),
            servers_stop.clone(),
            graceful,
        )));
    }
    if configuration.is_enabled("HotReload") && !runtime.config().resources_paths.is_empty() {
        runtime.watch_resources()?;
        tracing::info!("Hot reload is on: changes to the resources paths apply without a restart.");
    }
    runtime.readiness().set_outbound();
    spawn_signal_handler(runtime.clone());

    if runtime.wait_for_app_port().await {
        runtime.readiness().set_ready();
        tracing::info!("bindery is ready.");
        if let Some(port) = runtime.config().app_port {
            let channel = app_channel(
                runtime.config(),
                port,
                &args.app_health_check_path,
                max_body_size,
                &tracer,
            )?;
            runtime.start_inputs(channel);
        }
    }

    runtime.shutdown_token().cancelled().await;
    tracing::info!("Shutting down: stopping input bindings first.");
    runtime.stop_inputs(graceful).await;
    servers_stop.cancel();
    for server in servers {
        let _ = server.await;
    }
    runtime.close_outputs().await;
    tracer.shutdown(graceful).await;
    tracing::info!("bindery stopped.");
    Ok(())
}

fn app_channel(
    config: &RuntimeConfig,
    port: u16,
    health_path: &str,
    max_message_size: usize,
    tracer: &Tracer,
) -> Result<Arc<dyn AppChannel>, String> {
    let app_token = std::env::var("APP_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    match config.app_protocol {
        AppProtocol::Http | AppProtocol::H2c => Ok(Arc::new(
            HttpAppChannel::new(
                &config.app_channel_address,
                port,
                false,
                app_token,
                health_path,
            )?
            .with_tracer(tracer.clone()),
        )),
        AppProtocol::Https => Ok(Arc::new(
            HttpAppChannel::new(
                &config.app_channel_address,
                port,
                true,
                app_token,
                health_path,
            )?
            .with_tracer(tracer.clone()),
        )),
        AppProtocol::Grpc | AppProtocol::Grpcs => Ok(Arc::new(
            GrpcAppChannel::new(
                &config.app_channel_address,
                port,
                config.app_protocol == AppProtocol::Grpcs,
                app_token,
                max_message_size,
            )?
            .with_tracer(tracer.clone()),
        )),
    }
}

/// Spans from `spec.tracing`: sampled at `samplingRate` (none when absent) and exported over
/// OTLP when `otel.endpointAddress` is set (`protocol: grpc`, otherwise OTLP/HTTP).
fn tracer(configuration: &Configuration, app_id: &str) -> Tracer {
    let otlp = configuration
        .otel_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|endpoint| OtlpSettings {
            endpoint: endpoint.to_owned(),
            secure: configuration.otel_secure,
            protocol: match configuration.otel_protocol.as_deref() {
                Some(p) if p.eq_ignore_ascii_case("grpc") => OtlpProtocol::Grpc,
                _ => OtlpProtocol::Http,
            },
        });
    let sampling_rate = configuration.sampling_rate.unwrap_or(0.0);
    let settings = TraceSettings {
        sampling_rate,
        otlp: otlp.clone(),
        service_name: app_id.to_owned(),
    };
    match Tracer::new(settings) {
        Ok(tracer) => {
            if sampling_rate > 0.0 || otlp.is_some() {
                tracing::info!(sampling_rate, otlp_endpoint = ?otlp.as_ref().map(|o| &o.endpoint),
                    otlp_protocol = ?otlp.as_ref().map(|o| o.protocol), "Tracing is on.");
            }
            tracer
        }
        Err(e) => {
            tracing::warn!(cause = %e, "Spans cannot be exported; trace context is still propagated.");
            Tracer::new(TraceSettings {
                sampling_rate,
                otlp: None,
                service_name: app_id.to_owned(),
            })
            .unwrap_or_default()
        }
    }
}

fn spawn_signal_handler(runtime: Arc<Runtime>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot listen for SIGTERM.");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("Received SIGTERM."),
            _ = tokio::signal::ctrl_c() => tracing::info!("Received SIGINT."),
            _ = runtime.shutdown_token().cancelled() => return,
        }
        runtime.request_shutdown();
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    /// Which of a few targets' debug and info events `--log-level <level>` lets through.
    fn passed(level: &str) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let seen = seen.clone();
            move || Line(seen.clone())
        };
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(super::log_filter(level)))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .without_time(),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "bindery_bindings::kafka::input", "own-debug");
            tracing::debug!(target: "bindery_runtime::input", "runtime-debug");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "sdk-debug");
            tracing::info!(target: "aws_config::meta", "sdk-info");
            tracing::debug!(target: "hyper_util::client::legacy::pool", "pool-debug");
            tracing::warn!(target: "hyper::proto", "hyper-warn");
            tracing::info!(target: "bindery_api::http", "own-info");
        });
        let text = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        [
            "own-debug",
            "runtime-debug",
            "sdk-debug",
            "sdk-info",
            "pool-debug",
            "hyper-warn",
            "own-info",
        ]
        .into_iter()
        .filter(|m| text.contains(m))
        .map(str::to_owned)
        .collect()
    }

    struct Line(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Line {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn debug_is_binderys_own_debug_lines() {
        assert_eq!(
            passed("debug"),
            [
                "own-debug",
                "runtime-debug",
                "sdk-info",
                "hyper-warn",
                "own-info"
            ]
        );
        assert_eq!(passed("DEBUG"), passed("debug"));
        assert_eq!(passed("info"), ["sdk-info", "hyper-warn", "own-info"]);
        assert_eq!(passed("warn"), ["hyper-warn"]);
        assert_eq!(passed("fatal"), Vec::<String>::new());
    }
}
