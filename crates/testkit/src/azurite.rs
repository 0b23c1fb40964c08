//! Azurite, Microsoft's Azure Storage emulator, as a test-owned process: started on free
//! loopback ports with its data in a temporary folder, stopped when dropped, and restartable
//! on the same ports and data for outage tests.
//!
//! The binary comes from `scripts/install-azurite.sh` (npm into
//! `${BINDERY_CACHE:-<repo>/.cache}/azurite`). Missing, the tests print `SKIP` outside CI and
//! fail under `CI=true` ([`crate::faults::require`]).
//!
//! Azurite ignores SIGTERM; it closes cleanly (saving its data) on SIGINT within about two
//! seconds. Stopping sends SIGINT, waits a short grace period, then SIGKILLs.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Its published key (not a secret).
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const GRACE: Duration = Duration::from_secs(4);
const START_WITHIN: Duration = Duration::from_secs(90);

/// Where the installer puts the `azurite` launcher.
pub fn binary() -> PathBuf {
    let cache = std::env::var_os("BINDERY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache")));
    cache.join("azurite/node_modules/.bin/azurite")
}

/// A running Azurite (blob, queue and table services).
pub struct Azurite {
    child: Option<Child>,
    pub blob_port: u16,
    pub queue_port: u16,
    table_port: u16,
    dir: tempfile::TempDir,
    starts: u32,
}

impl Azurite {
    /// Starts Azurite, or returns `None` (SKIP, or a failure under CI) when it is not installed.
    pub fn require() -> Option<Self> {
        let bin = binary();
        if !crate::faults::require(
            bin.exists(),
            &format!(
                "Azurite ({}; run scripts/install-azurite.sh)",
                bin.display()
            ),
        ) {
            return None;
        }
        Some(Self::start())
    }

    /// Starts Azurite on free ports; panics when it does not come up within 90 s.
    pub fn start() -> Self {
        let mut azurite = Self {
            child: None,
            blob_port: crate::free_port(),
            queue_port: crate::free_port(),
            table_port: crate::free_port(),
            dir: tempfile::tempdir().expect("temp dir for Azurite"),
            starts: 0,
        };
        azurite.spawn();
        azurite
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.path().join(format!("azurite-{}.log", self.starts)))
                .expect("Azurite log file");
        let child = Command::new(binary())
            .arg("--location")
            .arg(self.dir.path().join("data"))
            .args(["--blobHost", "127.0.0.1", "--blobPort"])
            .arg(self.blob_port.to_string())
            .args(["--queueHost", "127.0.0.1", "--queuePort"])
            .arg(self.queue_port.to_string())
            .args(["--tableHost", "127.0.0.1", "--tablePort"])
            .arg(self.table_port.to_string())
            .args(["--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start azurite");
        self.child = Some(child);
        // Alone it listened within 11.5 s at load 14 on two cores; four starting at once took more
        // than 30 s.
        let deadline = Instant::now() + START_WITHIN;
        while !(self.port_open(self.blob_port) && self.port_open(self.queue_port)) {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("Azurite exited at start ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "Azurite did not listen within {START_WITHIN:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn port_open(&self, port: u16) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    }

    /// `http://127.0.0.1:<blob port>`, the `endpoint` for blobstorage components.
    pub fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.blob_port)
    }

    /// `http://127.0.0.1:<queue port>`, the `queueEndpoint` for storagequeues components.
    pub fn queue_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.queue_port)
    }

    /// A connection string for the blob service.
    pub fn blob_connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={}/{ACCOUNT};",
            self.blob_endpoint()
        )
    }

    /// Whether both services accept connections.
    pub fn is_up(&self) -> bool {
        self.port_open(self.blob_port) && self.port_open(self.queue_port)
    }

    /// What Azurite printed since its last start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("azurite-{}.log", self.starts)))
            .unwrap_or_default()
    }

    /// Stops Azurite: SIGINT (it saves its data and closes), SIGKILL after a grace period.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        crate::faults::signal(child.id(), "INT");
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops and starts Azurite again on the same ports and data; returns when it listens.
    pub fn restart(&mut self, down: Duration) {
        self.stop();
        std::thread::sleep(down);
        self.spawn();
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}
