//! Child processes: the trivial server, bindery itself, and perf when asked for.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is stopped (SIGTERM, then SIGKILL after 3 s) when dropped.
pub struct ChildGuard {
    child: Child,
    log: Option<PathBuf>,
}

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM then wait; SIGKILL if it does not exit within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fails with the end of the log when the process has exited.
    fn check_alive(&mut self, what: &str) -> Result<(), String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!("{what} exited ({status}): {}", self.log_tail()));
        }
        Ok(())
    }

    pub fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let mut text = String::new();
        if let Ok(mut f) = File::open(path) {
            let _ = f.read_to_string(&mut text);
        }
        let start = text.len().saturating_sub(2000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid we spawned ourselves and a valid signal number.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn spawn_logged(mut command: Command, log: &Path) -> Result<ChildGuard, String> {
    let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    Ok(ChildGuard {
        child,
        log: Some(log.to_owned()),
    })
}

/// Starts `bindery-bench server` and waits until it accepts connections.
pub fn spawn_server(exe: &Path, log: &Path) -> Result<(ChildGuard, SocketAddr), String> {
    let port = free_port()?;
    let mut command = Command::new(exe);
    command.args(["server", "--port", &port.to_string()]);
    let mut guard = spawn_logged(command, log)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        guard.check_alive("the bench server")?;
        if Instant::now() > deadline {
            return Err(format!("the bench server did not listen on {addr}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok((guard, addr))
}

/// A running bindery and its HTTP API address.
pub struct Bindery {
    pub guard: ChildGuard,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    /// From exec to the first `204` of `/v1.0/healthz`.
    pub ready_after: Duration,
}

/// Starts bindery on free ports with `resources` and waits until `/v1.0/healthz` answers 204.
pub fn spawn_bindery(
    bin: &Path,
    resources: &Path,
    app_port: Option<u16>,
    log: &Path,
) -> Result<Bindery, String> {
    let http_port = free_port()?;
    let grpc_port = free_port()?;
    let metrics_port = free_port()?;
    let mut command = Command::new(bin);
    command
        .args(["--app-id", "bench"])
        .args(["--dapr-http-port", &http_port.to_string()])
        .args(["--dapr-grpc-port", &grpc_port.to_string()])
        .args(["--metrics-port", &metrics_port.to_string()])
        .args(["--dapr-listen-addresses", "127.0.0.1"])
        .arg("--resources-path")
        .arg(resources)
        .env_remove("DAPR_API_TOKEN")
        .env_remove("APP_API_TOKEN")
        .env_remove("BINDERY_LOG");
    if let Some(port) = app_port {
        command.args(["--app-port", &port.to_string()]);
    }
    // Experiments: `BENCH_BINDERY_ENV="TOKIO_WORKER_THREADS=1,MALLOC_ARENA_MAX=1"` reaches bindery
    // only, not the load generator or the server.
    if let Ok(extra) = std::env::var("BENCH_BINDERY_ENV") {
        for pair in extra.split(',').filter(|p| !p.trim().is_empty()) {
            if let Some((k, v)) = pair.split_once('=') {
                command.env(k.trim(), v.trim());
            }
        }
    }
    let http = SocketAddr::from(([127, 0, 0, 1], http_port));
    let started = Instant::now();
    let mut guard = spawn_logged(command, log)?;
    let deadline = started + Duration::from_secs(30);
    loop {
        if healthz(http) == Some(204) {
            break;
        }
        guard.check_alive("bindery")?;
        if Instant::now() > deadline {
            return Err(format!(
                "bindery was not ready within 30 s: {}",
                guard.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(Bindery {
        ready_after: started.elapsed(),
        guard,
        http,
        grpc: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
    })
}

/// The status of `GET /v1.0/healthz`, or None when nothing answers.
fn healthz(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream
        .write_all(b"GET /v1.0/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `perf record -g` attached to a process until dropped (SIGINT lets perf write its file).
pub struct Perf(Option<ChildGuard>);

impl Perf {
    /// Attaches when `dir` is given; a perf that cannot start is reported and skipped.
    pub fn attach(dir: Option<&Path>, pid: u32, name: &str) -> Self {
        let Some(dir) = dir else { return Perf(None) };
        let _ = std::fs::create_dir_all(dir);
        let mut command = Command::new("perf");
        command
            .args([
                "record",
                "-F",
                "499",
                "--call-graph",
                "dwarf,8192",
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(dir.join(format!("{name}.perf.data")));
        match spawn_logged(command, &dir.join(format!("{name}.perf.log"))) {
            Ok(guard) => Perf(Some(guard)),
            Err(e) => {
                eprintln!("perf not started: {e}");
                Perf(None)
            }
        }
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        if let Some(guard) = &mut self.0 {
            signal(guard.pid(), libc::SIGINT);
            guard.stop(Duration::from_secs(20));
        }
    }
}
