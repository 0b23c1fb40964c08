//! Shared helpers for the Kafka tests: find (or start) the broker, create unique topics, and
//! build and run the binding through the test kit with the broker's address filled in.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bindery_bindings::kafka::DESCRIPTOR;
use bindery_core::{OutputBinding, Properties};
use bindery_testkit::binding::{self, create};
pub use bindery_testkit::{RecordingSink, Running};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// How long an input may take to stop.
pub const STOP: Duration = Duration::from_secs(30);

static OWN_BROKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Points every helper here at `address` (a broker of the test's own) for the rest of the test
/// binary.
pub fn use_broker(address: String) {
    assert!(
        OWN_BROKER.set(address).is_ok(),
        "one broker per test binary"
    );
}

pub fn brokers() -> String {
    if let Some(own) = OWN_BROKER.get() {
        return own.clone();
    }
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
    bindery_testkit::require(
        false,
        &format!("kafka at {addr} (scripts/start-kafka.sh could not start it)"),
    )
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

/// The broker's address and `authType: none`, then `pairs`.
pub fn props(pairs: &[(&str, &str)]) -> Properties {
    let brokers = brokers();
    let base = [("brokers", brokers.as_str()), ("authType", "none")];
    binding::props(&[&base[..], pairs].concat())
}

pub async fn output(pairs: &[(&str, &str)]) -> Box<dyn OutputBinding> {
    binding::output_from(&DESCRIPTOR, "kafka-out", props(pairs))
        .await
        .unwrap_or_else(|e| panic!("build output: {e}"))
}

pub async fn start_input(name: &str, pairs: &[(&str, &str)], sink: Arc<RecordingSink>) -> Running {
    let input = binding::input_from(&DESCRIPTOR, name, props(pairs))
        .await
        .unwrap_or_else(|e| panic!("build input: {e}"));
    Running::start(name, input, sink)
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
    let response = out
        .invoke(create(data, metadata))
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
