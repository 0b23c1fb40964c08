//! What a newcomer meets first: the README's two commands and what they promise.
//!
//! - command 1 (`scripts/example.sh`) builds with nothing but Rust and a C compiler: the
//!   dependency tree of its feature set has no native library beyond what the `cc` crate builds;
//! - it writes into the clone's `examples/hello/out/` from any folder, and Ctrl-C stops it;
//! - command 2 (`scripts/test.sh`) runs every `scripts/install-*.sh` in name order before
//!   cargo, and stops the Kafka broker it started however it ends (tests fail, Ctrl-C), while a
//!   broker it did not start is left alone;
//! - the README's binding statuses agree with the descriptors.
//!
//! The `test.sh` tests run a copy of the script in a scratch folder, with stand-ins for the
//! installers, for Tansu (a process listening on a free port) and for cargo, so they check the
//! script's own logic in seconds without building anything.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(300),
    )
    .is_ok()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `signal` to the whole process group of `child` (which leads its own group), as a
/// terminal does on Ctrl-C.
fn signal_group(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            panic!("did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The README's code block of "The two commands".
fn readme_commands() -> String {
    let readme = read("README.md");
    let section = readme
        .split("## The two commands")
        .nth(1)
        .expect("README has a section \"The two commands\"");
    let block = section.split("```sh").nth(1).expect("a sh code block");
    block.split("```").next().unwrap().to_owned()
}

#[test]
fn the_readme_commands_are_the_scripts() {
    let commands: Vec<String> = readme_commands()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(commands, ["./scripts/example.sh", "./scripts/test.sh"]);
    for script in ["scripts/example.sh", "scripts/test.sh"] {
        let mode = std::fs::metadata(repo().join(script))
            .unwrap()
            .permissions();
        assert!(mode.mode() & 0o111 != 0, "{script} is not executable");
    }
}

/// The Cargo features `scripts/example.sh` builds with.
fn example_features() -> String {
    let script = read("scripts/example.sh");
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("FEATURES="))
        .expect("FEATURES= in scripts/example.sh");
    line.trim_matches('"').to_owned()
}

/// Native (`-sys`) crates the example build may contain, each needing at most a C compiler:
/// aws-lc-sys picks its cc builder where it ships generated bindings (Linux and macOS on x86_64
/// and aarch64); the others bind system libraries every such OS has, or none at all.
const NATIVE_ALLOWED: &[&str] = &[
    "aws-lc-sys",
    "linux-raw-sys",
    "inotify-sys",
    "fsevent-sys",
    "core-foundation-sys",
    "security-framework-sys",
    "windows-sys",
];

/// The platforms the README's command 1 is promised on.
const TARGETS: &[&str] = &[
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

#[test]
fn the_example_build_needs_only_rust_and_a_c_compiler() {
    let features = example_features();
    assert!(features.contains("cron") && features.contains("localstorage"));
    let out = Command::new(env!("CARGO"))
        .current_dir(repo())
        .args([
            "tree",
            "-p",
            "bindery",
            "--no-default-features",
            "--features",
        ])
        .arg(&features)
        .args(["-e", "normal,build", "--prefix", "none"])
        .args(TARGETS.iter().flat_map(|t| ["--target", t]))
        .output()
        .expect("cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains("bindery-bindings"), "{tree}");
    for krate in [
        "rdkafka",
        "rdkafka-sys",
        "openssl-sys",
        "libz-sys",
        "zstd-sys",
    ] {
        assert!(
            !crates.contains(krate),
            "the example build pulls in {krate}"
        );
    }
    let native: Vec<&&str> = crates
        .iter()
        .filter(|c| c.ends_with("-sys") && !NATIVE_ALLOWED.contains(c))
        .collect();
    assert!(
        native.is_empty(),
        "the example build gained native dependencies {native:?}: check that each builds with \
         only a C compiler (then allow it here) or drop it from the example's features"
    );
}

fn tick_files(out: &Path) -> Vec<(PathBuf, SystemTime)> {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tick-"))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .collect()
}

/// Command 1 from a folder outside the clone: the files appear in the clone's
/// `examples/hello/out/` (and nowhere else), and Ctrl-C stops everything with exit 0.
#[test]
fn the_example_writes_into_the_clone_from_any_folder() {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = repo().join("examples/hello/out");
    let started = SystemTime::now() - Duration::from_secs(1);
    let app_port = free_port();
    let mut child = Command::new(repo().join("scripts/example.sh"))
        .current_dir(elsewhere.path())
        .env("BINDERY_BIN", BIN)
        .env("APP_PORT", app_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        let fresh: Vec<_> = tick_files(&out)
            .into_iter()
            .filter(|(_, m)| *m >= started)
            .collect();
        if !fresh.is_empty() {
            break fresh;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the example exited early: {status}");
        }
        if Instant::now() > deadline {
            signal_group(&child, "KILL");
            panic!("no tick file in {} within 30 s", out.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&fresh[0].0).unwrap();
    assert!(text.contains("\"tick\""), "{text}");
    assert!(
        std::fs::read_dir(elsewhere.path())
            .unwrap()
            .next()
            .is_none(),
        "the example wrote into the folder it was started from"
    );
    signal_group(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(15));
    // `bindery run` answers Ctrl-C with 130 (the shell's code for it); the app may win the race
    // and exit 0 first.
    assert!(matches!(status.code(), Some(0 | 130)), "Ctrl-C: {status}");
    assert!(!port_open(app_port), "the app still listens after Ctrl-C");
}

/// A scratch copy of the scripts `test.sh` uses, with stand-ins that record what happens.
struct Scratch {
    dir: tempfile::TempDir,
    port: u16,
}

const FAKE_TANSU: &str = r#"#!/usr/bin/env python3
# Stands in for Tansu: listens where --listener-url says until it is killed.
import socket, sys, time
url = sys.argv[sys.argv.index("--listener-url") + 1]
host, port = url.rsplit("/", 1)[1].split(":")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
s.listen(16)
while True:
    time.sleep(3600)
"#;

/// Stands in for cargo: records its arguments and whether the broker answered; `cargo test`
/// writes a fault scenario's line where test.sh asked (noting the file's path beside the log),
/// then exits with $FAKE_CARGO_EXIT, or sleeps for a Ctrl-C when $FAKE_CARGO_SLEEP is set.
const FAKE_CARGO: &str = r#"#!/usr/bin/env bash
if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then up=up; else up=down; fi
echo "cargo $* broker=$up" >>"$SCRATCH_LOG"
[[ "$1" == test ]] || exit 0
if [[ -n "${BINDERY_FAULTS_REPORT:-}" ]]; then
    echo "FAULTS stand-in: sent=2 delivered=2 duplicated=0 lost=0" >>"$BINDERY_FAULTS_REPORT"
    echo "$BINDERY_FAULTS_REPORT" >"$SCRATCH_LOG.report"
fi
# exec, not a child: a Ctrl-C that lands while bash forks a child `sleep` reaches bash but not
# the child, which then exits 0, and bash (and test.sh after it) takes that as handled.
if [[ -n "${FAKE_CARGO_SLEEP:-}" ]]; then exec sleep 30; fi
exit "${FAKE_CARGO_EXIT:-0}"
"#;

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["scripts", "bin", "cache/tansu/bin"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for script in ["test.sh", "start-kafka.sh", "example.sh"] {
            std::fs::copy(
                repo().join("scripts").join(script),
                root.join("scripts").join(script),
            )
            .unwrap();
        }
        // Named so that the glob's order is not the order they were created in; b is not
        // executable (a new installer someone forgot to chmod still runs).
        write(
            root,
            "scripts/install-b.sh",
            "echo install-b >>\"$SCRATCH_LOG\"\n",
            false,
        );
        write(
            root,
            "scripts/install-a.sh",
            "echo install-a >>\"$SCRATCH_LOG\"\n",
            true,
        );
        write(
            root,
            "scripts/install-c-d.sh",
            "echo install-c-d >>\"$SCRATCH_LOG\"\n",
            true,
        );
        // The per-feature checks and the fuzzing are cargo runs of their own: here stand-ins
        // that pass (the fuzzing one says it ran, and for how long).
        write(root, "scripts/check-features.sh", "exit 0\n", true);
        write(
            root,
            "scripts/fuzz.sh",
            "echo \"fuzz ${FUZZ_SECONDS}s\" >>\"$SCRATCH_LOG\"\n",
            true,
        );
        write(root, "cache/tansu/bin/tansu", FAKE_TANSU, true);
        write(root, "bin/cargo", FAKE_CARGO, true);
        Self {
            dir,
            port: free_port(),
        }
    }

    fn command(&self) -> Command {
        let root = self.dir.path();
        let mut command = Command::new(root.join("scripts/test.sh"));
        command
            .arg("--some-arg")
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    root.join("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("BINDERY_CACHE", root.join("cache"))
            .env("KAFKA_PORT", self.port.to_string())
            .env("SCRATCH_LOG", root.join("log"))
            .env_remove("FAKE_CARGO_EXIT")
            .env_remove("FAKE_CARGO_SLEEP")
            .env_remove("FUZZ_SECONDS")
            .env_remove("CHECK_FEATURES_MODE")
            .env_remove("BINDERY_FAULTS_REPORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // A Ctrl-C must reach the script even when this test runs with SIGINT ignored (started in
        // the background by a non-interactive shell): an ignored signal stays ignored across exec.
        // SAFETY: only an async-signal-safe call between fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGINT,
                    nix::sys::signal::SigHandler::SigDfl,
                )
                .map(|_| ())
                .map_err(std::io::Error::from)
            });
        }
        command
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn broker_pid(&self) -> Option<String> {
        std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("cache/tansu/broker-{}.pid", self.port)),
        )
        .ok()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Never leave a stand-in broker behind, even when an assertion failed.
        if let Some(pid) = self.broker_pid() {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

fn write(root: &Path, path: &str, text: &str, executable: bool) {
    let path = root.join(path);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn output(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn test_sh_runs_every_installer_first_and_stops_the_broker_it_started_when_tests_fail() {
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command.env("FAKE_CARGO_EXIT", "101");
    let mut child = command.spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let printed = output(child);
    assert_eq!(
        status.code(),
        Some(101),
        "cargo's failure is the script's:\n{printed}"
    );
    assert_eq!(
        scratch.log(),
        format!(
            "install-a\ninstall-b\ninstall-c-d\n\
             cargo build -p bindery --no-default-features --features {} broker=down\n\
             fuzz 30s\n\
             cargo test --workspace --all-targets --some-arg broker=up\n",
            example_features()
        ),
        "{printed}"
    );
    assert!(
        printed.contains("stop and restart"),
        "the fault tests' warning:\n{printed}"
    );
    assert!(
        !port_open(scratch.port),
        "the broker still answers:\n{printed}"
    );
    assert!(scratch.broker_pid().is_none(), "pid file left:\n{printed}");
    // The fault scenarios' counts are printed at the end, failed run or not, and their
    // temporary file removed.
    let (_, after_header) = printed
        .split_once("== fault scenarios:")
        .unwrap_or_else(|| panic!("no fault counts printed:\n{printed}"));
    assert!(
        after_header.contains("FAULTS stand-in: sent=2 delivered=2 duplicated=0 lost=0"),
        "{printed}"
    );
    let report = std::fs::read_to_string(scratch.dir.path().join("log.report")).unwrap();
    assert!(
        !std::path::Path::new(report.trim()).exists(),
        "the counts' file {report} was left behind"
    );
}

#[test]
fn test_sh_stops_the_broker_it_started_on_ctrl_c() {
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command.env("FAKE_CARGO_SLEEP", "1");
    let mut child = command.spawn().unwrap();
    wait_until("cargo test to start", Duration::from_secs(60), || {
        scratch.log().contains("cargo test")
    });
    assert!(
        port_open(scratch.port),
        "the broker is up while the tests run"
    );
    signal_group(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let printed = output(child);
    assert!(!status.success(), "{printed}");
    assert!(
        !port_open(scratch.port),
        "the broker still answers:\n{printed}"
    );
}

#[test]
fn test_sh_leaves_a_broker_it_did_not_start_alone() {
    let scratch = Scratch::new();
    let theirs = TcpListener::bind(("127.0.0.1", scratch.port)).unwrap();
    let mut child = scratch.command().spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let printed = output(child);
    assert!(status.success(), "{printed}");
    assert!(
        scratch
            .log()
            .ends_with("cargo test --workspace --all-targets --some-arg broker=up\n"),
        "{}",
        scratch.log()
    );
    assert!(printed.contains("leaving it running"), "{printed}");
    assert!(port_open(scratch.port), "someone else's broker was stopped");
    drop(theirs);
}

/// Every compiled-in binding appears in the README's compatibility table as `name` (status), or
/// `name`/`alias` (status ...), with the descriptor's status.
#[test]
fn the_readme_statuses_agree_with_the_descriptors() {
    let readme = read("README.md");
    let table = readme
        .split("## Compatibility")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Compatibility section");
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
    for d in bindery_bindings::registry() {
        let short = d.type_name.trim_start_matches("bindings.");
        let mut statuses = Vec::new();
        for row in &rows {
            statuses.extend(statuses_after(row, short));
        }
        assert!(
            !statuses.is_empty(),
            "README's compatibility table has no \"`{short}` ({})\"",
            d.status
        );
        for status in statuses {
            assert_eq!(status, d.status, "README's status of {short}");
        }
    }
}

/// The statuses written after each mention of `` `name` `` (and its `/`-joined aliases) in a row.
fn statuses_after(row: &str, name: &str) -> Vec<String> {
    let needle = format!("`{name}`");
    let mut found = Vec::new();
    let mut rest = row;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        let mut tail = rest;
        while let Some(alias) = tail.strip_prefix("/`") {
            tail = alias.split_once('`').map_or("", |(_, t)| t);
        }
        if let Some(bracket) = tail.strip_prefix(" (") {
            let word: String = bracket
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            if ["alpha", "beta", "stable"].contains(&word.as_str()) {
                found.push(word);
            }
        }
    }
    found
}
