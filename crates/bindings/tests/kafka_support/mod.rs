//! Shared helpers for the Kafka tests: find (or start) the broker, create unique topics, build
//! the binding through its descriptor, and record what the app saw.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bindery_bindings::kafka::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, DeliveryError, EventSink, InputContext, InputEvent, OutputBinding,
    Properties,
};
use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn reachable(addr: &str) -> bool {
    addr.split(',').any(|a| {
        a.to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .is_some_and(|sa| TcpStream::connect_timeout(&sa, Duration::from_secs(1)).is_ok())
    })
}

/// Makes sure a broker answers: starts the project's Tansu with scripts/start-kafka.sh when the
/// default local address is silent. Returns false (after printing SKIP) when there is none and
/// we are not under CI; panics under CI.
pub fn ensure_broker() -> bool {
    let addr = brokers();
    if reachable(&addr) {
        return true;
    }
    if std::env::var("KAFKA_BROKERS").is_err() {
        let script = repo_root().join("scripts/start-kafka.sh");
        let status = std::process::Command::new("bash").arg(&script).status();
        eprintln!("ran {}: {status:?}", script.display());
        if reachable(&addr) {
            return true;
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("kafka not reachable at {addr} (and scripts/start-kafka.sh could not start it)");
    }
    eprintln!("SKIP: kafka not reachable at {addr}");
    false
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client")
}

/// Creates a topic, retrying while the broker is still coming up.
pub async fn create_topic(name: &str, partitions: i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let admin = admin();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        match admin.create_topics([&topic], &opts).await {
            Ok(results) if results.iter().all(|r| r.is_ok()) => return,
            Ok(results) => {
                if results.iter().any(|r| {
                    matches!(
                        r,
                        Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
                    )
                }) {
                    return;
                }
                if Instant::now() > deadline {
                    panic!("creating topic {name}: {results:?}");
                }
            }
            Err(e) if Instant::now() > deadline => panic!("creating topic {name}: {e}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn delete_topic(name: &str) {
    let _ = admin().delete_topics(&[name], &AdminOptions::new()).await;
}

pub fn props(pairs: &[(&str, &str)]) -> Properties {
    let mut map: HashMap<String, String> = HashMap::from([
        ("brokers".to_owned(), brokers()),
        ("authType".to_owned(), "none".to_owned()),
    ]);
    for (k, v) in pairs {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Properties::new(map).expect("properties")
}

pub fn build_context(name: &str, properties: Properties) -> BuildContext {
    BuildContext::new(name, properties, "kafka-test")
}

pub async fn output(pairs: &[(&str, &str)]) -> Box<dyn OutputBinding> {
    (DESCRIPTOR.build_output.expect("output"))(build_context("kafka-out", props(pairs)))
        .await
        .unwrap_or_else(|e| panic!("build output: {e}"))
}

/// What the test app answers for one event.
pub type Verdict = Arc<dyn Fn(&InputEvent, usize) -> bool + Send + Sync>;

/// Records every delivery attempt and answers with `verdict(event, attempt_number)`.
pub struct Recorder {
    pub attempts: Mutex<Vec<InputEvent>>,
    pub accepted: Mutex<Vec<InputEvent>>,
    verdict: Mutex<Verdict>,
}

impl Recorder {
    pub fn new(verdict: Verdict) -> Arc<Self> {
        Arc::new(Self {
            attempts: Mutex::new(Vec::new()),
            accepted: Mutex::new(Vec::new()),
            verdict: Mutex::new(verdict),
        })
    }

    pub fn accept_all() -> Arc<Self> {
        Self::new(Arc::new(|_, _| true))
    }

    pub fn set_verdict(&self, verdict: Verdict) {
        *self.verdict.lock().unwrap() = verdict;
    }

    pub fn accepted_payloads(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|e| String::from_utf8_lossy(&e.data).into_owned())
            .collect()
    }

    pub fn attempted_payloads(&self) -> Vec<String> {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .map(|e| String::from_utf8_lossy(&e.data).into_owned())
            .collect()
    }
}

#[async_trait]
impl EventSink for Recorder {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            attempts.push(event.clone());
            attempts.iter().filter(|e| e.data == event.data).count()
        };
        let verdict = self.verdict.lock().unwrap().clone();
        if verdict(&event, attempt) {
            self.accepted.lock().unwrap().push(event);
            Ok(Bytes::new())
        } else {
            Err(DeliveryError::new("app refused the event"))
        }
    }
}

/// A running input binding.
pub struct Running {
    pub token: CancellationToken,
    pub handle: JoinHandle<Result<(), bindery_core::BindingError>>,
}

impl Running {
    pub async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("input stops within 30s")
            .expect("input task")
            .expect("input returns Ok");
    }
}

pub async fn start_input(name: &str, pairs: &[(&str, &str)], sink: Arc<Recorder>) -> Running {
    let binding = (DESCRIPTOR.build_input.expect("input"))(build_context(name, props(pairs)))
        .await
        .unwrap_or_else(|e| panic!("build input: {e}"));
    let token = CancellationToken::new();
    let cx = InputContext::new(name, sink, token.clone());
    let handle = tokio::spawn(binding.run(cx));
    Running { token, handle }
}

/// Waits until `check` holds, up to `within`.
pub async fn wait_until(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

/// Publishes one record through the binding.
pub async fn publish(out: &dyn OutputBinding, data: &str, metadata: &[(&str, &str)]) {
    let request = bindery_core::InvokeRequest {
        operation: "create".to_owned(),
        data: Bytes::from(data.to_owned()),
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let response = out
        .invoke(request)
        .await
        .unwrap_or_else(|e| panic!("create {data}: {e}"));
    assert!(
        response.is_none(),
        "kafka create answers nothing (HTTP 204)"
    );
}

/// Captures log lines (for checking what daprd would have logged).
#[derive(Clone, Default)]
pub struct LogCapture(pub Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// The process-wide capture (installed on first use).
    pub fn install() -> Self {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = Self::default();
                let writer = capture.clone();
                let subscriber = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .finish();
                let _ = tracing::subscriber::set_global_default(subscriber);
                capture
            })
            .clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Echo so a failing test shows the component's logs.
        let _ = std::io::stderr().write_all(buf);
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
