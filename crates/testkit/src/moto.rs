//! moto, the AWS emulator, in server mode for the AWS binding tests.
//!
//! `scripts/install-moto.sh` installs it into `${BINDERY_CACHE:-<repo>/.cache}/moto`. Each
//! [`Moto`] is its own `moto_server -H 127.0.0.1 -p <free port>` (moto keeps everything in
//! memory, so tests never see each other's buckets or queues); dropping it kills the server.
//! Outside CI a missing moto is a SKIP, under `CI=true` a failure.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Region and fake keys moto accepts.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// Where `scripts/install-moto.sh` puts `moto_server`.
pub fn moto_server_path() -> PathBuf {
    let root = std::env::var_os("BINDERY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache"));
    root.join("moto/bin/moto_server")
}

/// A running moto server on a loopback port; killed on drop.
pub struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    /// Starts a fresh server, or returns `None` (after printing SKIP) when moto is not
    /// installed outside CI. Panics under CI when it is missing or does not come up.
    pub fn start() -> Option<Self> {
        let path = moto_server_path();
        if !crate::faults::require(path.exists(), "moto (run scripts/install-moto.sh)") {
            return None;
        }
        let mut moto = Self {
            child: None,
            port: crate::free_port(),
        };
        moto.spawn();
        Some(moto)
    }

    fn spawn(&mut self) {
        let child = Command::new(moto_server_path())
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (all its state is lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The component metadata that points a binding at this server with moto's fake keys.
    pub fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("endpoint".into(), self.endpoint()),
            ("region".into(), REGION.into()),
            ("accessKey".into(), ACCESS_KEY.into()),
            ("secretKey".into(), SECRET_KEY.into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
