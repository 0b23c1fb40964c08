//! Binding-level tests: build a component through its descriptor, run an input binding against
//! a recording sink with scripted verdicts, skip (or fail under `CI`) when the server is not
//! there, and read Dapr's corpus of component files.
//!
//! ```ignore
//! let out = binding::output(&DESCRIPTOR, "q", &[("host", &url)]).await.expect("build");
//! let sink = RecordingSink::refusing(2).shared();
//! let mut run = Running::start("q", binding::input(&DESCRIPTOR, "q", &p).await?, sink);
//! assert_eq!(&run.next().await.data[..], b"hello");
//! run.stop().await;
//! ```

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, Delivery, DeliveryError, EventSink,
    InputBinding, InputContext, InputEvent, InvokeRequest, InvokeResponse, OutputBinding,
    Properties,
};
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use bindery_core::testing::{CorpusComponent, corpus_components, corpus_dir, corpus_files};

/// The app id every context built here carries.
pub const APP_ID: &str = "app";

/// Component metadata from pairs; a later pair overrides an earlier one with the same key, so
/// `props(&[defaults, overrides].concat())` works.
pub fn props(pairs: &[(&str, &str)]) -> Properties {
    Properties::from_pairs(pairs.iter().copied())
}

/// What the runtime hands a builder, not yet decoded: building decodes, so a decode error comes
/// back as the binding's own build error.
pub fn context(name: &str, properties: Properties) -> BuildContext {
    BuildContext::new(name, properties, APP_ID)
}

/// Builds `descriptor`'s output binding from `pairs`.
pub async fn output(
    descriptor: &BindingDescriptor,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<Box<dyn OutputBinding>, BindingError> {
    output_from(descriptor, name, props(pairs)).await
}

/// Builds `descriptor`'s output binding from `properties`.
pub async fn output_from(
    descriptor: &BindingDescriptor,
    name: &str,
    properties: Properties,
) -> Result<Box<dyn OutputBinding>, BindingError> {
    let build = descriptor
        .build_output
        .unwrap_or_else(|| panic!("{} has no output binding", descriptor.type_name));
    build(context(name, properties)).await
}

/// Builds `descriptor`'s input binding from `pairs`.
pub async fn input(
    descriptor: &BindingDescriptor,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<Box<dyn InputBinding>, BindingError> {
    input_from(descriptor, name, props(pairs)).await
}

/// Builds `descriptor`'s input binding from `properties`.
pub async fn input_from(
    descriptor: &BindingDescriptor,
    name: &str,
    properties: Properties,
) -> Result<Box<dyn InputBinding>, BindingError> {
    let build = descriptor
        .build_input
        .unwrap_or_else(|| panic!("{} has no input binding", descriptor.type_name));
    build(context(name, properties)).await
}

/// An output-binding call.
pub fn request(
    operation: &str,
    data: impl AsRef<[u8]>,
    metadata: &[(&str, &str)],
) -> InvokeRequest {
    InvokeRequest {
        operation: operation.to_owned(),
        data: Bytes::copy_from_slice(data.as_ref()),
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A `create` call.
pub fn create(data: impl AsRef<[u8]>, metadata: &[(&str, &str)]) -> InvokeRequest {
    request("create", data, metadata)
}

/// A SQL bindings' call: `sql` (when not empty) and `params` (when given) as metadata.
pub fn sql_request(operation: &str, sql: &str, params: Option<&str>) -> InvokeRequest {
    let mut metadata = Vec::new();
    if !sql.is_empty() {
        metadata.push(("sql", sql));
    }
    if let Some(p) = params {
        metadata.push(("params", p));
    }
    request(operation, "", &metadata)
}

/// Runs one SQL call that must succeed with an answer (else a panic naming it).
pub async fn sql_call(
    binding: &dyn OutputBinding,
    operation: &str,
    sql: &str,
    params: Option<&str>,
) -> InvokeResponse {
    binding
        .invoke(sql_request(operation, sql, params))
        .await
        .unwrap_or_else(|e| panic!("{operation} {sql}: {e}"))
        .expect("a response")
}

/// `Some(value)` when `result` is `Ok`; otherwise `None` after printing `SKIP: …` outside CI,
/// and a panic under `CI`. For "build against the server, or skip".
pub fn server_or_skip<T, E: Display>(result: Result<T, E>, what: &str) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            crate::require(false, &format!("{what} ({e})"));
            None
        }
    }
}

/// Whether something accepts TCP connections on `addr` within 2 s; `false` after printing
/// `SKIP: …` outside CI, a panic under `CI`.
pub async fn tcp_or_skip(addr: &str, what: &str) -> bool {
    let connect =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
    crate::require(
        connect.is_ok_and(|c| c.is_ok()),
        &format!("{what} at {addr}"),
    )
}

/// How the recording app answers: `verdict(event, attempt)` where `attempt` counts the
/// deliveries of the same payload so far (1 for the first). `true` accepts.
pub type Verdict = Arc<dyn Fn(&InputEvent, usize) -> bool + Send + Sync>;

/// An [`EventSink`] standing in for the app: records every delivery attempt (before answering),
/// waits `delay`, then answers with its verdict; keeps the accepted events apart.
pub struct RecordingSink {
    attempts: watch::Sender<Vec<InputEvent>>,
    accepted: Mutex<Vec<InputEvent>>,
    verdict: Mutex<Verdict>,
    delay: Duration,
    /// Deliveries waiting for their verdict now, and the most seen at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl RecordingSink {
    /// Answers every delivery with `verdict`.
    pub fn with_verdict(
        verdict: impl Fn(&InputEvent, usize) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            attempts: watch::Sender::new(Vec::new()),
            accepted: Mutex::new(Vec::new()),
            verdict: Mutex::new(Arc::new(verdict)),
            delay: Duration::ZERO,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// Accepts everything.
    pub fn accepting() -> Self {
        Self::with_verdict(|_, _| true)
    }

    /// Refuses the first `n` deliveries (whatever the event), then accepts.
    pub fn refusing(n: usize) -> Self {
        let left = AtomicUsize::new(n);
        Self::with_verdict(move |_, _| {
            left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        })
    }

    /// Refuses the first delivery of the event whose payload is `payload`; accepts every other
    /// delivery (for "a refused event is redelivered, the others are not").
    pub fn refusing_first_of(payload: &str) -> Self {
        let payload = payload.as_bytes().to_vec();
        Self::with_verdict(move |event, attempt| event.data[..] != payload[..] || attempt > 1)
    }

    /// Asserts the outcome of a run against [`RecordingSink::refusing_first_of`]`(refused)`:
    /// every payload of `sent` was accepted exactly once, `refused` was attempted twice and
    /// every other payload once, and nothing else arrived.
    pub fn assert_each_settled_once(&self, sent: &[String], refused: &str) {
        let mut accepted = self.accepted_payloads();
        accepted.sort();
        let mut expected = sent.to_vec();
        expected.sort();
        assert_eq!(accepted, expected, "every event accepted exactly once");
        let attempts = self.attempted_payloads();
        for payload in sent {
            let n = attempts.iter().filter(|p| *p == payload).count();
            let want = if payload == refused { 2 } else { 1 };
            assert_eq!(n, want, "deliveries of {payload:?}");
        }
        assert_eq!(attempts.len(), sent.len() + 1, "no other delivery");
    }

    /// Refuses everything.
    pub fn refusing_all() -> Self {
        Self::with_verdict(|_, _| false)
    }

    /// Refuses each delivery with probability `rate` (0.0 to 1.0).
    pub fn fail_rate(rate: f64) -> Self {
        Self::with_verdict(move |_, _| rand::random::<f64>() >= rate)
    }

    /// Takes `delay` over each delivery (a slow app).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// Answers from now on with `verdict`.
    pub fn set_verdict(
        &self,
        verdict: impl Fn(&InputEvent, usize) -> bool + Send + Sync + 'static,
    ) {
        *self.verdict.lock() = Arc::new(verdict);
    }

    /// The most deliveries that waited for their verdict at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every delivery attempt so far, in order.
    pub fn events(&self) -> Vec<InputEvent> {
        self.attempts.borrow().clone()
    }

    /// The events the sink accepted, in order.
    pub fn accepted(&self) -> Vec<InputEvent> {
        self.accepted.lock().clone()
    }

    /// The payloads of every attempt, as text.
    pub fn attempted_payloads(&self) -> Vec<String> {
        texts(&self.events())
    }

    /// The payloads of the accepted events, as text.
    pub fn accepted_payloads(&self) -> Vec<String> {
        texts(&self.accepted())
    }

    /// Waits until at least `n` attempts were made, up to `timeout`; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Option<Vec<InputEvent>> {
        let mut rx = self.attempts.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|all| all.len() >= n))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|all| all.clone())
    }

    fn watch(&self) -> watch::Receiver<Vec<InputEvent>> {
        self.attempts.subscribe()
    }
}

fn texts(events: &[InputEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect()
}

#[async_trait]
impl EventSink for RecordingSink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let mut attempt = 0;
        self.attempts.send_modify(|all| {
            all.push(event.clone());
            attempt = all.iter().filter(|e| e.data == event.data).count();
        });
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let verdict = self.verdict.lock().clone();
        if verdict(&event, attempt) {
            self.accepted.lock().push(event);
            Ok(Bytes::new())
        } else {
            Err(DeliveryError::new("app refused the event"))
        }
    }
}

/// An input binding running on its own task against a [`RecordingSink`]. Dropping it cancels
/// the binding without waiting.
pub struct Running {
    sink: Arc<RecordingSink>,
    events: watch::Receiver<Vec<InputEvent>>,
    seen: usize,
    token: CancellationToken,
    task: Option<JoinHandle<Result<(), BindingError>>>,
}

impl Running {
    /// Spawns `binding.run` with an [`InputContext`] named `name` delivering to `sink`.
    pub fn start(name: &str, binding: Box<dyn InputBinding>, sink: Arc<RecordingSink>) -> Self {
        Self::start_with(name, binding, sink, None)
    }

    /// [`Running::start`] with the binding's `maxConcurrentDeliveries` set to `limit`.
    pub fn start_with(
        name: &str,
        binding: Box<dyn InputBinding>,
        sink: Arc<RecordingSink>,
        max_concurrent_deliveries: Option<usize>,
    ) -> Self {
        let token = CancellationToken::new();
        let cx = InputContext::new(name, sink.clone(), token.clone())
            .with_max_concurrent_deliveries(max_concurrent_deliveries);
        let task = tokio::spawn(binding.run(cx));
        Self {
            events: sink.watch(),
            sink,
            seen: 0,
            token,
            task: Some(task),
        }
    }

    pub fn sink(&self) -> &Arc<RecordingSink> {
        &self.sink
    }

    /// Whether `run` has returned (or panicked) already.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The next delivery attempt this handle has not returned yet, within 10 s (else a panic).
    pub async fn next(&mut self) -> InputEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10s")
    }

    /// The next delivery attempt not returned yet, or `None` when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<InputEvent> {
        let seen = self.seen;
        let all = tokio::time::timeout(wait, self.events.wait_for(|all| all.len() > seen))
            .await
            .ok()?
            .expect("the sink outlives its receivers");
        let event = all[seen].clone();
        drop(all);
        self.seen += 1;
        Some(event)
    }

    /// Every delivery attempt that arrived and was not returned yet, without waiting.
    pub fn drain(&mut self) -> Vec<InputEvent> {
        let all = self.events.borrow_and_update();
        let fresh = all[self.seen.min(all.len())..].to_vec();
        self.seen = all.len();
        fresh
    }

    /// True when no new delivery attempt arrives within `wait`.
    pub async fn quiet(&mut self, wait: Duration) -> bool {
        self.next_within(wait).await.is_none()
    }

    /// Cancels the shutdown token and waits (10 s at most) for `run` to return `Ok`.
    pub async fn stop(self) {
        self.stop_within(Duration::from_secs(10)).await;
    }

    /// [`Running::stop`] with another limit.
    pub async fn stop_within(mut self, limit: Duration) {
        self.token.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(limit, task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic")
            .expect("run returns Ok");
    }

    /// Cancels and waits up to `limit`, whatever `run` returns: `None` when it did not return
    /// in time or panicked.
    pub async fn cancel(mut self, limit: Duration) -> Option<Result<(), BindingError>> {
        self.token.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(limit, task).await.ok()?.ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
