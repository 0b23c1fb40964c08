//! Network faults between bindery and its servers, through `bindery_testkit::faultproxy`:
//! a 30 s blackhole mid-stream, a half-open connection (the server side vanishes without a FIN),
//! every connection reset mid-stream (RST) and a slow link (200 ms each way), for RabbitMQ,
//! Mosquitto, NATS (JetStream), Redis, PostgreSQL, MariaDB and Kafka, and for the
//! emulator-backed `aws.sqs` and `aws.s3` (moto) and `azure.storagequeues` and
//! `azure.blobstorage` (Azurite), through the real binary.
//!
//! Each scenario runs one sidecar with a component `via` that reaches the server through the
//! proxy (input and output) and a component `direct` (output only) that writes to the same
//! queue, topic, subject, table or store straight to the server, so the stream goes on while
//! the link is broken; stores are written through both and read back through `direct`. It
//! reports `FAULTS <scenario>: sent=… delivered=… duplicated=… lost=…` plus
//! the bounds measured: when the input noticed, how long after the link's return it delivered
//! again, how long failed output calls took, when output succeeded again, and how long the
//! server itself took to answer `direct` then (calls the fault held back reach it at once).
//!
//! Kafka runs against a Tansu broker that advertises the fault
//! proxy's address (clients follow the advertised address, not the one they bootstrapped at),
//! and `direct` goes through a `tansu proxy` that advertises itself
//! ([`Instance::kafka_bypass`]).
//!
//! Scenarios wait most of the time, so each test runs one fault for every component at once:
//! `cargo test -p bindery --test faults_network_links -- --nocapture`. With
//! `BINDERY_FAULTS_DUMP=<folder>`, each scenario also writes its timeline there (every call,
//! then the sidecar's log).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bindery_testkit::azurite::{self, Azurite};
use bindery_testkit::faultproxy::FaultProxy;
use bindery_testkit::faults::{self, Counts, KillableApp};
use bindery_testkit::moto::{self, Moto};
use bindery_testkit::servers::{Instance, Kind};
use bindery_testkit::{Sidecar, resources};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

const BLACKHOLE: Duration = Duration::from_secs(30);
const BEFORE: Duration = Duration::from_secs(3);
/// Output calls through the broken link: one every second, each allowed this long.
const CALL_EVERY: Duration = Duration::from_secs(1);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// The bound: reconnect and succeed again within 5 s of the link's return (plus what
/// the server itself takes to answer then, see `server_busy`).
const RECOVERY: Duration = Duration::from_secs(5);

/// Each scenario runs against a server of its own (a throwaway instance on free ports, removed
/// when the scenario ends), so breaking links never disturbs the machine's shared servers.
fn server_kind(component: &str) -> Kind {
    match component {
        "rabbitmq" => Kind::RabbitMq,
        "mqtt3" => Kind::Mosquitto,
        "nats" => Kind::Nats,
        "redis" => Kind::Redis,
        "postgres" => Kind::Postgres,
        "mysql" => Kind::MariaDb,
        other => panic!("no server for {other}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Every packet dropped for [`BLACKHOLE`], then the link returns.
    Blackhole,
    /// Open connections forgotten without FIN or RST; new connections work at once.
    HalfOpen,
    /// 200 ms each way for the whole run.
    Slow,
    /// Every open connection reset (RST to both sides) mid-stream; new connections work at once.
    Cut,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Blackhole => "blackhole",
            Self::HalfOpen => "half-open",
            Self::Slow => "slow link",
            Self::Cut => "cut",
        }
    }
}

/// One component under test.
struct Setup {
    component: &'static str,
    /// `via` (through the proxy at the first address) and, for brokers, `direct` (straight to
    /// the server at the second).
    files: ComponentFiles,
    /// Has an input binding (`via`) delivering to the app.
    input: bool,
    /// Text the sidecar logs when the input notices a dead connection.
    lost_marker: &'static str,
    /// The body of output call `id`.
    body: Arc<dyn Fn(&str) -> Value + Send + Sync>,
    /// What reading back through `direct` finds, for outputs without an input.
    read_back: Option<ReadBack>,
    /// A table (SQL) or topic (Kafka) to create first.
    table: Option<String>,
    /// Text the sidecar must have logged by the end (the path the scenario is there to prove).
    must_log: Option<&'static str>,
}

/// Component files (name, text) for the proxy's address and the server's.
type ComponentFiles = Box<dyn Fn(SocketAddr, SocketAddr) -> Vec<(String, String)> + Send + Sync>;

type ReadBack = Box<
    dyn Fn(Arc<Sidecar>, Vec<String>) -> futures::future::BoxFuture<'static, Vec<String>>
        + Send
        + Sync,
>;

/// One output call as the caller saw it.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    started: Instant,
    took: Duration,
    error: Option<String>,
}

#[derive(Default)]
struct Timeline {
    fault_at: Option<Instant>,
    back_at: Option<Instant>,
    noticed_after: Option<Duration>,
    input_resumed_after: Option<Duration>,
    stop: bool,
}

async fn call(sidecar: &Sidecar, binding: &str, id: String, body: Value) -> Call {
    let started = Instant::now();
    let answer = sidecar
        .client
        .post(sidecar.url(&format!("/v1.0/bindings/{binding}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(CLIENT_TIMEOUT)
        .send()
        .await;
    let error = match answer {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!(
            "{}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        )),
        Err(e) => Some(format!("client: {e}")),
    };
    Call {
        id,
        started,
        took: started.elapsed(),
        error,
    }
}

/// Calls `binding` every `every` (without waiting for earlier calls) until the timeline stops.
async fn stream_calls(
    sidecar: Arc<Sidecar>,
    binding: &'static str,
    prefix: String,
    body: Arc<dyn Fn(&str) -> Value + Send + Sync>,
    every: Duration,
    timeline: Arc<Mutex<Timeline>>,
) -> Vec<Call> {
    let mut tasks = Vec::new();
    let mut i = 0usize;
    while !timeline.lock().unwrap().stop {
        let id = format!("{prefix}-{i:06}");
        i += 1;
        let sidecar = sidecar.clone();
        let payload = body(&id);
        tasks.push(tokio::spawn(async move {
            call(&sidecar, binding, id, payload).await
        }));
        tokio::time::sleep(every).await;
    }
    let mut calls = Vec::new();
    for t in tasks {
        calls.push(t.await.expect("call task"));
    }
    calls
}

fn accepted(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.error.is_none())
        .map(|c| c.id.clone())
        .collect()
}

/// Breaks the link per `fault`, watching the log for `marker` and the app for deliveries.
async fn chaos(
    fault: Fault,
    proxy: Arc<FaultProxy>,
    sidecar: Arc<Sidecar>,
    app: Option<Arc<KillableApp>>,
    marker: &'static str,
    timeline: Arc<Mutex<Timeline>>,
) {
    tokio::time::sleep(BEFORE).await;
    let watch = Watch {
        sidecar: &sidecar,
        marker,
        before: sidecar.output().matches(marker).count(),
        since: Instant::now(),
        timeline: &timeline,
    };
    timeline.lock().unwrap().fault_at = Some(watch.since);
    let back_at = match fault {
        Fault::Blackhole => {
            proxy.blackhole();
            watch.run(BLACKHOLE, false).await;
            proxy.pass();
            Instant::now()
        }
        Fault::HalfOpen => {
            let forgotten = proxy.half_open();
            assert!(forgotten > 0, "no connection through the proxy to forget");
            // The link itself is fine: recovery counts from the fault, once it was noticed.
            watch.run(BLACKHOLE + RECOVERY, true).await;
            watch.since
        }
        Fault::Slow => Instant::now(),
        Fault::Cut => {
            let reset = proxy.cut();
            assert!(reset > 0, "no connection through the proxy to reset");
            Instant::now()
        }
    };
    timeline.lock().unwrap().back_at = Some(back_at);
    if let Some(app) = app {
        let before = app.accepted().len();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if app.accepted().len() > before {
                timeline.lock().unwrap().input_resumed_after = Some(back_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Calls go on for a while after the link is back (after the dead connection was noticed,
    // for a half-open one), so recovery is seen.
    let after = Duration::from_secs(8);
    match fault {
        Fault::HalfOpen => tokio::time::sleep(after).await,
        _ => tokio::time::sleep(after.saturating_sub(back_at.elapsed())).await,
    }
    timeline.lock().unwrap().stop = true;
}

/// Watches the sidecar's log for a new `marker` line (an input noticing the dead link).
struct Watch<'a> {
    sidecar: &'a Sidecar,
    marker: &'static str,
    before: usize,
    since: Instant,
    timeline: &'a Mutex<Timeline>,
}

impl Watch<'_> {
    /// Polls for up to `limit` from the fault, or until noticed when `until_noticed`.
    async fn run(&self, limit: Duration, until_noticed: bool) {
        while self.since.elapsed() < limit {
            let noticed = self.timeline.lock().unwrap().noticed_after.is_some();
            if noticed && until_noticed {
                return;
            }
            if !noticed
                && !self.marker.is_empty()
                && self.sidecar.output().matches(self.marker).count() > self.before
            {
                self.timeline.lock().unwrap().noticed_after = Some(self.since.elapsed());
            }
            if self.marker.is_empty() && until_noticed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()))
}

/// A folder to write each scenario's timeline into (`<fault>-<component>.txt`): every call with
/// its start (seconds from the fault), duration and error, then the sidecar's whole log.
const DUMP: &str = "BINDERY_FAULTS_DUMP";

fn timeline_text<'a>(
    fault_at: Instant,
    back_at: Instant,
    calls: impl Iterator<Item = &'a Call>,
    sidecar: &Sidecar,
) -> String {
    let from_fault = |t: Instant| match t.checked_duration_since(fault_at) {
        Some(d) => d.as_secs_f64(),
        None => -fault_at.duration_since(t).as_secs_f64(),
    };
    let wall_clock = std::time::SystemTime::now() - fault_at.elapsed();
    let mut text = format!(
        "fault at {} (Unix seconds), link back at {:.3}\n",
        wall_clock
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        from_fault(back_at)
    );
    for c in calls {
        text.push_str(&format!(
            "call {} start={:.3} took={:.3} error={:?}\n",
            c.id,
            from_fault(c.started),
            c.took.as_secs_f64(),
            c.error.as_deref().unwrap_or("")
        ));
    }
    text.push_str(&sidecar.output());
    text
}

/// `proxy`: one already in front of the server (Kafka's, which the broker advertises), else a
/// new one towards `server`.
async fn run(fault: Fault, setup: Setup, server: SocketAddr, proxy: Option<FaultProxy>) {
    if !faults::require(FaultProxy::available(), "iptables (as root)")
        || !faults::require(KillableApp::python_available(), "python3")
    {
        return;
    }
    let scenario = format!("{} {}", fault.name(), setup.component);
    let proxy = Arc::new(match proxy {
        Some(proxy) => proxy,
        None => FaultProxy::start(server).await,
    });
    let upstream = proxy.upstream();
    if !faults::require(
        std::net::TcpStream::connect_timeout(&upstream, Duration::from_secs(1)).is_ok(),
        &format!("{} on {upstream}", setup.component),
    ) {
        return;
    }
    if fault == Fault::Slow {
        proxy.delay(Duration::from_millis(200));
    }
    let files = (setup.files)(proxy.addr(), server);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let dir = resources(&files);
    let app = Arc::new(KillableApp::start(APP, 0.0, 0));
    let sidecar = Arc::new(
        Sidecar::builder(BIN)
            .resources(dir.path())
            .app_port(app.port)
            .spawn()
            .await,
    );
    sidecar.wait_ready().await;
    if setup.input {
        // Subscribed before the stream starts (MQTT keeps nothing for a new subscriber):
        // warm-up messages until one arrives.
        let arrived = bindery_testkit::eventually(Duration::from_secs(20), || async {
            if app.accepted().iter().any(|b| b.contains("warmup")) {
                return Some(());
            }
            call(&sidecar, "direct", "warmup".into(), (setup.body)("warmup")).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            None
        })
        .await;
        assert!(
            arrived.is_some(),
            "the input never delivered the warm-up message"
        );
    }

    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let prefix = scenario.replace(' ', "-");
    let body = setup.body.clone();
    let via = stream_calls(
        sidecar.clone(),
        "via",
        format!("{prefix}-via"),
        body.clone(),
        CALL_EVERY / 4,
        timeline.clone(),
    );
    // Straight to the server the whole time: for an input, the stream it must deliver; for
    // every scenario, the server's own answer time while the link is broken and after.
    let direct = stream_calls(
        sidecar.clone(),
        "direct",
        format!("{prefix}-direct"),
        body.clone(),
        direct_every(fault, &setup),
        timeline.clone(),
    );
    let chaos = chaos(
        fault,
        proxy.clone(),
        sidecar.clone(),
        setup.input.then(|| app.clone()),
        setup.lost_marker,
        timeline.clone(),
    );
    let (via_calls, direct_calls, ()) = tokio::join!(via, direct, chaos);
    let log = faults::tail(&sidecar.output(), 60);

    let mut sent = accepted(&via_calls);
    sent.extend(accepted(&direct_calls));
    let attempted: Vec<String> = via_calls
        .iter()
        .chain(&direct_calls)
        .map(|c| c.id.clone())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = received(&setup, &app, &sidecar, &attempted).await;
    while Counts::of(&sent, &got).lost > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        got = received(&setup, &app, &sidecar, &attempted).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    got = received(&setup, &app, &sidecar, &attempted).await;
    let mut counts = Counts::of(&sent, &got);
    counts.unexpected = Counts::of(&attempted, &got).unexpected;

    let t = timeline.lock().unwrap();
    assert!(t.fault_at.is_some(), "fault injected");
    let back_at = t.back_at.expect("link back");
    let failed: Vec<&Call> = via_calls.iter().filter(|c| c.error.is_some()).collect();
    let slowest_failure = failed.iter().map(|c| c.took).max();
    // Calls made while the link was broken: none may wait for the link to return.
    let slowest_during_fault = via_calls
        .iter()
        .filter(|c| t.fault_at.is_some_and(|f| c.started >= f) && c.started < back_at)
        .map(|c| c.took)
        .max();
    let output_recovered_after = via_calls
        .iter()
        .filter(|c| c.error.is_none() && c.started >= back_at)
        .map(|c| c.started + c.took - back_at)
        .min();
    // The server's own answer time just after the link's return, on the path that bypasses
    // the proxy: calls held back by the fault (retrying until the link returns) all reach the
    // server at once, and the backlog slows every client of it, not only the one that
    // reconnected (Azurite answered direct calls in 0.8-1.1 s for 2 s after a blackhole at load
    // 10, against 20-70 ms before it). Reconnecting is what the bound is about.
    let server_busy = direct_calls
        .iter()
        .filter(|c| c.started >= back_at && c.started < back_at + RECOVERY)
        .map(|c| c.took)
        .max()
        .unwrap_or_default();
    let first_error = failed
        .first()
        .and_then(|c| c.error.clone())
        .unwrap_or_default();
    if let Some(dir) = std::env::var_os(DUMP) {
        let at = t.fault_at.expect("fault injected");
        let name = format!("{}-{}.txt", fault.name(), setup.component);
        let text = timeline_text(at, back_at, via_calls.iter().chain(&direct_calls), &sidecar);
        if let Err(e) = std::fs::write(std::path::Path::new(&dir).join(&name), text) {
            eprintln!("cannot write {name} into {DUMP}: {e}");
        }
    }
    faults::report(
        &format!("{} {}", fault.name(), setup.component),
        &counts,
        &format!(
            "noticed_after={} input_resumed_after={} output_failed={} output_slowest_failure={} output_slowest_during_fault={} output_recovered_after={} server_answer_after_back={} error={:?}",
            secs(t.noticed_after),
            secs(t.input_resumed_after),
            failed.len(),
            secs(slowest_failure),
            secs(slowest_during_fault),
            secs(output_recovered_after),
            secs(Some(server_busy)),
            first_error.chars().take(160).collect::<String>(),
        ),
    );
    assert!(sidecar.is_running(), "the sidecar kept running\n{log}");
    if let Some(text) = setup.must_log {
        assert!(
            sidecar.output().contains(text),
            "the sidecar never logged {text:?}\n{log}"
        );
    }
    let missing = Counts::missing(&sent, &got);
    assert_eq!(
        counts.lost,
        0,
        "accepted but never delivered (first 20): {:?}\n{log}",
        &missing[..missing.len().min(20)]
    );
    assert_eq!(counts.unexpected, 0, "arrivals nobody sent");
    match fault {
        Fault::Slow => {
            assert!(
                failed.is_empty(),
                "calls failed on a slow link: {first_error}\n{log}"
            );
        }
        Fault::Blackhole | Fault::HalfOpen | Fault::Cut => {
            // A reset is noticed at once by definition; only silent faults need the log line.
            if setup.input && fault != Fault::Cut {
                assert!(
                    t.noticed_after.is_some(),
                    "the input never noticed the dead link\n{log}"
                );
            }
            // No call hangs: each failed one answered well within the client's patience.
            let slowest = slowest_failure.max(slowest_during_fault);
            assert!(
                slowest.is_none_or(|d| d < Duration::from_secs(45)),
                "a call took {slowest:?}\n{log}"
            );
            if fault == Fault::Blackhole {
                assert!(
                    !failed.is_empty(),
                    "no call failed while the link was blackholed\n{log}"
                );
            }
            let recovered = output_recovered_after.expect("output never succeeded again");
            let bound = match fault {
                // Half-open: the link is fine; the dead connection must be noticed first.
                Fault::HalfOpen => BLACKHOLE + RECOVERY,
                _ => RECOVERY + server_busy,
            };
            assert!(
                recovered <= bound,
                "output recovered {recovered:?} after the link (the server's own answers took up to {server_busy:?} then)\n{log}"
            );
            if setup.input {
                let resumed = t.input_resumed_after.expect("input never resumed");
                assert!(resumed <= bound, "input resumed after {resumed:?}\n{log}");
            }
        }
    }
}

async fn received(
    setup: &Setup,
    app: &KillableApp,
    sidecar: &Arc<Sidecar>,
    attempted: &[String],
) -> Vec<String> {
    match &setup.read_back {
        Some(read) => read(sidecar.clone(), attempted.to_vec()).await,
        None => app
            .accepted()
            .iter()
            .map(|b| faults::unquote(b))
            .filter(|b| b != "warmup")
            .collect(),
    }
}

fn file(name: &str, ty: &str, metadata: &[(&str, &str)]) -> (String, String) {
    (
        format!("{name}.yaml"),
        faults::component(name, ty, metadata),
    )
}

fn create(id: &str) -> Value {
    json!({"operation": "create", "data": id})
}

// ---------------------------------------------------------------------------------------------
// The components.

fn rabbitmq() -> Setup {
    let queue = faults::unique("bindery-netfaults-");
    Setup {
        component: "rabbitmq",
        files: via_and_direct("rabbitmq", move |addr| {
            vec![
                ("host", format!("amqp://guest:guest@{addr}/%2f")),
                ("queueName", queue.clone()),
                ("durable", "true".into()),
                ("reconnectWaitInSeconds", "1".into()),
            ]
        }),
        input: true,
        lost_marker: "Lost the RabbitMQ consumer",
        body: Arc::new(create),
        read_back: None,
        table: None,
        must_log: None,
    }
}

fn mqtt3() -> Setup {
    let topic = faults::unique("bindery/netfaults/");
    let client = faults::unique("netfaults");
    Setup {
        component: "mqtt3",
        files: Box::new(move |via, server| {
            let md = |addr: SocketAddr, id: String| {
                vec![
                    ("url", format!("tcp://{addr}")),
                    ("topic", topic.clone()),
                    ("consumerID", id),
                    ("cleanSession", "false".into()),
                ]
            };
            let via_md = md(via, format!("{client}-via"));
            let mut direct_md = md(server, format!("{client}-direct"));
            direct_md.push(("direction", "output".into()));
            vec![
                file("via", "mqtt3", &borrow(&via_md)),
                file("direct", "mqtt3", &borrow(&direct_md)),
            ]
        }),
        input: true,
        lost_marker: "MQTT connection failed",
        body: Arc::new(create),
        read_back: None,
        table: None,
        must_log: None,
    }
}

fn nats() -> Setup {
    let name = faults::unique("netfaults");
    Setup {
        component: "nats",
        files: via_and_direct("nats", move |addr| {
            vec![
                ("natsURL", format!("nats://{addr}")),
                ("subject", format!("{name}.events")),
                ("jetStream", "true".into()),
                ("stream", name.clone()),
                ("createStream", "true".into()),
                ("durableName", name.clone()),
            ]
        }),
        input: true,
        lost_marker: "disconnected",
        body: Arc::new(create),
        read_back: None,
        table: None,
        must_log: None,
    }
}

fn borrow<'a>(md: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    md.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn redis() -> Setup {
    let prefix = faults::unique("netfaults:");
    let key_prefix = prefix.clone();
    Setup {
        component: "redis",
        files: Box::new(|via, server| {
            vec![
                file("via", "redis", &[("redisHost", &via.to_string())]),
                file("direct", "redis", &[("redisHost", &server.to_string())]),
            ]
        }),
        input: false,
        lost_marker: "",
        body: Arc::new(
            move |id| json!({"operation": "create", "data": id, "metadata": {"key": format!("{key_prefix}{id}"), "ttlInSeconds": "600"}}),
        ),
        read_back: Some(Box::new(move |sidecar, ids| {
            let prefix = prefix.clone();
            Box::pin(async move {
                let mut found = Vec::new();
                for id in ids {
                    let key = format!("{prefix}{id}");
                    let got = faults::invoke_json(
                        &sidecar,
                        "direct",
                        json!({"operation": "get", "metadata": {"key": key}}),
                    )
                    .await;
                    if let Ok(v) = got {
                        found.extend(faults::strings_in(&v).into_iter().filter(|s| !s.is_empty()));
                    }
                }
                found
            })
        })),
        table: None,
        must_log: None,
    }
}

fn sql_setup(
    component: &'static str,
    ty: &'static str,
    url_key: &'static str,
    url: fn(SocketAddr) -> String,
) -> Setup {
    let table = faults::unique("netfaults_");
    let insert_table = table.clone();
    let table_name = table.clone();
    Setup {
        component,
        files: Box::new(move |via, server| {
            vec![
                file("via", ty, &[(url_key, &url(via))]),
                file("direct", ty, &[(url_key, &url(server))]),
            ]
        }),
        input: false,
        lost_marker: "",
        body: Arc::new(
            move |id| json!({"operation": "exec", "metadata": {"sql": format!("INSERT INTO {insert_table} (id) VALUES ('{id}')")}}),
        ),
        read_back: Some(Box::new(move |sidecar, _| {
            let table = table.clone();
            Box::pin(async move {
                let sql = |s: String| json!({"operation": "query", "metadata": {"sql": s}});
                faults::invoke_json(&sidecar, "direct", sql(format!("SELECT id FROM {table}")))
                    .await
                    .map(|v| faults::strings_in(&v))
                    .unwrap_or_default()
            })
        })),
        table: Some(table_name),
        must_log: None,
    }
}

fn postgres() -> Setup {
    sql_setup("postgres", "postgres", "connectionString", |a| {
        format!(
            "host={} port={} user=postgres dbname=test",
            a.ip(),
            a.port()
        )
    })
}

fn mysql() -> Setup {
    sql_setup("mysql", "mysql", "url", |a| format!("root:@tcp({a})/test"))
}

/// Kafka: a client talks to the broker address the broker advertises, wherever it bootstrapped.
/// So Tansu advertises the fault proxy (started first, towards Tansu's port), and `direct`
/// bootstraps at a `tansu proxy` that advertises itself ([`Instance::kafka_bypass`]), so its
/// records reach the broker while the fault proxy is broken.
fn kafka() -> Setup {
    kafka_with(&[], None)
}

/// Kafka with `extra` metadata on `via`, and a line the sidecar must log.
fn kafka_with(
    extra: &'static [(&'static str, &'static str)],
    must_log: Option<&'static str>,
) -> Setup {
    let topic = faults::unique("bindery-netfaults-");
    let group = faults::unique("netfaults-");
    let table = Some(topic.clone());
    Setup {
        component: "kafka",
        files: Box::new(move |via, direct| {
            let mut via_md = vec![
                ("brokers", via.to_string()),
                ("topics", topic.clone()),
                ("consumerGroup", group.clone()),
                ("publishTopic", topic.clone()),
                ("initialOffset", "oldest".into()),
                ("authType", "none".into()),
            ];
            via_md.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            let direct_md = [
                ("brokers", direct.to_string()),
                ("publishTopic", topic.clone()),
                ("direction", "output".into()),
                ("authType", "none".into()),
            ];
            vec![
                file("via", "kafka", &borrow(&via_md)),
                file("direct", "kafka", &borrow(&direct_md)),
            ]
        }),
        input: true,
        lost_marker: "session timed out",
        body: Arc::new(create),
        read_back: None,
        table,
        must_log,
    }
}

/// Tansu advertising a fault proxy in front of it, its bypass, and the scenario's topic.
async fn with_kafka(setup: Setup, fault: Fault) {
    let port = bindery_testkit::free_port();
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let advertised = proxy.addr();
    let Some(broker) =
        tokio::task::block_in_place(|| Instance::start_kafka_advertising(port, advertised))
    else {
        return;
    };
    let bypass = tokio::task::block_in_place(|| broker.kafka_bypass());
    let direct: SocketAddr = bypass.address().parse().expect("bypass address");
    let topic = setup.table.as_deref().expect("the scenario's topic");
    create_kafka_topic(&bypass.address(), topic).await;
    run(fault, setup, direct, Some(proxy)).await;
    drop(bypass);
    drop(broker);
}

/// Creates `topic` with one partition (Tansu does not create topics on a produce).
async fn create_kafka_topic(brokers: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("kafka admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = bindery_testkit::eventually(Duration::from_secs(30), || async {
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
        match admin.create_topics([&new], &options).await {
            Ok(results) if results.iter().all(Result::is_ok) => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(created.is_some(), "create the Kafka topic {topic}");
}

/// SQL scenarios need their table first: created through a short-lived sidecar straight to
/// the server.
async fn with_table(setup: Setup, fault: Fault) {
    if setup.component == "kafka" {
        return with_kafka(setup, fault).await;
    }
    let Some((server, instance)) = own_server(setup.component).await else {
        return;
    };
    if let Some(table) = &setup.table {
        let files: Vec<(String, String)> = (setup.files)(server, server)
            .into_iter()
            .filter(|(name, _)| name.starts_with("direct"))
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let dir = resources(&files);
        let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
        let sql = format!("CREATE TABLE {table} (id varchar(64))");
        faults::invoke_json(
            &sidecar,
            "direct",
            json!({"operation": "exec", "metadata": {"sql": sql}}),
        )
        .await
        .expect("create table");
    }
    run(fault, setup, server, None).await;
    drop(instance);
}

/// What keeps a scenario's server running; dropping it stops the server.
type ServerGuard = Box<dyn Send>;

/// The scenario's own server for `component`: a private emulator for the emulator-backed
/// ones, else a throwaway instance. `None` when it cannot run here (SKIP, or a failure in CI).
async fn own_server(component: &str) -> Option<(SocketAddr, ServerGuard)> {
    if let Some(emulated) = emulator(component).await {
        return emulated;
    }
    let kind = server_kind(component);
    // Starting a server blocks (RabbitMQ takes seconds): keep the runtime's other tasks going.
    let instance = tokio::task::block_in_place(|| Instance::start(kind))?;
    let server = instance.address().parse().expect("server address");
    Some((server, Box::new(instance)))
}

/// How often `direct` writes while the link is broken. moto and Azurite slow down as a
/// queue fills (moto's SendMessage took 40-60 ms with a few hundred messages waiting on the
/// 2-vCPU VM, and a run at load 13-15 drained 231 of 260 messages within the minute), so
/// they get an eighth of the brokers' rate. Without an input, `direct` only probes the server.
fn direct_every(fault: Fault, setup: &Setup) -> Duration {
    match fault {
        Fault::Slow => Duration::from_millis(500),
        _ if emulated(setup.component) || !setup.input => Duration::from_millis(400),
        _ => Duration::from_millis(50),
    }
}

fn emulated(component: &str) -> bool {
    component.starts_with("aws.") || component.starts_with("azure.")
}

/// The queue, bucket and container of an emulator scenario: each scenario has an emulator of
/// its own, so the name need not be unique.
const EMULATED: &str = "netfaults";

/// For an emulator-backed component (else `None`): its own moto, with the queue or bucket
/// the component expects to find, or its own Azurite (the components create their queue and
/// container themselves), and the address of the service the component talks to.
async fn emulator(component: &str) -> Option<Option<(SocketAddr, ServerGuard)>> {
    let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
    match component {
        "aws.sqs" | "aws.s3" => {
            let Some(moto) = tokio::task::block_in_place(Moto::start) else {
                return Some(None);
            };
            if component == "aws.sqs" {
                // Visibility 10 s: a message whose receive answer the fault swallowed is back soon.
                moto.create_queue(EMULATED, 10).await;
            } else {
                moto.create_bucket(EMULATED).await;
            }
            Some(Some((local(moto.port()), Box::new(moto))))
        }
        "azure.storagequeues" | "azure.blobstorage" => {
            let azurite = tokio::task::block_in_place(Azurite::require)?;
            let port = if component == "azure.storagequeues" {
                azurite.queue_port
            } else {
                azurite.blob_port
            };
            Some(Some((local(port), Box::new(azurite))))
        }
        _ => None,
    }
}

fn aws_metadata(addr: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("endpoint", format!("http://{addr}")),
        ("region", moto::REGION.into()),
        ("accessKey", moto::ACCESS_KEY.into()),
        ("secretKey", moto::SECRET_KEY.into()),
    ]
}

fn azure_metadata(endpoint_field: &'static str, addr: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("accountName", azurite::ACCOUNT.into()),
        ("accountKey", azurite::KEY.into()),
        (endpoint_field, format!("http://{addr}")),
    ]
}

/// Component files `via` (input and output) and `direct` (output only) of type `ty`.
fn via_and_direct(
    ty: &'static str,
    metadata: impl Fn(SocketAddr) -> Vec<(&'static str, String)> + Send + Sync + 'static,
) -> ComponentFiles {
    Box::new(move |via, server| {
        let via_md = metadata(via);
        let mut direct_md = metadata(server);
        direct_md.push(("direction", "output".into()));
        vec![
            file("via", ty, &borrow(&via_md)),
            file("direct", ty, &borrow(&direct_md)),
        ]
    })
}

/// Up to 10 messages per receive, delivered at once: moto scans the whole queue on every
/// ReceiveMessage (0.3 s with 600 messages waiting on the 2-vCPU VM), so one message per call
/// would not drain the backlog a 30 s fault leaves within the scenario's minute.
fn sqs() -> Setup {
    Setup {
        component: "aws.sqs",
        files: via_and_direct("aws.sqs", |addr| {
            let mut md = aws_metadata(addr);
            md.push(("queueName", EMULATED.into()));
            md.push(("maxMessages", "10".into()));
            md.push(("maxConcurrentDeliveries", "10".into()));
            md
        }),
        input: true,
        // A receive or a delete that failed ("Receiving from SQS failed", "Deleting a delivered
        // message from SQS failed").
        lost_marker: "from SQS failed",
        body: Arc::new(create),
        read_back: None,
        table: None,
        must_log: None,
    }
}

fn storagequeues() -> Setup {
    Setup {
        component: "azure.storagequeues",
        files: via_and_direct("azure.storagequeues", |addr| {
            let mut md = azure_metadata("queueEndpoint", addr);
            md.push(("queueName", EMULATED.into()));
            // daprd's default waits 10 s after finding the queue empty: that would be counted
            // as time to recover, where the scenario measures reconnecting.
            md.push(("pollingInterval", "1s".into()));
            md
        }),
        input: true,
        // A read or a delete of a delivered message, whichever met the dead link first.
        lost_marker: "the storage queue failed",
        body: Arc::new(create),
        read_back: None,
        table: None,
        must_log: None,
    }
}

/// An object store written through `via` (object `id` holds `id`), read back through
/// `direct`'s `get` with the object's name in metadata `name_key`.
fn object_store(
    component: &'static str,
    metadata: impl Fn(SocketAddr) -> Vec<(&'static str, String)> + Send + Sync + 'static,
    name_key: &'static str,
) -> Setup {
    Setup {
        component,
        files: via_and_direct(component, metadata),
        input: false,
        lost_marker: "",
        body: Arc::new(
            move |id| json!({"operation": "create", "data": id, "metadata": {name_key: id}}),
        ),
        read_back: Some(Box::new(move |sidecar, ids| {
            Box::pin(async move {
                let mut found = Vec::new();
                for id in ids {
                    let get = json!({"operation": "get", "metadata": {name_key: id}});
                    if let Ok(v) = faults::invoke_json(&sidecar, "direct", get).await {
                        found.extend(faults::strings_in(&v).into_iter().filter(|s| !s.is_empty()));
                    }
                }
                found
            })
        })),
        table: None,
        must_log: None,
    }
}

fn s3() -> Setup {
    object_store(
        "aws.s3",
        |addr| {
            let mut md = aws_metadata(addr);
            md.push(("bucket", EMULATED.into()));
            md.push(("forcePathStyle", "true".into()));
            md
        },
        "key",
    )
}

fn blobstorage() -> Setup {
    object_store(
        "azure.blobstorage",
        |addr| {
            let mut md = azure_metadata("endpoint", addr);
            md.push(("containerName", EMULATED.into()));
            md
        },
        "blobName",
    )
}

/// Whether `fault` can be injected for `component`. moto answers every request with
/// `Connection: close`, so an S3 client never holds a connection between calls and a half-open
/// link or a reset finds nothing to act on (SQS does hold one: its long poll); the blobstorage
/// scenario covers an object store's pooled connections.
fn applies(fault: Fault, component: &str) -> bool {
    let applies = !(matches!(fault, Fault::HalfOpen | Fault::Cut) && component == "aws.s3");
    if !applies {
        faults::note(&format!(
            "FAULTS {} {component}: not applicable (moto closes every connection after its answer)",
            fault.name()
        ));
    }
    applies
}

/// The components of this build, each with a fresh setup.
fn setups() -> Vec<Setup> {
    type Built = (bool, fn() -> Setup);
    let all: &[Built] = &[
        (cfg!(feature = "rabbitmq"), rabbitmq),
        (cfg!(feature = "mqtt3"), mqtt3),
        (cfg!(feature = "nats"), nats),
        (cfg!(feature = "redis"), redis),
        (cfg!(feature = "postgres"), postgres),
        (cfg!(feature = "mysql"), mysql),
        (cfg!(feature = "aws-sqs"), sqs),
        (cfg!(feature = "aws-s3"), s3),
        (cfg!(feature = "azure-storagequeues"), storagequeues),
        (cfg!(feature = "azure-blobstorage"), blobstorage),
        (cfg!(feature = "kafka"), kafka),
    ];
    all.iter()
        .filter(|(built, _)| *built)
        .map(|(_, setup)| setup())
        .collect()
}

/// One fault for every component at once: the scenarios mostly wait, and `cargo test` runs only
/// two tests at a time here, so one test per fault keeps the whole file near a minute and a half.
/// Each scenario is its own task; the first failure is reported with its component's name.
async fn every_component(fault: Fault) {
    let scenarios: Vec<_> = setups()
        .into_iter()
        .filter(|setup| applies(fault, setup.component))
        .map(|setup| {
            let component = setup.component;
            (component, tokio::spawn(with_table(setup, fault)))
        })
        .collect();
    let mut failed = Vec::new();
    for (component, scenario) in scenarios {
        if let Err(e) = scenario.await {
            eprintln!("{} {component} failed: {e}", fault.name());
            failed.push(component);
        }
    }
    assert!(failed.is_empty(), "{} failed for {failed:?}", fault.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blackhole_of_30_s() {
    every_component(Fault::Blackhole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_connections() {
    every_component(Fault::HalfOpen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_link_of_200_ms_each_way() {
    every_component(Fault::Slow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_reset_mid_stream() {
    every_component(Fault::Cut).await;
}

/// The Kafka input's last resort: a consumer still without partitions `sessionTimeout` +
/// `max(readTimeout, writeTimeout)` + 5 s after losing its group session is replaced by a new
/// one. With short timeouts (lost within 6 s, replaced 19 s later) that happens inside the 30 s
/// blackhole, where librdkafka cannot rejoin; the new consumer must then deliver within the
/// usual bound of the link's return and lose nothing (`dialTimeout: 2s` keeps its connection
/// attempts short, so one starts soon after the link returns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_consumer_replaced_when_it_cannot_rejoin() {
    if !cfg!(feature = "kafka") {
        return;
    }
    const SHORT: &[(&str, &str)] = &[
        ("sessionTimeout", "6s"),
        ("heartbeatInterval", "2s"),
        ("readTimeout", "8s"),
        ("writeTimeout", "8s"),
        ("dialTimeout", "2s"),
    ];
    let setup = kafka_with(SHORT, Some("replacing it with a new consumer"));
    with_table(setup, Fault::Blackhole).await;
}

/// A server that accepts connections, reads what it is sent and never answers: the worst
/// dead link, a connection that opens and then stays silent. Every AWS output call to it must
/// fail with a timeout within the SDK's operation timeout (30 s), not hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_to_a_silent_endpoint_time_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the silent server");
    let addr = listener.local_addr().expect("silent server address");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            held.push(tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut socket, &mut sink).await;
            }));
        }
    });
    let mut components: Vec<(&str, Vec<(&'static str, String)>)> = Vec::new();
    if cfg!(feature = "aws-s3") {
        let mut md = aws_metadata(addr);
        md.extend([
            ("bucket", EMULATED.into()),
            ("forcePathStyle", "true".into()),
        ]);
        components.push(("aws.s3", md));
    }
    if cfg!(feature = "aws-sqs") {
        let mut md = aws_metadata(addr);
        md.push(("queueName", EMULATED.into()));
        components.push(("aws.sqs", md));
    }
    if components.is_empty() {
        return;
    }
    let files: Vec<(String, String)> = components
        .iter()
        .map(|(ty, md)| {
            let mut md = md.clone();
            md.push(("direction", "output".into()));
            file(&ty.replace('.', "-"), ty, &borrow(&md))
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let dir = resources(&files);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    sidecar.wait_ready().await;
    let calls = components.iter().map(|(ty, _)| {
        let binding = ty.replace('.', "-");
        let body = json!({"operation": "create", "data": "x", "metadata": {"key": "x"}});
        let sidecar = &sidecar;
        async move { (ty, call(sidecar, &binding, "x".into(), body).await) }
    });
    for (ty, c) in futures::future::join_all(calls).await {
        let error = c.error.unwrap_or_default();
        faults::note(&format!(
            "FAULTS silent endpoint {ty}: failed after {:.1}s: {}",
            c.took.as_secs_f64(),
            error.chars().take(240).collect::<String>()
        ));
        assert!(
            !error.is_empty(),
            "{ty}: a call to a silent server succeeded"
        );
        assert!(
            c.took < Duration::from_secs(40),
            "{ty}: the call took {:?}: {error}",
            c.took
        );
        assert!(error.contains("timeout"), "{ty}: not a timeout: {error}");
    }
    silent.abort();
}
