//! Shared by the SDK tests (sdk_python.rs, sdk_js.rs): installing the pinned SDKs through
//! scripts/install-sdks.sh, component files, and running SDK scripts as child processes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_bindery");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where a test script lives: `crates/bindery/tests/sdk/<path>`.
pub fn script(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(path)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("BINDERY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache"))
}

/// Installs one SDK (`python` or `js`) and returns its folder. When that fails the test must
/// fail under CI; elsewhere it is skipped with the reason printed.
pub fn sdk(kind: &str) -> Option<PathBuf> {
    let output = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/install-sdks.sh"))
        .arg(kind)
        .stdin(Stdio::null())
        .output();
    let failure = match output {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "scripts/install-sdks.sh {kind} failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Some(format!("cannot run scripts/install-sdks.sh: {e}")),
    };
    match failure {
        None => Some(cache_dir().join("sdk").join(kind)),
        Some(reason) if std::env::var_os("CI").is_some() => panic!("{reason}"),
        Some(reason) => {
            eprintln!("SKIP: the {kind} Dapr SDK is not available: {reason}");
            None
        }
    }
}

pub fn localstorage(name: &str, root: &Path) -> String {
    bindery_testkit::components::localstorage(name, root)
}

pub fn cron(name: &str) -> String {
    bindery_testkit::components::cron(name, "@every 1s")
}

/// Runs a script to completion (within `timeout`) and returns the JSON document on its
/// `RESULT ` line; panics with everything it printed otherwise.
pub async fn run_for_result(mut command: Command, timeout: Duration) -> Value {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().expect("start the SDK script");
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .expect("the SDK script did not finish in time")
        .expect("wait for the SDK script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("RESULT is not JSON ({e}): {line}"))
}

/// A long-running SDK app, killed when dropped.
pub struct AppProcess {
    child: Child,
    log: PathBuf,
}

impl AppProcess {
    pub fn spawn(mut command: Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("create the app log");
        let err = file.try_clone().expect("clone the app log");
        command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true);
        let child = command.spawn().expect("start the SDK app");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// The JSON lines an SDK app appended to `path`.
pub fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line ({e}): {l}")))
        .collect()
}
