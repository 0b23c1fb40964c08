//! The running set of components.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::check::{self, CheckedBinding, Diagnostic, Severity};
use bindery_core::manifest::{Component, LoadError};
use bindery_core::resiliency::{DeliveryOptions, PolicyDirection};
use bindery_core::{
    BindingError, BuildContext, InputBinding, InputContext, InvokeRequest, InvokeResponse,
    OutputBinding, Properties,
};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{AppChannel, AppReply, Forwarder, InputTarget, wait_until_healthy};
use crate::config::RuntimeConfig;
use crate::delivery::AppSink;
use crate::loader::{load_resources, resolve_metadata};
use crate::registry::Registry;
use crate::resiliency::invoke_output;
use crate::secrets::{self, SecretStore};
use crate::state::{Apply, ComponentInfo, OutputEntry, SharedState, State};
use crate::telemetry::{self, InitFailedIgnored, InputStopped, Telemetry};

/// Why the sidecar cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Load(#[from] LoadError),
}

/// Why an output invocation failed, in daprd's words (the API layer adds the prefix
/// `error invoking output binding <name>: `).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("operation field is missing from request")]
    MissingOperation,
    #[error("couldn't find output binding {0}")]
    NotFound(String),
    #[error("binding {name} does not support operation {operation}. supported operations:{}", supported.join(" "))]
    UnsupportedOperation {
        name: String,
        operation: String,
        supported: Vec<String>,
    },
    #[error("{0}")]
    Component(#[from] BindingError),
}

impl InvokeError {
    /// Response metadata to send even though the call failed.
    pub fn response_metadata(&self) -> Option<&HashMap<String, String>> {
        match self {
            InvokeError::Component(e) => Some(e.response_metadata()),
            _ => None,
        }
    }
}

/// Everything `GET /v1.0/metadata` reports.
#[derive(Debug, Clone)]
pub struct MetadataSnapshot {
    pub app_id: String,
    pub components: Vec<ComponentInfo>,
    pub extended: BTreeMap<String, String>,
}

/// daprd's two readiness gates.
#[derive(Debug, Default)]
pub struct Readiness {
    outbound: AtomicBool,
    app: AtomicBool,
}

impl Readiness {
    pub fn outbound(&self) -> bool {
        self.outbound.load(Ordering::Acquire)
    }
    pub fn ready(&self) -> bool {
        self.app.load(Ordering::Acquire)
    }
    pub fn set_outbound(&self) {
        self.outbound.store(true, Ordering::Release);
    }
    pub fn set_ready(&self) {
        self.app.store(true, Ordering::Release);
    }
}

/// What every input binding delivers through.
#[derive(Clone)]
pub(crate) struct DeliveryState {
    channel: Arc<dyn AppChannel>,
    concurrency: Option<Arc<Semaphore>>,
    forwarder: Arc<dyn Forwarder>,
}

/// A component built but not yet installed.
pub(crate) struct Built {
    pub(crate) info: ComponentInfo,
    pub(crate) output: Option<Arc<OutputEntry>>,
    pub(crate) input: Option<InputEntry>,
}

pub(crate) struct InputEntry {
    target: InputTarget,
    /// `direction` lists `input`: deliver without asking the app first.
    skip_probe: bool,
    binding: Option<Box<dyn InputBinding>>,
    /// bindery-only delivery options (dead letter, attempts, concurrency).
    pub(crate) delivery: DeliveryOptions,
    pub(crate) stop: CancellationToken,
    pub(crate) task: Option<JoinHandle<()>>,
}

impl InputEntry {
    pub(crate) fn name(&self) -> &str {
        &self.target.name
    }
}

pub struct Runtime {
    pub(crate) config: RuntimeConfig,
    pub(crate) registry: Registry,
    /// Outputs, policies, secret stores and what metadata reports: one snapshot, swapped in
    /// one step by [`Runtime::apply`].
    pub(crate) state: SharedState,
    /// Lock store components by name (locks.rs), handed to bindings when they are built.
    pub(crate) locks: RwLock<HashMap<String, Arc<dyn bindery_core::lock::LockStore>>>,
    /// The running input bindings (tasks, not part of what calls see).
    pub(crate) inputs: Mutex<Vec<InputEntry>>,
    /// Set once input delivery has started; bindings added later start right away.
    pub(crate) delivery: Mutex<Option<DeliveryState>>,
    extended: RwLock<BTreeMap<String, String>>,
    readiness: Readiness,
    shutdown: CancellationToken,
    app_healthy: watch::Sender<bool>,
    pub(crate) telemetry: Arc<Telemetry>,
}

impl Runtime {
    /// Loads every resources path and initialises components: secret stores first, then
    /// bindings, each within its `initTimeout`. A failure is fatal unless `ignoreErrors`.
    /// This is a reload from the empty state.
    pub async fn start(
        config: RuntimeConfig,
        registry: &Registry,
    ) -> Result<Arc<Self>, StartupError> {
        let resources = load_resources(&config)?;
        let telemetry = Arc::new(Telemetry::new(&config.app_id, &config.namespace));
        let runtime = Arc::new(Self {
            config,
            registry: registry.clone(),
            state: SharedState::default(),
            locks: RwLock::new(HashMap::new()),
            inputs: Mutex::new(Vec::new()),
            delivery: Mutex::new(None),
            extended: RwLock::new(BTreeMap::new()),
            readiness: Readiness::default(),
            shutdown: CancellationToken::new(),
            app_healthy: watch::Sender::new(false),
            telemetry,
        });
        runtime.apply(&resources, Apply::Startup).await?;
        Ok(runtime)
    }

    /// The pure check, on the resolved metadata. Warnings are logged here, once per build.
    fn check_binding(
        &self,
        component: &Component,
        state: &State,
    ) -> Result<CheckedBinding, LoadError> {
        let mut diagnostics = Vec::new();
        check::check_references(
            component,
            &|s| state.stores.contains_key(s),
            &mut diagnostics,
        );
        let checked = if diagnostics.iter().any(Diagnostic::is_error) {
            None
        } else {
            let values = resolve_metadata(component, &state.stores, &self.config)?;
            let deferred = HashSet::new();
            check::check_binding(
                component,
                check::Values {
                    values,
                    deferred: &deferred,
                },
                &self.registry,
                check::Mode::Runtime,
                &mut diagnostics,
            )
        };
        // The first error by position is the one that stops start-up, as `validate` lists it.
        diagnostics.sort_by_key(|d| (d.error.line, d.column));
        let mut first_error = None;
        for d in diagnostics {
            match d.severity {
                Severity::Warning => {
                    tracing::warn!(component = %component.name, "{}", d.error);
                }
                Severity::Error if first_error.is_none() => first_error = Some(d.error),
                Severity::Error => {
                    tracing::error!(component = %component.name, "{}", d.error);
                }
            }
        }
        match (checked, first_error) {
            (Some(checked), None) => Ok(checked),
            (_, Some(error)) => Err(error),
            (None, None) => Err(component.error(None, "the component did not pass its check")),
        }
    }

    pub(crate) fn init_failed(
        &self,
        component: &Component,
        error: LoadError,
    ) -> Result<(), StartupError> {
        if component.ignore_errors {
            self.telemetry.emit(InitFailedIgnored {
                component: &component.name,
                spec_type: &component.spec_type,
                version: &component.version,
                error: &error,
            });
            Ok(())
        } else {
            tracing::error!(component = %component.name, error = %error, "Component failed to initialise.");
            Err(StartupError::Load(error))
        }
    }

    pub(crate) fn build_secret_store(
        &self,
        component: &Component,
        state: &State,
    ) -> Result<Arc<dyn SecretStore>, LoadError> {
        let metadata = resolve_metadata(component, &state.stores, &self.config)?;
        let properties = Properties::new(metadata).map_err(|e| config_error(component, e))?;
        secrets::build(&component.spec_type, &properties)
            .map(Arc::from)
            .map_err(|e| component_error(component, None, e))
    }

    /// Builds both sides of a binding within its `initTimeout`, without registering anything.
    /// The component is checked first by the same pure check `bindery validate` runs.
    pub(crate) async fn build_binding(
        &self,
        component: &Component,
        state: &State,
    ) -> Result<Built, LoadError> {
        let checked = self.check_binding(component, state)?;
        let descriptor = checked.descriptor;
        let want_input = checked.wants_input();
        let want_output = checked.wants_output();
        let cx = BuildContext::new(
            component.name.clone(),
            checked.properties.clone(),
            self.config.app_id.clone(),
        )
        .decoded(checked.config.clone())
        .with_lock_stores(self.lock_stores());
        let timeout = component.init_timeout;
        let timed_out = || {
            component_error(
                component,
                None,
                format!(
                    "init timeout for component {} exceeded after {:?}",
                    component.name, timeout
                ),
            )
        };
        let build_failed = |e: BindingError| component_error(component, None, e.to_string());

        let output = match (want_output, descriptor.build_output) {
            (true, Some(build)) => Some(
                tokio::time::timeout(timeout, build(cx.clone()))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(build_failed)?,
            ),
            _ => None,
        };
        let input = match (want_input, descriptor.build_input) {
            (true, Some(build)) => match tokio::time::timeout(timeout, build(cx)).await {
                Ok(Ok(binding)) => Some(binding),
                Ok(Err(e)) => {
                    close_quietly(output, &component.name).await;
                    return Err(build_failed(e));
                }
                Err(_) => {
                    close_quietly(output, &component.name).await;
                    return Err(timed_out());
                }
            },
            _ => None,
        };

        Ok(Built {
            info: ComponentInfo {
                name: component.name.clone(),
                spec_type: component.spec_type.clone(),
                version: component.version.clone(),
                input: input.is_some(),
                output: output.is_some(),
            },
            output: output.map(|binding| {
                Arc::new(OutputEntry {
                    descriptor,
                    binding,
                })
            }),
            input: input.map(|binding| InputEntry {
                target: InputTarget {
                    name: component.name.clone(),
                    route: checked.route.clone(),
                },
                skip_probe: checked.direction.explicit_input,
                binding: Some(binding),
                delivery: checked.delivery.clone(),
                stop: CancellationToken::new(),
                task: None,
            }),
        })
    }

    /// Registers a built input; it starts at once if delivery already runs.
    pub(crate) fn install_input(self: &Arc<Self>, component: &Component, mut entry: InputEntry) {
        if let Some(state) = self.delivery.lock().clone() {
            self.spawn_input(&mut entry, &state);
        }
        tracing::debug!(component = %component.name, "Input binding installed.");
        self.inputs.lock().push(entry);
    }

    /// Stops one input binding and waits for its in-flight events.
    pub(crate) async fn stop_input(&self, name: &str) {
        let entry = {
            let mut inputs = self.inputs.lock();
            inputs
                .iter()
                .position(|i| i.name() == name)
                .map(|i| inputs.remove(i))
        };
        let Some(mut entry) = entry else { return };
        entry.stop.cancel();
        if let Some(task) = entry.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(self.config.graceful_shutdown, task)
                .await
                .is_err()
            {
                tracing::warn!(binding = %name, "Input binding did not stop in time; aborting it.");
                abort.abort();
            }
        }
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Metrics and component health.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Cancelled when a shutdown has been requested (signal, API call).
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Performs one output-binding call, with daprd's checks in daprd's order.
    pub async fn invoke(
        &self,
        name: &str,
        request: InvokeRequest,
    ) -> Result<Option<InvokeResponse>, InvokeError> {
        if request.operation.is_empty() {
            return Err(InvokeError::MissingOperation);
        }
        // One snapshot for the whole call: the binding and its policy come from the same set.
        let state = self.state.read().clone();
        let entry = state
            .outputs
            .get(name)
            .cloned()
            .ok_or_else(|| InvokeError::NotFound(name.to_owned()))?;
        if !entry.descriptor.supports_operation(&request.operation) {
            return Err(InvokeError::UnsupportedOperation {
                name: name.to_owned(),
                operation: request.operation,
                supported: entry
                    .descriptor
                    .operations
                    .iter()
                    .map(|o| o.name.to_owned())
                    .collect(),
            });
        }
        let policy = state.resiliency.policy(name, PolicyDirection::Outbound);
        drop(state);
        let call = self
            .telemetry
            .output_call(name, &entry.descriptor, &request.operation);
        let telemetry = &self.telemetry;
        let retried = || telemetry.retry(name, telemetry::Direction::Output);
        call.finish(invoke_output(&policy, &*entry.binding, request, retried).await)
            .map_err(InvokeError::Component)
    }

    pub fn metadata(&self) -> MetadataSnapshot {
        MetadataSnapshot {
            app_id: self.config.app_id.clone(),
            components: self.state.read().infos.clone(),
            extended: self.extended.read().clone(),
        }
    }

    pub fn set_extended_metadata(&self, key: String, value: String) {
        self.extended.write().insert(key, value);
    }

    /// Blocks until a TCP connection to the app succeeds (daprd never gives up), or shutdown.
    pub async fn wait_for_app_port(&self) -> bool {
        let Some(port) = self.config.app_port else {
            return true;
        };
        let address = format!("{}:{}", self.config.app_channel_address, port);
        let mut logged = false;
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(&address),
            );
            if let Ok(Ok(_)) = attempt.await {
                return true;
            }
            if !logged {
                tracing::info!(address = %address, "Waiting for the app to listen.");
                logged = true;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// Probes the app every interval: after `threshold` consecutive failures deliveries pause,
    /// and the first success resumes them. Without health checks the app is simply healthy.
    fn watch_app_health(self: &Arc<Self>, channel: Arc<dyn AppChannel>) {
        let Some(health) = self.config.app_health.clone() else {
            self.app_healthy.send_replace(true);
            return;
        };
        let runtime = Arc::downgrade(self);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let Some(rt) = runtime.upgrade() else { return };
                match channel.check_health(health.timeout).await {
                    Ok(()) => {
                        failures = 0;
                        if !rt.app_healthy.send_replace(true) {
                            tracing::info!("The app is healthy; input delivery runs.");
                        }
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        if failures >= health.threshold.max(1) && rt.app_healthy.send_replace(false)
                        {
                            tracing::warn!(error = %e, "The app is unhealthy; input delivery is paused.");
                        }
                    }
                }
                drop(rt);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(health.interval) => {}
                }
            }
        });
    }

    /// Starts reading every input binding the app subscribes to.
    pub fn start_inputs(self: &Arc<Self>, channel: Arc<dyn AppChannel>) {
        self.watch_app_health(channel.clone());
        let state = DeliveryState {
            channel,
            concurrency: self
                .config
                .app_max_concurrency
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            forwarder: Arc::new(OutputForwarder(Arc::downgrade(self))),
        };
        *self.delivery.lock() = Some(state.clone());
        let mut inputs = self.inputs.lock();
        for entry in inputs.iter_mut() {
            self.spawn_input(entry, &state);
        }
    }

    /// Probes the app for one binding and, if subscribed, runs it.
    fn spawn_input(self: &Arc<Self>, entry: &mut InputEntry, state: &DeliveryState) {
        let Some(binding) = entry.binding.take() else {
            return;
        };
        let sink = Arc::new(AppSink {
            target: entry.target.clone(),
            channel: state.channel.clone(),
            concurrency: state.concurrency.clone(),
            binding_concurrency: entry
                .delivery
                .max_concurrent
                .map(|n| Arc::new(Semaphore::new(n))),
            stopping: entry.stop.clone(),
            forwarder: state.forwarder.clone(),
            healthy: self.app_healthy.subscribe(),
            telemetry: self.telemetry.clone(),
            options: entry.delivery.clone(),
            state: self.state.clone(),
        });
        let telemetry = self.telemetry.clone();
        let healthy = self.app_healthy.subscribe();
        let target = entry.target.clone();
        let skip_probe = entry.skip_probe;
        let max_concurrent = entry.delivery.max_concurrent;
        let stop = entry.stop.clone();
        let probe_timeout = self.config.app_binding_options_timeout;
        let channel = state.channel.clone();
        entry.task = Some(tokio::spawn(async move {
            if !wait_until_healthy(&healthy, &stop).await {
                return;
            }
            if !skip_probe && !wait_for_subscription(&*channel, &target, probe_timeout, &stop).await
            {
                return;
            }
            tracing::info!(binding = %target.name, route = %target.route, "Reading from input binding.");
            let cx = InputContext::new(target.name.clone(), sink, stop)
                .with_max_concurrent_deliveries(max_concurrent);
            if let Err(error) = binding.run(cx).await {
                telemetry.emit(InputStopped {
                    component: &target.name,
                    error: &error,
                });
            }
        }));
    }

    /// Stops every input binding: no new events are taken, in-flight ones finish (and are
    /// acked or nacked by their component), within `deadline`.
    pub async fn stop_inputs(&self, deadline: Duration) {
        let tasks: Vec<(String, JoinHandle<()>)> = {
            let mut inputs = self.inputs.lock();
            inputs
                .iter_mut()
                .filter_map(|i| {
                    i.stop.cancel();
                    i.task.take().map(|t| (i.target.name.clone(), t))
                })
                .collect()
        };
        let waits = tasks.into_iter().map(|(name, task)| async move {
            let abort = task.abort_handle();
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::warn!(binding = %name, "Input binding did not stop in time; aborting it.");
                abort.abort();
            }
        });
        futures::future::join_all(waits).await;
    }

    /// Closes every output binding.
    pub async fn close_outputs(&self) {
        let outputs: Vec<(String, Arc<OutputEntry>)> = {
            let mut state = self.state.write();
            let mut next = (**state).clone();
            let outputs = std::mem::take(&mut next.outputs);
            *state = Arc::new(next);
            outputs.into_iter().collect()
        };
        for (name, entry) in outputs {
            if let Err(e) = entry.binding.close().await {
                tracing::warn!(binding = %name, error = %e, "Closing the output binding failed.");
            }
        }
    }
}

/// The Resiliency documents among the loaded ones, as written.
pub(crate) fn resiliency_documents(
    documents: &[bindery_core::manifest::Document],
) -> Vec<serde_json::Value> {
    documents
        .iter()
        .filter(|d| d.is_dapr_kind(bindery_core::resiliency::RESILIENCY_KIND))
        .map(|d| d.value.clone())
        .collect()
}

async fn close_quietly(output: Option<Box<dyn OutputBinding>>, name: &str) {
    if let Some(binding) = output
        && let Err(e) = binding.close().await
    {
        tracing::debug!(binding = name, error = %e, "Closing a half-built binding failed.");
    }
}

/// Asks the app until it answers: retried with backoff while the app is still starting, so a
/// slow app is not marked unsubscribed forever.
async fn wait_for_subscription(
    channel: &dyn AppChannel,
    target: &InputTarget,
    timeout: Duration,
    stop: &CancellationToken,
) -> bool {
    let mut delay = Duration::from_millis(100);
    for attempt in 0.. {
        match channel.is_subscribed(target, timeout).await {
            Ok(true) => return true,
            Ok(false) => {
                tracing::info!(binding = %target.name, route = %target.route, "app has not subscribed to binding {}.", target.name);
                return false;
            }
            Err(e) if e.unreachable && attempt < 40 => {
                tracing::debug!(binding = %target.name, error = %e, "Subscription probe failed; retrying.");
            }
            Err(e) => {
                tracing::warn!(binding = %target.name, error = %e, "Subscription probe failed; the binding is not started.");
                return false;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    false
}

/// Sends a gRPC app's `to` payload to output bindings, as daprd does: operation `create`,
/// no metadata; errors are logged and never reach the input component.
struct OutputForwarder(std::sync::Weak<Runtime>);

#[async_trait]
impl Forwarder for OutputForwarder {
    async fn forward(&self, reply: &AppReply) {
        let Some(runtime) = self.0.upgrade() else {
            return;
        };
        let send = |to: String| {
            let runtime = runtime.clone();
            let data = reply.forward_data.clone();
            async move {
                let request = InvokeRequest {
                    operation: "create".to_owned(),
                    data,
                    metadata: HashMap::new(),
                };
                let result = runtime.invoke(&to, request).await;
                if let Err(e) = &result {
                    tracing::warn!(binding = %to, error = %e, "Forwarding the app's reply to an output binding failed.");
                }
                result.is_ok()
            }
        };
        if reply.forward_in_parallel {
            for to in reply.forward_to.iter().cloned() {
                tokio::spawn(send(to));
            }
        } else {
            for to in reply.forward_to.iter().cloned() {
                if !send(to).await {
                    break;
                }
            }
        }
    }

    async fn dead_letter(&self, binding: &str, request: InvokeRequest) -> Result<(), String> {
        let Some(runtime) = self.0.upgrade() else {
            return Err("the runtime has stopped".to_owned());
        };
        runtime
            .invoke(binding, request)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn component_error(
    component: &Component,
    field: Option<&str>,
    message: impl Into<String>,
) -> LoadError {
    LoadError {
        file: component.file.clone(),
        line: Some(component.line),
        column: None,
        component: Some(component.name.clone()),
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

fn config_error(component: &Component, error: bindery_core::ConfigError) -> LoadError {
    component_error(
        component,
        Some(&format!("spec.metadata.{}", error.field)),
        error.message,
    )
}
