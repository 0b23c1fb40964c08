//! bindery's benchmark suite: every scenario runs the same client against the direct path and
//! through bindery, on the same machine, and reports both and their ratio.
//!
//! 1. Added latency of an output binding at a fixed rate (daprd's harness: 1000 QPS, 16
//!    connections, 1 KiB, warm-up then measure): Redis `create` vs a direct `SET`, and the
//!    `http` binding to a local server vs calling the server.
//! 2. Saturation throughput of a trivial output binding (`http` `get` to the local server) vs
//!    the bare server, closed loop.
//! 3. Input delivery: RabbitMQ → bindery → HTTP app vs a direct lapin consumer acking.
//! 4. Footprint: sidecar CPU per 1000 req/s, RSS idle and under load, exec-to-ready, binary.

pub mod footprint;
pub mod input;
pub mod load;
pub mod proc;
pub mod procs;
pub mod report;
pub mod server;
pub mod stats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bindery_api::proto::runtime::InvokeBindingRequest;
use bytes::Bytes;
use hyper::Method;
use serde::Serialize;

use crate::load::{Pace, RunOutcome, Target};
use crate::proc::{ProcUsage, Watched};
use crate::procs::{Bindery, Perf, spawn_bindery, spawn_server};
use crate::stats::Summary;

/// Everything a run needs; [`Options::full`] and [`Options::smoke`] give the two presets.
#[derive(Debug, Clone)]
pub struct Options {
    pub smoke: bool,
    /// Measured window of each fixed-rate run.
    pub seconds: f64,
    /// Warm-up before each fixed-rate run (same rate, not recorded).
    pub warmup: f64,
    pub qps: f64,
    pub connections: usize,
    pub payload: usize,
    /// Closed-loop connections and window for the saturation scenario.
    pub sat_connections: usize,
    pub sat_seconds: f64,
    /// Messages pre-loaded for the input-delivery scenario.
    pub input_messages: usize,
    /// Starts measured for exec-to-ready.
    pub ready_runs: usize,
    /// The `bindery` binary under test.
    pub bindery: PathBuf,
    /// The `bindery-bench` binary (it runs the trivial server as a child).
    pub server_exe: PathBuf,
    /// Where logs (and perf data) go.
    pub work_dir: PathBuf,
    pub redis_addr: SocketAddr,
    pub rabbitmq_url: String,
    /// Attach `perf record -g` to bindery during the through-bindery runs.
    pub perf_dir: Option<PathBuf>,
}

impl Options {
    pub fn full(bindery: PathBuf, server_exe: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            smoke: false,
            seconds: 20.0,
            warmup: 5.0,
            qps: 1000.0,
            connections: 16,
            payload: 1024,
            sat_connections: 64,
            sat_seconds: 10.0,
            input_messages: 20_000,
            ready_runs: 20,
            bindery,
            server_exe,
            work_dir,
            redis_addr: SocketAddr::from(([127, 0, 0, 1], 6379)),
            rabbitmq_url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            perf_dir: None,
        }
    }

    /// A few seconds in all: every scenario at small counts.
    pub fn smoke(bindery: PathBuf, server_exe: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            smoke: true,
            seconds: 0.5,
            warmup: 0.2,
            qps: 200.0,
            connections: 4,
            sat_connections: 8,
            sat_seconds: 0.5,
            input_messages: 100,
            ready_runs: 2,
            ..Self::full(bindery, server_exe, work_dir)
        }
    }

    /// Reads `REDIS_ADDR` and `RABBITMQ_URL` when set.
    pub fn with_env_servers(mut self) -> Self {
        if let Ok(addr) = std::env::var("REDIS_ADDR")
            && let Ok(addr) = addr.parse()
        {
            self.redis_addr = addr;
        }
        if let Ok(url) = std::env::var("RABBITMQ_URL")
            && !url.is_empty()
        {
            self.rabbitmq_url = url;
        }
        self
    }
}

/// One run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    pub latency: Summary,
    pub achieved_rps: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub usage: Vec<ProcUsage>,
}

impl RunStats {
    fn from(outcome: &RunOutcome) -> Self {
        Self {
            latency: outcome.latencies.summary(),
            achieved_rps: outcome.achieved_rps(),
            errors: outcome.errors,
            first_error: outcome.first_error.clone(),
            usage: outcome.usage.clone(),
        }
    }

    pub fn usage_of(&self, name: &str) -> Option<&ProcUsage> {
        self.usage.iter().find(|u| u.name == name)
    }
}

/// The same client on the direct path and through bindery.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub name: String,
    pub description: String,
    pub direct: RunStats,
    pub bindery: RunStats,
}

impl Pair {
    pub fn samples_and_errors(&self) -> [(u64, u64); 2] {
        [
            (self.direct.latency.samples, self.direct.errors),
            (self.bindery.latency.samples, self.bindery.errors),
        ]
    }
}

/// Input delivery: messages per second from the first delivery to the last.
#[derive(Debug, Clone, Serialize)]
pub struct InputResult {
    pub messages: usize,
    pub direct_seconds: f64,
    pub direct_with_post_seconds: f64,
    pub bindery_seconds: f64,
    /// Messages the app saw through bindery (must equal `messages`).
    pub bindery_delivered: u64,
    /// bindery's CPU from exec to the last delivery.
    pub bindery_cpu_seconds: f64,
    pub bindery_rss_kib: Option<u64>,
    pub concurrency: InputConcurrency,
}

impl InputResult {
    pub fn rate(&self, seconds: f64) -> f64 {
        self.messages.saturating_sub(1) as f64 / seconds.max(1e-9)
    }
}

/// Input delivery with `maxConcurrentDeliveries`: the same queue with N = 8, and an app that
/// takes 5 ms per event (`/in-slow`) with N = 1 and N = 8.
#[derive(Debug, Clone, Serialize)]
pub struct InputConcurrency {
    pub fast_8_seconds: f64,
    pub fast_8_delivered: u64,
    pub slow_messages: usize,
    pub slow_1_seconds: f64,
    pub slow_1_delivered: u64,
    pub slow_8_seconds: f64,
    pub slow_8_delivered: u64,
}

impl InputConcurrency {
    /// Messages per second of `count` messages over `seconds`, first delivery to last.
    pub fn rate(count: usize, seconds: f64) -> f64 {
        count.saturating_sub(1) as f64 / seconds.max(1e-9)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// With the redis and http components loaded, 1 s after ready.
    pub rss_idle_kib: Option<u64>,
    /// With one localstorage component, 1 s after ready.
    pub rss_idle_file_only_kib: Option<u64>,
    pub ready_ms: Vec<f64>,
    pub ready_median_ms: f64,
    pub binary_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    /// /proc/loadavg when the run started: other work on the machine skews every figure.
    pub loadavg_at_start: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub smoke: bool,
    pub machine: Machine,
    pub settings: Settings,
    pub latency: Vec<Pair>,
    pub saturation: Pair,
    pub input: InputResult,
    pub footprint: Footprint,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub seconds: f64,
    pub warmup: f64,
    pub qps: f64,
    pub connections: usize,
    pub payload: usize,
    pub sat_connections: usize,
    pub sat_seconds: f64,
    pub input_messages: usize,
    pub ready_runs: usize,
}

impl Report {
    /// Every run produced samples and none failed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for pair in self.latency.iter().chain(std::iter::once(&self.saturation)) {
            for (path, (samples, errors)) in
                ["direct", "bindery"].iter().zip(pair.samples_and_errors())
            {
                if samples == 0 {
                    problems.push(format!("{} {path}: no samples", pair.name));
                }
                if errors > 0 {
                    let first = if *path == "direct" {
                        &pair.direct.first_error
                    } else {
                        &pair.bindery.first_error
                    };
                    problems.push(format!(
                        "{} {path}: {errors} errors, first: {}",
                        pair.name,
                        first.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        let c = &self.input.concurrency;
        for (run, delivered, expected) in [
            ("input", self.input.bindery_delivered, self.input.messages),
            ("input N=8", c.fast_8_delivered, self.input.messages),
            ("input slow N=1", c.slow_1_delivered, c.slow_messages),
            ("input slow N=8", c.slow_8_delivered, c.slow_messages),
        ] {
            if delivered < expected as u64 {
                problems.push(format!(
                    "{run}: bindery delivered {delivered} of {expected} messages"
                ));
            }
        }
        if self.footprint.ready_ms.is_empty() {
            problems.push("ready: no start measured".to_owned());
        }
        problems
    }
}

fn payload(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| ALPHABET[i % ALPHABET.len()] as char)
        .collect()
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

fn component(name: &str, spec_type: &str, metadata: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {spec_type}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in metadata {
        yaml.push_str(&format!("  - name: {k}\n    value: {v:?}\n"));
    }
    yaml
}

fn write(dir: &Path, file: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(file), text).map_err(|e| format!("cannot write {file}: {e}"))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

async fn sleep_then_rss(pid: u32, wait: Duration) -> Option<u64> {
    tokio::time::sleep(wait).await;
    proc::rss_kib(pid)
}

fn log(message: &str) {
    eprintln!("[bench] {message}");
}

/// Runs every scenario once and returns the figures.
pub async fn run(opts: &Options) -> Result<Report, String> {
    // On a worker thread, not on the thread that called `block_on`: a future polled there is
    // woken across threads for every I/O event, which halves the direct consumer's rate.
    let opts = opts.clone();
    tokio::spawn(async move { run_all(&opts).await })
        .await
        .map_err(|e| format!("the benchmark task failed: {e}"))?
}

async fn run_all(opts: &Options) -> Result<Report, String> {
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| format!("cannot create {}: {e}", opts.work_dir.display()))?;
    let id = run_id();
    let machine = machine();
    let data = payload(opts.payload);

    let (server, server_addr) = spawn_server(&opts.server_exe, &opts.work_dir.join("server.log"))?;
    let server_watch = Watched::new("server", server.pid());

    // ---- output bindings (redis and http), then saturation, against one sidecar
    let output = output_scenarios(opts, &id, &data, server_addr, &server_watch).await?;

    // ---- input delivery
    let input = input_scenario(opts, &id, &data, server_addr).await?;

    // ---- footprint: exec-to-ready with file-only components
    let ready = exec_to_ready(opts).await?;
    let binary_bytes = std::fs::metadata(&opts.bindery)
        .map(|m| m.len())
        .unwrap_or(0);
    drop(server);

    Ok(Report {
        smoke: opts.smoke,
        machine,
        settings: settings(opts),
        latency: output.latency,
        saturation: output.saturation,
        input,
        footprint: Footprint {
            rss_idle_kib: output.rss_idle_kib,
            rss_idle_file_only_kib: ready.rss_idle_file_only_kib,
            ready_ms: ready.ready_ms,
            ready_median_ms: ready.median_ms,
            binary_bytes,
        },
    })
}

fn settings(opts: &Options) -> Settings {
    Settings {
        seconds: opts.seconds,
        warmup: opts.warmup,
        qps: opts.qps,
        connections: opts.connections,
        payload: opts.payload,
        sat_connections: opts.sat_connections,
        sat_seconds: opts.sat_seconds,
        input_messages: opts.input_messages,
        ready_runs: opts.ready_runs,
    }
}

/// How one run loads its target: connections, pace, warm-up and measured window.
#[derive(Clone, Copy)]
struct Load {
    connections: usize,
    pace: Pace,
    warmup: Duration,
    window: Duration,
}

impl Load {
    /// The fixed-rate latency runs.
    fn fixed(opts: &Options) -> Self {
        Self {
            connections: opts.connections,
            pace: Pace::Fixed { qps: opts.qps },
            warmup: secs(opts.warmup),
            window: secs(opts.seconds),
        }
    }

    /// The closed-loop saturation runs.
    fn saturate(opts: &Options) -> Self {
        Self {
            connections: opts.sat_connections,
            pace: Pace::Saturate,
            warmup: secs(opts.warmup.min(2.0)),
            window: secs(opts.sat_seconds),
        }
    }

    async fn run(self, target: &Target, watch: &[Watched]) -> Result<RunOutcome, String> {
        load::run(
            target,
            self.connections,
            self.pace,
            self.warmup,
            self.window,
            watch,
        )
        .await
    }
}

/// The sidecar with the redis and http output bindings, and what every run against it shares.
struct OutputRig<'a> {
    opts: &'a Options,
    sidecar: &'a Bindery,
    pid: u32,
    sidecar_watch: Watched,
    server_watch: &'a Watched,
    server_addr: SocketAddr,
    data: &'a str,
    /// `data` as a JSON string: what bindery stores and forwards for it.
    json_data: String,
}

impl OutputRig<'_> {
    /// One run through bindery, with `perf` attached to it for the run (when asked).
    async fn through_bindery(
        &self,
        perf_name: &str,
        target: Target,
        load: Load,
        watch: &[Watched],
    ) -> Result<RunOutcome, String> {
        let _perf = Perf::attach(self.opts.perf_dir.as_deref(), self.pid, perf_name);
        load.run(&target, watch).await
    }

    /// The sidecar and the server, for runs where bindery calls the server.
    fn sidecar_and_server(&self) -> [Watched; 2] {
        [self.sidecar_watch.clone(), self.server_watch.clone()]
    }
}

fn pair(name: &str, description: String, direct: &RunOutcome, through: &RunOutcome) -> Pair {
    Pair {
        name: name.to_owned(),
        description,
        direct: RunStats::from(direct),
        bindery: RunStats::from(through),
    }
}

/// What the output-binding sidecar yielded.
struct OutputFigures {
    /// In the report's order: redis HTTP, http HTTP, redis gRPC, http gRPC.
    latency: Vec<Pair>,
    saturation: Pair,
    rss_idle_kib: Option<u64>,
}

/// Starts bindery with the redis and http output bindings and runs the latency and saturation
/// scenarios against it.
async fn output_scenarios(
    opts: &Options,
    id: &str,
    data: &str,
    server_addr: SocketAddr,
    server_watch: &Watched,
) -> Result<OutputFigures, String> {
    let resources = tempfile::tempdir().map_err(|e| e.to_string())?;
    write_output_components(resources.path(), opts.redis_addr, server_addr)?;
    log("starting bindery with the redis and http output bindings");
    let sidecar = spawn_bindery(
        &opts.bindery,
        resources.path(),
        None,
        &opts.work_dir.join("bindery-output.log"),
    )?;
    let pid = sidecar.guard.pid();
    let sidecar_watch = Watched::new("bindery", pid);
    let rss_idle_kib = sleep_then_rss(pid, secs(if opts.smoke { 0.1 } else { 1.0 })).await;

    let key = format!("bindery-bench:{id}");
    let rig = OutputRig {
        opts,
        sidecar: &sidecar,
        pid,
        sidecar_watch,
        server_watch,
        server_addr,
        data,
        json_data: serde_json::to_string(data).map_err(|e| e.to_string())?,
    };
    let (redis_pair, redis_grpc_pair) = redis_pairs(&rig, &key).await?;
    delete_redis_key(opts.redis_addr, &key).await;
    let (http_pair, http_grpc_pair) = http_pairs(&rig).await?;
    let saturation = saturation_pair(&rig).await?;
    drop(sidecar);
    Ok(OutputFigures {
        latency: vec![redis_pair, http_pair, redis_grpc_pair, http_grpc_pair],
        saturation,
        rss_idle_kib,
    })
}

fn write_output_components(
    dir: &Path,
    redis_addr: SocketAddr,
    server_addr: SocketAddr,
) -> Result<(), String> {
    let redis_host = redis_addr.to_string();
    write(
        dir,
        "redis.yaml",
        &component(
            "bench-redis",
            "bindings.redis",
            &[("redisHost", &redis_host)],
        ),
    )?;
    let out_url = format!("http://{server_addr}/out");
    write(
        dir,
        "http.yaml",
        &component("bench-http", "bindings.http", &[("url", &out_url)]),
    )
}

/// Redis `create` through bindery's HTTP and then its gRPC API, each against one direct `SET`.
async fn redis_pairs(rig: &OutputRig<'_>, key: &str) -> Result<(Pair, Pair), String> {
    let opts = rig.opts;
    let load = Load::fixed(opts);
    let bindery_only = std::slice::from_ref(&rig.sidecar_watch);
    // Redis: what bindery stores for a JSON string is the string with its quotes, so the direct
    // SET writes the same bytes.
    log("latency: redis direct");
    let direct = load
        .run(
            &Target::redis_set(opts.redis_addr, key, rig.json_data.as_bytes()),
            &[],
        )
        .await?;
    log("latency: redis through bindery");
    let body =
        serde_json::json!({"data": rig.data, "metadata": {"key": key}, "operation": "create"});
    let target = Target::http_post(
        rig.sidecar.http,
        "/v1.0/bindings/bench-redis",
        Bytes::from(body.to_string()),
    );
    let through = rig
        .through_bindery("redis-create", target, load, bindery_only)
        .await?;
    let http_api = pair(
        "redis create, HTTP API",
        format!(
            "POST /v1.0/bindings/<redis> create ({} B JSON string) vs SET of the same bytes",
            rig.json_data.len()
        ),
        &direct,
        &through,
    );
    log("latency: redis through bindery's gRPC API");
    let target = Target::Grpc {
        addr: rig.sidecar.grpc,
        request: InvokeBindingRequest {
            name: "bench-redis".to_owned(),
            data: rig.json_data.as_bytes().to_vec(),
            metadata: [("key".to_owned(), key.to_owned())].into(),
            operation: "create".to_owned(),
        },
    };
    let through = rig
        .through_bindery("redis-create-grpc", target, load, bindery_only)
        .await?;
    let grpc_api = pair(
        "redis create, gRPC API",
        format!(
            "Dapr/InvokeBinding <redis> create ({} B) vs SET of the same bytes (the direct run above)",
            rig.json_data.len()
        ),
        &direct,
        &through,
    );
    Ok((http_api, grpc_api))
}

/// The `http` binding's `post` through bindery's HTTP and then its gRPC API, each against one
/// direct POST to the server.
async fn http_pairs(rig: &OutputRig<'_>) -> Result<(Pair, Pair), String> {
    let load = Load::fixed(rig.opts);
    log("latency: http direct");
    let direct = load
        .run(
            &Target::http_post(rig.server_addr, "/out", Bytes::from(rig.json_data.clone())),
            std::slice::from_ref(rig.server_watch),
        )
        .await?;
    log("latency: http through bindery");
    let body = serde_json::json!({"data": rig.data, "operation": "post"});
    let target = Target::http_post(
        rig.sidecar.http,
        "/v1.0/bindings/bench-http",
        Bytes::from(body.to_string()),
    );
    let through = rig
        .through_bindery("http-post", target, load, &rig.sidecar_and_server())
        .await?;
    let http_api = pair(
        "http post, HTTP API",
        format!(
            "POST /v1.0/bindings/<http> post ({} B) vs POST of the same bytes to the server",
            rig.json_data.len()
        ),
        &direct,
        &through,
    );
    log("latency: http through bindery's gRPC API");
    let target = Target::Grpc {
        addr: rig.sidecar.grpc,
        request: InvokeBindingRequest {
            name: "bench-http".to_owned(),
            data: rig.json_data.as_bytes().to_vec(),
            metadata: Default::default(),
            operation: "post".to_owned(),
        },
    };
    let through = rig
        .through_bindery("http-post-grpc", target, load, &rig.sidecar_and_server())
        .await?;
    let grpc_api = pair(
        "http post, gRPC API",
        format!(
            "Dapr/InvokeBinding <http> post ({} B) vs POST of the same bytes to the server (the direct run above)",
            rig.json_data.len()
        ),
        &direct,
        &through,
    );
    Ok((http_api, grpc_api))
}

/// Saturation: the `http` binding's `get` to the trivial server vs a GET to it, closed loop.
async fn saturation_pair(rig: &OutputRig<'_>) -> Result<Pair, String> {
    let load = Load::saturate(rig.opts);
    log("saturation: direct");
    let direct = load
        .run(
            &Target::Http {
                addr: rig.server_addr,
                method: Method::GET,
                path: "/out".to_owned(),
                content_type: "application/json",
                body: Bytes::new(),
            },
            std::slice::from_ref(rig.server_watch),
        )
        .await?;
    log("saturation: through bindery");
    let target = Target::http_post(
        rig.sidecar.http,
        "/v1.0/bindings/bench-http",
        Bytes::from_static(br#"{"operation":"get"}"#),
    );
    let through = rig
        .through_bindery("saturation", target, load, &rig.sidecar_and_server())
        .await?;
    Ok(pair(
        "saturation",
        format!(
            "closed loop, {} connections: POST /v1.0/bindings/<http> get vs GET to the server",
            rig.opts.sat_connections
        ),
        &direct,
        &through,
    ))
}

/// Exec-to-ready over `ready_runs` starts with one localstorage component.
struct Ready {
    ready_ms: Vec<f64>,
    median_ms: f64,
    /// RSS 1 s after the first start was ready.
    rss_idle_file_only_kib: Option<u64>,
}

async fn exec_to_ready(opts: &Options) -> Result<Ready, String> {
    log("exec-to-ready");
    let files = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = files.path().join("store");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let file_resources = files.path().join("components");
    std::fs::create_dir_all(&file_resources).map_err(|e| e.to_string())?;
    write(
        &file_resources,
        "localstorage.yaml",
        &component(
            "bench-files",
            "bindings.localstorage",
            &[("rootPath", &root.display().to_string())],
        ),
    )?;
    let mut ready_ms = Vec::new();
    let mut rss_idle_file_only_kib = None;
    for i in 0..opts.ready_runs.max(1) {
        let started = spawn_bindery(
            &opts.bindery,
            &file_resources,
            None,
            &opts.work_dir.join("bindery-ready.log"),
        )?;
        ready_ms.push(started.ready_after.as_secs_f64() * 1e3);
        if i == 0 {
            rss_idle_file_only_kib = sleep_then_rss(
                started.guard.pid(),
                secs(if opts.smoke { 0.1 } else { 1.0 }),
            )
            .await;
        }
    }
    let mut sorted = ready_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median_ms = sorted[sorted.len() / 2];
    Ok(Ready {
        ready_ms,
        median_ms,
        rss_idle_file_only_kib,
    })
}

async fn input_scenario(
    opts: &Options,
    id: &str,
    data: &str,
    server_addr: SocketAddr,
) -> Result<InputResult, String> {
    let rabbit = input::Rabbit::connect(&opts.rabbitmq_url).await?;
    let n = opts.input_messages.max(2);
    let queue = format!("bindery-bench-{id}");
    let result = async {
        log(&format!("input: direct consumer, {n} messages"));
        rabbit.preload(&queue, n, data.as_bytes()).await?;
        let direct = rabbit.drain(&queue, n, None).await?;
        log("input: direct consumer posting to the app");
        rabbit.preload(&queue, n, data.as_bytes()).await?;
        let direct_post = rabbit.drain(&queue, n, Some(server_addr)).await?;

        let run = |route: &'static str, limit: Option<&'static str>, count: usize| {
            let queue = queue.clone();
            let rabbit = &rabbit;
            async move {
                log(&format!(
                    "input: through bindery, {count} messages to {route}, maxConcurrentDeliveries {}",
                    limit.unwrap_or("unset")
                ));
                rabbit.preload(&queue, count, data.as_bytes()).await?;
                bindery_input(opts, &queue, server_addr, route, limit, count).await
            }
        };
        let sequential = run("/in-bindery", None, n).await?;
        let concurrent = run("/in-bindery", Some("8"), n).await?;
        let slow_n = (n / 10).max(2);
        let slow_1 = run("/in-slow", Some("1"), slow_n).await?;
        let slow_8 = run("/in-slow", Some("8"), slow_n).await?;
        Ok::<_, String>(InputResult {
            messages: n,
            direct_seconds: direct.as_secs_f64(),
            direct_with_post_seconds: direct_post.as_secs_f64(),
            bindery_seconds: sequential.seconds,
            bindery_delivered: sequential.delivered,
            bindery_cpu_seconds: sequential.cpu_seconds,
            bindery_rss_kib: sequential.rss_kib,
            concurrency: InputConcurrency {
                fast_8_seconds: concurrent.seconds,
                fast_8_delivered: concurrent.delivered,
                slow_messages: slow_n,
                slow_1_seconds: slow_1.seconds,
                slow_1_delivered: slow_1.delivered,
                slow_8_seconds: slow_8.seconds,
                slow_8_delivered: slow_8.delivered,
            },
        })
    }
    .await;
    rabbit.delete(&queue).await;
    rabbit.close().await;
    result
}

/// One bindery run of the input scenario.
struct BinderyInput {
    seconds: f64,
    delivered: u64,
    cpu_seconds: f64,
    rss_kib: Option<u64>,
}

/// Starts bindery with a rabbitmq input on the pre-loaded `queue` delivering to `route`
/// (`maxConcurrentDeliveries` = `limit` when given) and waits until the app saw `count`
/// messages (120 s at most).
async fn bindery_input(
    opts: &Options,
    queue: &str,
    server_addr: SocketAddr,
    route: &str,
    limit: Option<&str>,
    count: usize,
) -> Result<BinderyInput, String> {
    reset_counter(server_addr).await?;
    let resources = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut metadata = vec![
        ("host", opts.rabbitmq_url.as_str()),
        ("queueName", queue),
        ("route", route),
    ];
    if let Some(limit) = limit {
        metadata.push(("maxConcurrentDeliveries", limit));
    }
    write(
        resources.path(),
        "rabbitmq.yaml",
        &component("bench-in", "bindings.rabbitmq", &metadata),
    )?;
    let sidecar = spawn_bindery(
        &opts.bindery,
        resources.path(),
        Some(server_addr.port()),
        &opts.work_dir.join("bindery-input.log"),
    )?;
    let pid = sidecar.guard.pid();
    let _perf = Perf::attach(opts.perf_dir.as_deref(), pid, "input");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (delivered, span_us) = loop {
        let (delivered, span_us) = read_counter(server_addr).await?;
        if delivered >= count as u64 || Instant::now() > deadline {
            break (delivered, span_us);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    Ok(BinderyInput {
        seconds: span_us as f64 / 1e6,
        delivered,
        cpu_seconds: proc::cpu_seconds(pid).unwrap_or(f64::NAN),
        rss_kib: proc::rss_kib(pid),
    })
}

async fn small_request(addr: SocketAddr, method: Method, path: &str) -> Result<String, String> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn reset_counter(addr: SocketAddr) -> Result<(), String> {
    small_request(addr, Method::POST, "/__reset")
        .await
        .map(|_| ())
}

async fn read_counter(addr: SocketAddr) -> Result<(u64, u64), String> {
    let text = small_request(addr, Method::GET, "/__count").await?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok((
        v["count"].as_u64().unwrap_or(0),
        v["span_us"].as_u64().unwrap_or(0),
    ))
}

async fn delete_redis_key(addr: SocketAddr, key: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
        let command = format!("*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len());
        let _ = stream.write_all(command.as_bytes()).await;
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf).await;
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Machine {
        cpu,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel,
        rustc,
        loadavg_at_start: std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    }
}
