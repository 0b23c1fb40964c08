//! Fault-test helpers: delivery counts, a killable app process, reachability of the shared
//! servers, outage scenarios run against a server of the test's own
//! ([`crate::servers::Instance`]), and process memory.
//!
//! Every fault test prints one line `FAULTS <scenario>: sent=… delivered=… duplicated=… lost=…`
//! (also appended to the file named by `BINDERY_FAULTS_REPORT` when set), so a run's numbers can
//! be collected and compared. Options other helpers add (retry policies, dead letters) only need
//! a new component file or flag in a scenario; the counting stays the same.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::Instance;

/// What a scenario sent and what arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct messages (or writes) that were accepted at the source.
    pub sent: usize,
    /// Distinct sent messages that arrived (were accepted by the app, or are readable).
    pub delivered: usize,
    /// Arrivals beyond the first of each message.
    pub duplicated: usize,
    /// Sent messages that never arrived.
    pub lost: usize,
    /// Arrivals that were never sent (must be 0 too).
    pub unexpected: usize,
}

impl Counts {
    /// Compares what was sent with every arrival (duplicates included).
    pub fn of<S: AsRef<str>, R: AsRef<str>>(sent: &[S], received: &[R]) -> Self {
        let sent: HashSet<&str> = sent.iter().map(AsRef::as_ref).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for r in received {
            *seen.entry(r.as_ref()).or_default() += 1;
        }
        let delivered = sent.iter().filter(|s| seen.contains_key(*s)).count();
        Self {
            sent: sent.len(),
            delivered,
            duplicated: seen.values().map(|n| n - 1).sum(),
            lost: sent.len() - delivered,
            unexpected: seen.keys().filter(|r| !sent.contains(*r)).count(),
        }
    }

    /// The sent messages that never arrived, for failure messages.
    pub fn missing<'a, S: AsRef<str>, R: AsRef<str>>(
        sent: &'a [S],
        received: &[R],
    ) -> Vec<&'a str> {
        let seen: HashSet<&str> = received.iter().map(AsRef::as_ref).collect();
        sent.iter()
            .map(AsRef::as_ref)
            .filter(|s| !seen.contains(s))
            .collect()
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent={} delivered={} duplicated={} lost={}",
            self.sent, self.delivered, self.duplicated, self.lost
        )?;
        if self.unexpected > 0 {
            write!(f, " unexpected={}", self.unexpected)?;
        }
        Ok(())
    }
}

/// Prints the scenario's count line (visible with `--nocapture` or on failure) and appends it to `$BINDERY_FAULTS_REPORT` when set.
pub fn report(scenario: &str, counts: &Counts, extra: &str) {
    let line = if extra.is_empty() {
        format!("FAULTS {scenario}: {counts}")
    } else {
        format!("FAULTS {scenario}: {counts} {extra}")
    };
    println!("{line}");
    if let Some(path) = std::env::var_os("BINDERY_FAULTS_REPORT")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// Prints a free-form result line (`FAULTS …`) and appends it to `$BINDERY_FAULTS_REPORT`.
pub fn note(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("BINDERY_FAULTS_REPORT")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

pub use crate::{require, under_ci};

/// Reads `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sends a signal to a process with the `kill` command (`sig` like `TERM`, `KILL`, `STOP`).
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// A separate app process that can be killed and restarted.

/// The recording app (`crates/bindery/tests/apps/recording_app.py`) as a child process: it
/// accepts events with 200 except a random share answered 500, and appends every accepted body
/// to a file, so what it accepted survives SIGKILL and restarts.
pub struct KillableApp {
    script: PathBuf,
    pub port: u16,
    record: PathBuf,
    fail_rate: f64,
    delay_ms: u64,
    child: Option<Child>,
    starts: u32,
    _dir: tempfile::TempDir,
}

impl KillableApp {
    /// Starts `python3 <script>` on a free port; `fail_rate` of POSTs get 500.
    pub fn start(script: impl Into<PathBuf>, fail_rate: f64, delay_ms: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = Self {
            script: script.into(),
            port: crate::free_port(),
            record: dir.path().join("accepted.log"),
            fail_rate,
            delay_ms,
            child: None,
            starts: 0,
            _dir: dir,
        };
        app.spawn();
        app
    }

    /// Whether python3 can run here at all.
    pub fn python_available() -> bool {
        Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let child = Command::new("python3")
            .arg(&self.script)
            .args(["--port", &self.port.to_string()])
            .arg("--record")
            .arg(&self.record)
            .args(["--fail-rate", &self.fail_rate.to_string()])
            .args(["--delay-ms", &self.delay_ms.to_string()])
            .args(["--seed", &self.starts.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 recording app");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "recording app did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no goodbye, in-flight requests are cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and record file.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Every body the app accepted with 200, in order, duplicates included.
    pub fn accepted(&self) -> Vec<String> {
        read_lines(&self.record)
    }

    /// Every body the app answered 500 on purpose.
    pub fn refused(&self) -> Vec<String> {
        let mut path = self.record.clone().into_os_string();
        path.push(".refused");
        read_lines(Path::new(&path))
    }

    pub fn record_path(&self) -> &Path {
        &self.record
    }
}

impl Drop for KillableApp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The machine's shared servers: only ever checked, never stopped (fault tests stop servers of
// their own, `crate::servers::Instance`).

/// A shared server on this machine (see /work/shared/SERVICES.md), for tests that only use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    RabbitMq,
    Mosquitto,
    Redis,
    Postgres,
    MariaDb,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Self::RabbitMq => "RabbitMQ",
            Self::Mosquitto => "Mosquitto",
            Self::Redis => "Redis",
            Self::Postgres => "PostgreSQL",
            Self::MariaDb => "MariaDB",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Self::RabbitMq => 5672,
            Self::Mosquitto => 1883,
            Self::Redis => 6379,
            Self::Postgres => 5432,
            Self::MariaDb => 3306,
        }
    }

    /// Accepts TCP connections on its loopback port.
    pub fn up(self) -> bool {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port()));
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
    }

    /// Reachable; fails under CI, prints SKIP otherwise.
    pub fn require(self) -> bool {
        require(
            self.up(),
            &format!("{} on 127.0.0.1:{}", self.name(), self.port()),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Components and traffic.

/// A `bindings.<ty>` component file with plain metadata values (quoted as YAML strings).
pub fn component(name: &str, ty: &str, metadata: &[(&str, &str)]) -> String {
    crate::components::component(name, &format!("bindings.{ty}"), metadata)
}

/// A unique suffix for queue, topic, key and table names.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}{}{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Message ids `<prefix>-000000` … used as payloads.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:06}")).collect()
}

/// Invokes `operation` on output binding `name` once per id (`data` = the id as a JSON
/// string), `concurrency` calls at a time, through the sidecar's HTTP API. Returns the ids whose
/// call answered 2xx and how many failed.
pub async fn invoke_each(
    sidecar: &crate::Sidecar,
    name: &str,
    operation: &str,
    ids: &[String],
    concurrency: usize,
) -> (Vec<String>, usize) {
    use futures::StreamExt;
    let url = sidecar.url(&format!("/v1.0/bindings/{name}"));
    let results: Vec<(String, bool)> = futures::stream::iter(ids.iter().cloned())
        .map(|id| {
            let client = sidecar.client.clone();
            let url = url.clone();
            let body = serde_json::json!({"operation": operation, "data": id}).to_string();
            async move {
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                (id, ok)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let failed = results.iter().filter(|(_, ok)| !ok).count();
    (
        results
            .into_iter()
            .filter_map(|(id, ok)| ok.then_some(id))
            .collect(),
        failed,
    )
}

/// An event body as the app recorded it, without the JSON quotes a string `data` keeps.
pub fn unquote(body: &str) -> String {
    body.trim().trim_matches('"').to_owned()
}

// ---------------------------------------------------------------------------------------------
// Scenarios shared by several sources.

/// The app-fault scenario: `events` messages are published through output binding `binding`
/// (a component that is also the input binding delivering to the app), the app refuses
/// `fail_rate` of deliveries with 500, and is SIGKILLed once half of them were accepted and
/// started again `down` later. Returns the counts after every message arrived or `wait` passed.
/// A new source or option (a resiliency policy, a dead-letter setting) is one more call with a
/// different component file or extra sidecar arguments.
pub struct AppKill<'a> {
    pub scenario: &'a str,
    pub binary: &'a str,
    pub app_script: &'a str,
    pub binding: &'a str,
    /// Component files (name, text).
    pub files: Vec<(String, String)>,
    pub sidecar_args: Vec<String>,
    pub events: usize,
    pub fail_rate: f64,
    pub down: Duration,
    pub wait: Duration,
}

impl AppKill<'_> {
    pub async fn run(self) -> (Counts, Vec<String>, String) {
        let files: Vec<(&str, &str)> = self
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let dir = crate::resources(&files);
        let mut app = KillableApp::start(self.app_script, self.fail_rate, 0);
        let sidecar = crate::Sidecar::builder(self.binary)
            .resources(dir.path())
            .app_port(app.port)
            .args(self.sidecar_args.clone())
            .spawn()
            .await;
        sidecar.wait_ready().await;
        // Let the input subscribe before the first publish (MQTT has no backlog without it).
        tokio::time::sleep(Duration::from_millis(500)).await;

        let ids = ids(&self.scenario.replace(' ', "-"), self.events);
        let started = Instant::now();
        let events = self.events;
        let publish = invoke_each(&sidecar, self.binding, "create", &ids, 8);
        let chaos = async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while app.accepted().len() < events / 2 {
                assert!(
                    Instant::now() < deadline,
                    "the app never got half of the events"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            app.kill();
            let killed_at = app.accepted().len();
            tokio::time::sleep(self.down).await;
            app.restart();
            killed_at
        };
        let ((sent, failed), killed_at) = tokio::join!(publish, chaos);
        assert_eq!(failed, 0, "every publish through bindery succeeded");
        let received = |app: &KillableApp| -> Vec<String> {
            app.accepted().iter().map(|b| unquote(b)).collect()
        };
        let deadline = Instant::now() + self.wait;
        while Counts::of(&sent, &received(&app)).lost > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A moment more, so late redeliveries are counted as duplicates.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = received(&app);
        let counts = Counts::of(&sent, &got);
        report(
            self.scenario,
            &counts,
            &format!(
                "refused={} killed_after={killed_at} elapsed={:.1}s",
                app.refused().len(),
                started.elapsed().as_secs_f64()
            ),
        );
        let missing = Counts::missing(&sent, &got)
            .into_iter()
            .take(20)
            .map(str::to_owned)
            .collect();
        assert!(sidecar.is_running(), "the sidecar kept running");
        (counts, missing, tail(&sidecar.output(), 40))
    }
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Makes Mosquitto forget a persistent session (connects once with a clean session).
pub fn mqtt_forget_session(client_id: &str) {
    let _ = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "1883",
            "-i",
            client_id,
            "-t",
            "bindery/forget",
            "-E",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// What happened to a stream of output calls across a server outage.
#[derive(Debug, Clone)]
pub struct Outage {
    /// Ids whose call answered 2xx.
    pub accepted: Vec<String>,
    /// Ids of every call made, failed ones included (a failed call may still have been applied:
    /// its outcome is unknown to the caller).
    pub attempted: Vec<String>,
    /// Calls that failed (allowed while the server is down).
    pub failed: usize,
    /// Calls that failed after the server was back (before the first success).
    pub failed_after_up: usize,
    /// From the server accepting connections again to the first 2xx call.
    pub recovered_after: Option<Duration>,
    /// How long the server was down.
    pub down_for: Duration,
}

/// When an outage happens: a call every `every`; the server is stopped after `before` and
/// started again after `down`; calls go on for `after` once one succeeded again.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub every: Duration,
    pub before: Duration,
    pub down: Duration,
    pub after: Duration,
}

/// Calls output binding `binding` with `body(id)` while `server` (the test's own) is stopped and
/// started again per `schedule` (calls stop at most 30 s after the restart). Blocking server
/// commands run off the async workers.
pub async fn output_through_outage(
    sidecar: &crate::Sidecar,
    server: &Instance,
    binding: &str,
    prefix: &str,
    body: impl Fn(&str) -> serde_json::Value,
    schedule: Schedule,
) -> Outage {
    use std::sync::Arc;
    let Schedule {
        every,
        before,
        down,
        after,
    } = schedule;
    let url = sidecar.url(&format!("/v1.0/bindings/{binding}"));
    let up_at: Arc<parking_lot::Mutex<Option<Instant>>> = Arc::default();
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chaos = {
        let up_at = up_at.clone();
        let stopped = stopped.clone();
        let server = server.clone();
        async move {
            tokio::time::sleep(before).await;
            let stopping = server.clone();
            let guard = tokio::task::spawn_blocking(move || stopping.stop())
                .await
                .expect("stop server");
            stopped.store(true, std::sync::atomic::Ordering::SeqCst);
            let stopped_at = Instant::now();
            tokio::time::sleep(down).await;
            let up = tokio::task::spawn_blocking(move || guard.start())
                .await
                .expect("start server");
            assert!(server.up(), "{} did not come back", server.kind().name());
            *up_at.lock() = Some(up);
            up - stopped_at
        }
    };
    let writer = async {
        let mut accepted = Vec::new();
        let mut attempted = Vec::new();
        let mut failed = 0;
        let mut failed_after_up = 0;
        let mut recovered_after = None;
        let mut i = 0usize;
        let mut ok_since_up: Option<Instant> = None;
        let hard_stop = Instant::now() + before + down + Duration::from_secs(90);
        loop {
            let id = format!("{prefix}-{i:06}");
            i += 1;
            attempted.push(id.clone());
            let sent = sidecar
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body(body(&id).to_string())
                .timeout(Duration::from_secs(15))
                .send()
                .await;
            let ok = sent.is_ok_and(|r| r.status().is_success());
            let up = *up_at.lock();
            if ok {
                accepted.push(id);
                if let Some(up) = up {
                    if recovered_after.is_none() {
                        recovered_after = Some(up.elapsed());
                    }
                    let since = *ok_since_up.get_or_insert_with(Instant::now);
                    if since.elapsed() >= after {
                        break;
                    }
                }
            } else {
                failed += 1;
                if up.is_some() && recovered_after.is_none() {
                    failed_after_up += 1;
                }
            }
            if up.is_some_and(|u| u.elapsed() > Duration::from_secs(30))
                || Instant::now() > hard_stop
            {
                break;
            }
            tokio::time::sleep(every).await;
        }
        (
            accepted,
            attempted,
            failed,
            failed_after_up,
            recovered_after,
        )
    };
    let (down_for, (accepted, attempted, failed, failed_after_up, recovered_after)) =
        tokio::join!(chaos, writer);
    assert!(stopped.load(std::sync::atomic::Ordering::SeqCst));
    Outage {
        accepted,
        attempted,
        failed,
        failed_after_up,
        recovered_after,
        down_for,
    }
}

/// One output call through the sidecar; the parsed JSON answer (or text as a JSON string) on 2xx.
pub async fn invoke_json(
    sidecar: &crate::Sidecar,
    binding: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let response = sidecar
        .client
        .post(sidecar.url(&format!("/v1.0/bindings/{binding}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Every JSON string inside a value (rows of a query answer, a `get` answer).
pub fn strings_in(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        serde_json::Value::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

/// The broker-restart scenario for a source that is both output and input binding `binding`:
/// messages are published through the sidecar while `server` (the test's own) is stopped and
/// started again; every accepted publish must reach the app (`lost=0`) and output must succeed
/// again soon.
pub struct BrokerRestart<'a> {
    pub scenario: &'a str,
    pub binary: &'a str,
    pub app_script: &'a str,
    pub server: &'a Instance,
    pub binding: &'a str,
    pub files: Vec<(String, String)>,
    pub down: Duration,
}

/// What [`BrokerRestart::run`] measured.
pub struct BrokerRestartResult {
    pub counts: Counts,
    pub outage: Outage,
    /// From the server being up again to every accepted message having reached the app.
    pub drained_after: Option<Duration>,
    pub missing: Vec<String>,
    pub log: String,
}

impl BrokerRestart<'_> {
    pub async fn run(self) -> BrokerRestartResult {
        let files: Vec<(&str, &str)> = self
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let dir = crate::resources(&files);
        let app = KillableApp::start(self.app_script, 0.0, 0);
        let sidecar = crate::Sidecar::builder(self.binary)
            .resources(dir.path())
            .app_port(app.port)
            .spawn()
            .await;
        sidecar.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let prefix = self.scenario.replace(' ', "-");
        let outage = output_through_outage(
            &sidecar,
            self.server,
            self.binding,
            &prefix,
            |id| serde_json::json!({"operation": "create", "data": id}),
            Schedule {
                every: Duration::from_millis(5),
                before: Duration::from_secs(2),
                down: self.down,
                after: Duration::from_secs(3),
            },
        )
        .await;
        let received = |app: &KillableApp| -> Vec<String> {
            app.accepted().iter().map(|b| unquote(b)).collect()
        };
        let back = Instant::now();
        let deadline = back + Duration::from_secs(30);
        let mut drained_after = None;
        loop {
            if Counts::of(&outage.accepted, &received(&app)).lost == 0 {
                drained_after = Some(back.elapsed());
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = received(&app);
        let mut counts = Counts::of(&outage.accepted, &got);
        // Events whose publish failed but reached the broker anyway are not unexpected.
        let applied_though_failed = counts.unexpected;
        counts.unexpected = Counts::of(&outage.attempted, &got).unexpected;
        report(
            self.scenario,
            &counts,
            &format!(
                "failed_calls={} failed_but_delivered={} down={:.1}s output_recovered_after={}",
                outage.failed,
                applied_though_failed - counts.unexpected,
                outage.down_for.as_secs_f64(),
                outage
                    .recovered_after
                    .map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64())),
            ),
        );
        let missing = Counts::missing(&outage.accepted, &got)
            .into_iter()
            .take(20)
            .map(str::to_owned)
            .collect();
        assert!(sidecar.is_running(), "the sidecar kept running");
        BrokerRestartResult {
            counts,
            outage,
            drained_after,
            missing,
            log: tail(&sidecar.output(), 60),
        }
    }
}

/// The database-restart scenario: writes through output binding `binding` while `server` (the
/// test's own) is stopped and started again. Returns the outage; the caller reads back what was
/// accepted.
pub async fn database_restart(
    sidecar: &crate::Sidecar,
    server: &Instance,
    binding: &str,
    prefix: &str,
    body: impl Fn(&str) -> serde_json::Value,
) -> Outage {
    output_through_outage(
        sidecar,
        server,
        binding,
        prefix,
        body,
        Schedule {
            every: Duration::from_millis(10),
            before: Duration::from_secs(2),
            down: Duration::from_secs(2),
            after: Duration::from_secs(2),
        },
    )
    .await
}

/// Reports and checks a database-restart run: output recovered within `within`, and every
/// accepted write is among `readable` (what reading back returned, duplicates included).
pub fn check_database_restart(
    scenario: &str,
    outage: &Outage,
    readable: &[String],
    within: Duration,
    log: &str,
) {
    let mut counts = Counts::of(&outage.accepted, readable);
    // A write whose call failed may still have been applied: not unexpected.
    let applied_though_failed = counts.unexpected;
    counts.unexpected = Counts::of(&outage.attempted, readable).unexpected;
    report(
        scenario,
        &counts,
        &format!(
            "failed_calls={} failed_but_applied={} failed_after_up={} down={:.1}s output_recovered_after={}",
            outage.failed,
            applied_though_failed - counts.unexpected,
            outage.failed_after_up,
            outage.down_for.as_secs_f64(),
            outage
                .recovered_after
                .map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64())),
        ),
    );
    let recovered = outage
        .recovered_after
        .expect("no write succeeded after the restart");
    assert!(
        recovered < within,
        "output took {recovered:?} to recover\n{log}"
    );
    let missing = Counts::missing(&outage.accepted, readable);
    assert_eq!(
        counts.lost,
        0,
        "accepted writes not readable (first 20): {:?}\n{log}",
        &missing[..missing.len().min(20)]
    );
    assert_eq!(counts.duplicated, 0, "writes applied twice");
    assert_eq!(counts.unexpected, 0, "rows nobody wrote");
}
