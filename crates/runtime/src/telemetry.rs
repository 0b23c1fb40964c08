//! Telemetry as typed events. Each event is one struct that logs (when worth a line) and updates
//! the metrics together, so a log line and its counter can never disagree. The runtime records;
//! the API crate renders what [`Telemetry::snapshot`] returns in Prometheus' text format under
//! daprd's metric names.
//!
//! Label cardinality is bounded by construction: `component` is always a configured component
//! name (an output call is recorded only once the binding was found), `operation` is always one
//! the component declares (an unknown one is rejected before it is recorded), `success` and
//! `direction` are closed sets.
//!
//! The same struct keeps each component's health (failed to initialise under `ignoreErrors`,
//! input stopped with an error), which the metadata and health endpoints report.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bindery_core::{BindingDescriptor, BindingError};
use parking_lot::RwLock;

use crate::state::ReloadSummary;

/// daprd's latency histogram bucket bounds, in milliseconds (`defaultLatencyDistribution`).
pub const LATENCY_BUCKETS_MS: [f64; 34] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 30.0, 40.0, 50.0, 65.0, 80.0,
    100.0, 130.0, 160.0, 200.0, 250.0, 300.0, 400.0, 500.0, 650.0, 800.0, 1_000.0, 2_000.0,
    5_000.0, 10_000.0, 20_000.0, 50_000.0, 100_000.0,
];

/// Which side of a binding an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// A latency histogram with daprd's buckets; lock-free to record.
#[derive(Debug)]
pub struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    /// Sum of observations in nanoseconds.
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1_000.0;
        let slot = LATENCY_BUCKETS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = self
            .buckets
            .iter()
            .take(LATENCY_BUCKETS_MS.len())
            .map(|b| {
                cumulative += b.load(Ordering::Relaxed);
                cumulative
            })
            .collect();
        HistogramSnapshot {
            cumulative: buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_ms: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1_000_000.0,
        }
    }
}

/// One histogram as read at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts for each bound of [`LATENCY_BUCKETS_MS`] (`+Inf` is `count`).
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_ms: f64,
}

/// A metric family: one value per label set, created on first use.
struct Family<K, V> {
    values: RwLock<HashMap<K, Arc<V>>>,
}

impl<K: Eq + Hash + Clone + Ord, V: Default> Family<K, V> {
    fn new() -> Self {
        Self {
            values: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Arc<V> {
        if let Some(v) = self.values.read().get(key) {
            return v.clone();
        }
        self.values.write().entry(key.clone()).or_default().clone()
    }

    fn sorted(&self) -> Vec<(K, Arc<V>)> {
        let mut out: Vec<(K, Arc<V>)> = self
            .values
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Why a component is not (fully) running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentFailure {
    pub spec_type: String,
    pub version: String,
    pub phase: FailurePhase,
    /// The cause, as logged.
    pub error: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePhase {
    /// Initialisation failed and `ignoreErrors` let the sidecar start without it.
    Init,
    /// The input binding stopped reading with an error.
    Input,
}

/// Everything the metrics endpoint shows, read at once.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    pub app_id: String,
    pub namespace: String,
    /// (component, operation, success)
    pub output: Vec<((String, &'static str, bool), HistogramSnapshot)>,
    /// (component, success)
    pub input: Vec<((String, bool), HistogramSnapshot)>,
    pub in_flight: Vec<(String, i64)>,
    pub delivery_failures: Vec<(String, u64)>,
    pub retries: Vec<((String, Direction), u64)>,
    pub dead_letters: Vec<(String, u64)>,
    pub reconnects: Vec<(String, u64)>,
    /// (outcome, count): `applied`, `rejected`, `failed`.
    pub reloads: Vec<(&'static str, u64)>,
    /// Components currently failed (1 per failed component).
    pub failed_components: Vec<String>,
}

/// The runtime's telemetry sink: metrics and component health. One per runtime.
pub struct Telemetry {
    app_id: String,
    namespace: String,
    output: Family<(String, &'static str, bool), Histogram>,
    input: Family<(String, bool), Histogram>,
    in_flight: Family<String, AtomicI64>,
    delivery_failures: Family<String, AtomicU64>,
    retries: Family<(String, Direction), AtomicU64>,
    dead_letters: Family<String, AtomicU64>,
    reconnects: Family<String, AtomicU64>,
    reloads: Family<&'static str, AtomicU64>,
    failures: RwLock<BTreeMap<String, ComponentFailure>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// Something that happened, worth a metric and maybe a log line.
pub trait InternalEvent {
    fn emit(self, telemetry: &Telemetry);
}

impl Telemetry {
    pub fn new(app_id: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            namespace: namespace.into(),
            output: Family::new(),
            input: Family::new(),
            in_flight: Family::new(),
            delivery_failures: Family::new(),
            retries: Family::new(),
            dead_letters: Family::new(),
            reconnects: Family::new(),
            reloads: Family::new(),
            failures: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn emit(&self, event: impl InternalEvent) {
        event.emit(self);
    }

    /// Starts timing one output call. `operation` has already been checked against the
    /// descriptor; the label is the descriptor's own spelling.
    pub fn output_call<'a>(
        &'a self,
        component: &'a str,
        descriptor: &BindingDescriptor,
        operation: &str,
    ) -> OutputCall<'a> {
        let operation = descriptor
            .operations
            .iter()
            .find(|o| o.name == operation)
            .map_or("unknown", |o| o.name);
        OutputCall {
            telemetry: self,
            component,
            operation,
            started: Instant::now(),
        }
    }

    /// Starts timing one delivery to the app; counts it in flight until finished or dropped.
    pub fn delivery<'a>(&'a self, component: &'a str) -> DeliveryCall<'a> {
        let gauge = self.in_flight.get(&component.to_owned());
        gauge.fetch_add(1, Ordering::Relaxed);
        DeliveryCall {
            telemetry: self,
            component,
            gauge,
            started: Instant::now(),
            finished: false,
        }
    }

    /// One retry of a delivery (input) or an output call, by a resiliency policy.
    pub fn retry(&self, component: &str, direction: Direction) {
        self.emit(Retried {
            component,
            direction,
        });
    }

    /// An event given up on and sent to a dead-letter target.
    pub fn dead_letter(&self, component: &str) {
        self.emit(DeadLettered { component });
    }

    /// A component lost its connection and reconnected.
    pub fn reconnect(&self, component: &str) {
        self.emit(Reconnected { component });
    }

    /// The component is (again) installed and running: any failure it had is forgotten.
    pub fn component_running(&self, component: &str) {
        self.failures.write().remove(component);
    }

    /// Components that failed, by name.
    pub fn failures(&self) -> BTreeMap<String, ComponentFailure> {
        self.failures.read().clone()
    }

    /// The first component whose failure makes the sidecar not ready: an input binding that
    /// stopped with an error. (A component that failed to initialise without `ignoreErrors`
    /// stops start-up; one with `ignoreErrors` was explicitly allowed to fail.)
    pub fn unready_component(&self) -> Option<(String, ComponentFailure)> {
        self.failures
            .read()
            .iter()
            .find(|(_, f)| f.phase == FailurePhase::Input)
            .map(|(n, f)| (n.clone(), f.clone()))
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let counters = |family: &Family<String, AtomicU64>| {
            family
                .sorted()
                .into_iter()
                .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
                .collect()
        };
        MetricsSnapshot {
            app_id: self.app_id.clone(),
            namespace: self.namespace.clone(),
            output: self
                .output
                .sorted()
                .into_iter()
                .map(|(k, h)| (k, h.snapshot()))
                .collect(),
            input: self
                .input
                .sorted()
                .into_iter()
                .map(|(k, h)| (k, h.snapshot()))
                .collect(),
            in_flight: self
                .in_flight
                .sorted()
                .into_iter()
                .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
                .collect(),
            delivery_failures: counters(&self.delivery_failures),
            retries: self
                .retries
                .sorted()
                .into_iter()
                .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
                .collect(),
            dead_letters: counters(&self.dead_letters),
            reconnects: counters(&self.reconnects),
            reloads: self
                .reloads
                .sorted()
                .into_iter()
                .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
                .collect(),
            failed_components: self.failures.read().keys().cloned().collect(),
        }
    }
}

/// An output call being timed; [`OutputCall::finish`] records it.
#[must_use]
pub struct OutputCall<'a> {
    telemetry: &'a Telemetry,
    component: &'a str,
    operation: &'static str,
    started: Instant,
}

impl OutputCall<'_> {
    /// Records the outcome and hands the result back unchanged.
    pub fn finish<T>(self, result: Result<T, BindingError>) -> Result<T, BindingError> {
        self.telemetry.emit(OutputInvoked {
            component: self.component,
            operation: self.operation,
            elapsed: self.started.elapsed(),
            error: result.as_ref().err(),
        });
        result
    }
}

/// A delivery being timed. Dropping it unfinished (the delivery future was cancelled) only
/// takes it out of the in-flight gauge.
#[must_use]
pub struct DeliveryCall<'a> {
    telemetry: &'a Telemetry,
    component: &'a str,
    gauge: Arc<AtomicI64>,
    started: Instant,
    finished: bool,
}

impl DeliveryCall<'_> {
    /// Records the app's verdict: `None` = accepted.
    pub fn finish(mut self, error: Option<&dyn Display>) {
        self.finished = true;
        self.telemetry.emit(EventDelivered {
            component: self.component,
            elapsed: self.started.elapsed(),
            error,
        });
    }
}

impl Drop for DeliveryCall<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
        if !self.finished {
            tracing::debug!(binding = %self.component, "A delivery was cancelled before the app answered.");
        }
    }
}

/// An output binding call finished.
pub struct OutputInvoked<'a> {
    pub component: &'a str,
    pub operation: &'static str,
    pub elapsed: Duration,
    pub error: Option<&'a BindingError>,
}

impl InternalEvent for OutputInvoked<'_> {
    fn emit(self, t: &Telemetry) {
        let success = self.error.is_none();
        t.output
            .get(&(self.component.to_owned(), self.operation, success))
            .observe(self.elapsed);
        if let Some(error) = self.error {
            tracing::warn!(component = %self.component, operation = %self.operation,
                cause = %redact(&error.to_string()), "Output binding call failed.");
        }
    }
}

/// The app answered (or failed to answer) one input event.
pub struct EventDelivered<'a> {
    pub component: &'a str,
    pub elapsed: Duration,
    pub error: Option<&'a dyn Display>,
}

impl InternalEvent for EventDelivered<'_> {
    fn emit(self, t: &Telemetry) {
        let success = self.error.is_none();
        t.input
            .get(&(self.component.to_owned(), success))
            .observe(self.elapsed);
        if let Some(error) = self.error {
            t.delivery_failures
                .get(&self.component.to_owned())
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(component = %self.component, cause = %redact(&error.to_string()),
                "The app did not accept an event.");
        }
    }
}

/// A resiliency policy retried a call or a delivery.
pub struct Retried<'a> {
    pub component: &'a str,
    pub direction: Direction,
}

impl InternalEvent for Retried<'_> {
    fn emit(self, t: &Telemetry) {
        t.retries
            .get(&(self.component.to_owned(), self.direction))
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(component = %self.component, direction = self.direction.as_str(), "Retrying.");
    }
}

/// An event went to a dead-letter target.
pub struct DeadLettered<'a> {
    pub component: &'a str,
}

impl InternalEvent for DeadLettered<'_> {
    fn emit(self, t: &Telemetry) {
        t.dead_letters
            .get(&self.component.to_owned())
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// A component re-established its connection.
pub struct Reconnected<'a> {
    pub component: &'a str,
}

impl InternalEvent for Reconnected<'_> {
    fn emit(self, t: &Telemetry) {
        t.reconnects
            .get(&self.component.to_owned())
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// A component failed to initialise and `ignoreErrors` let start-up go on.
pub struct InitFailedIgnored<'a> {
    pub component: &'a str,
    pub spec_type: &'a str,
    pub version: &'a str,
    pub error: &'a dyn Display,
}

impl InternalEvent for InitFailedIgnored<'_> {
    fn emit(self, t: &Telemetry) {
        let error = redact(&self.error.to_string());
        tracing::warn!(component = %self.component, r#type = %self.spec_type, error = %error,
            "Component failed to initialise; continuing because ignoreErrors is set.");
        t.failures.write().insert(
            self.component.to_owned(),
            ComponentFailure {
                spec_type: self.spec_type.to_owned(),
                version: self.version.to_owned(),
                phase: FailurePhase::Init,
                error,
            },
        );
    }
}

/// An input binding's read loop ended with an error: it reads no more until reloaded.
pub struct InputStopped<'a> {
    pub component: &'a str,
    pub error: &'a BindingError,
}

impl InternalEvent for InputStopped<'_> {
    fn emit(self, t: &Telemetry) {
        let error = redact(&self.error.to_string());
        tracing::error!(component = %self.component, cause = %error,
            "Input binding stopped with an error; the sidecar reports not ready until it is reloaded.");
        let mut failures = t.failures.write();
        let (spec_type, version) = failures
            .get(self.component)
            .map(|f| (f.spec_type.clone(), f.version.clone()))
            .unwrap_or_default();
        failures.insert(
            self.component.to_owned(),
            ComponentFailure {
                spec_type,
                version,
                phase: FailurePhase::Input,
                error,
            },
        );
    }
}

/// A reload pass finished (or could not read the resources at all).
pub struct Reloaded<'a> {
    /// `None` when the resources could not be loaded.
    pub summary: Option<&'a ReloadSummary>,
}

impl InternalEvent for Reloaded<'_> {
    fn emit(self, t: &Telemetry) {
        let Some(summary) = self.summary else {
            t.reloads.get(&"failed").fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut failures = t.failures.write();
        for name in &summary.removed {
            failures.remove(name);
        }
        drop(failures);
        if !summary.added.is_empty() || !summary.updated.is_empty() || !summary.removed.is_empty() {
            t.reloads.get(&"applied").fetch_add(1, Ordering::Relaxed);
        }
        if !summary.rejected.is_empty() {
            t.reloads.get(&"rejected").fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Blanks the password of any `scheme://user:password@host` in a message, so a driver error
/// that echoes a connection URL cannot leak it into logs or health output.
pub fn redact(message: &str) -> String {
    bindery_core::redact::redact_credentials(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_uses_daprd_buckets_cumulatively() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(7));
        h.observe(Duration::from_secs(200));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative[0], 1, "≤1ms");
        assert_eq!(s.cumulative[5], 1, "≤6ms");
        assert_eq!(s.cumulative[6], 2, "≤8ms");
        assert_eq!(*s.cumulative.last().unwrap(), 2, "≤100s");
        assert!((s.sum_ms - 200_007.5).abs() < 0.01, "{}", s.sum_ms);
    }

    #[test]
    fn in_flight_gauge_goes_back_down_even_when_cancelled() {
        let t = Telemetry::new("a", "");
        let d = t.delivery("in");
        assert_eq!(t.snapshot().in_flight, vec![("in".to_owned(), 1)]);
        drop(d);
        t.delivery("in").finish(Some(&"boom"));
        let s = t.snapshot();
        assert_eq!(s.in_flight, vec![("in".to_owned(), 0)]);
        assert_eq!(s.delivery_failures, vec![("in".to_owned(), 1)]);
        assert_eq!(s.input[0].0, ("in".to_owned(), false));
    }

    #[test]
    fn health_follows_input_failures_and_reloads() {
        let t = Telemetry::new("a", "");
        t.emit(InitFailedIgnored {
            component: "opt",
            spec_type: "bindings.cron",
            version: "v1",
            error: &"bad schedule",
        });
        assert!(t.unready_component().is_none(), "ignoreErrors keeps ready");
        let error = BindingError::unavailable("connection lost");
        t.emit(InputStopped {
            component: "in",
            error: &error,
        });
        let (name, failure) = t.unready_component().unwrap();
        assert_eq!(name, "in");
        assert_eq!(failure.error, "connection lost");
        t.component_running("in");
        assert!(t.unready_component().is_none());
        t.emit(Reloaded {
            summary: Some(&ReloadSummary {
                removed: vec!["opt".to_owned()],
                ..Default::default()
            }),
        });
        assert!(t.failures().is_empty());
        assert_eq!(t.snapshot().reloads, vec![("applied", 1)]);
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact("dial amqp://guest:secret@host:5672/vh failed; also redis://:pw@r:6379"),
            "dial amqp://guest:***@host:5672/vh failed; also redis://:***@r:6379"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("http://host/path"), "http://host/path");
    }
}
