//! Deployment test support: a Kubernetes-style volume (the kubelet's atomic writer, as it lays
//! out ConfigMap and Secret volumes), the cache folder installers put tools in, and a throwaway
//! `redis-server` on a free port.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A folder laid out as the kubelet lays out a ConfigMap or Secret volume:
///
/// ```text
/// ..2026_12_01_09_30_00.000000001/components.yaml   the payload, one timestamped folder
/// ..data -> ..2026_12_01_09_30_00.000000001          the one symlink every update swaps
/// components.yaml -> ..data/components.yaml          one user-visible symlink per key
/// ```
///
/// [`KubeletVolume::update`] follows the kubelet's `AtomicWriter.Write`: write a new
/// timestamped folder, point `..data_tmp` at it, rename `..data_tmp` over `..data` (the atomic
/// step), add the user-visible symlinks of new keys, drop those of removed keys, then delete
/// the old timestamped folder.
pub struct KubeletVolume {
    dir: tempfile::TempDir,
    current: Option<String>,
    keys: Vec<String>,
    generation: u32,
}

impl KubeletVolume {
    pub fn new(payload: &BTreeMap<&str, String>) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            current: None,
            keys: Vec::new(),
            generation: 0,
        };
        volume.update(payload);
        volume
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The timestamped folder `..data` points at now.
    pub fn data_target(&self) -> PathBuf {
        std::fs::read_link(self.path().join("..data")).expect("..data is a symlink")
    }

    /// Replaces the whole payload the way the kubelet does.
    pub fn update(&mut self, payload: &BTreeMap<&str, String>) {
        self.generation += 1;
        let root = self.dir.path();
        let stamp = format!("..2026_12_01_09_30_00.{:09}", self.generation);
        let stamped = root.join(&stamp);
        std::fs::create_dir(&stamped).expect("timestamped folder");
        for (key, text) in payload {
            std::fs::write(stamped.join(key), text).expect("payload file");
        }
        let tmp = root.join("..data_tmp");
        std::os::unix::fs::symlink(&stamp, &tmp).expect("..data_tmp symlink");
        std::fs::rename(&tmp, root.join("..data")).expect("swap ..data");
        for key in payload.keys() {
            let visible = root.join(key);
            if std::fs::symlink_metadata(&visible).is_err() {
                std::os::unix::fs::symlink(Path::new("..data").join(key), &visible)
                    .expect("user-visible symlink");
            }
        }
        for old in &self.keys {
            if !payload.contains_key(old.as_str()) {
                let _ = std::fs::remove_file(root.join(old));
            }
        }
        self.keys = payload.keys().map(|k| (*k).to_owned()).collect();
        if let Some(previous) = self.current.replace(stamp) {
            std::fs::remove_dir_all(root.join(previous)).expect("remove the old payload");
        }
    }
}

/// Where `scripts/install-*.sh` put tools: `$BINDERY_CACHE`, else `<repo>/.cache`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("BINDERY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache"))
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repo root")
        .to_path_buf()
}

/// Finds an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A `redis-server` of its own on a free loopback port, without persistence; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// `None` when `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        let binary = which("redis-server")?;
        let port = crate::free_port();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = Self {
            child: Some(child),
            port,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Publishes every body to `queue` (default exchange), with publisher confirms: when this
/// returns, RabbitMQ holds all of them.
pub async fn amqp_publish(queue: &str, bodies: &[String]) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    let connection = Connection::connect(&crate::amqp::url(), ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("open a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("publisher confirms");
    let mut confirms = Vec::with_capacity(bodies.len());
    for body in bodies {
        confirms.push(
            channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .expect("publish"),
        );
    }
    for confirm in confirms {
        let confirmation = confirm.await.expect("confirm");
        assert!(confirmation.is_ack(), "RabbitMQ refused a message");
    }
    let _ = connection.close(200, "done".into()).await;
}

/// What a replica test counts: every id sent, by whom it was processed.
#[derive(Debug, Default)]
pub struct Shares {
    pub sent: usize,
    /// Distinct ids processed by any replica.
    pub processed: usize,
    pub lost: usize,
    /// Deliveries beyond the first of an id (redeliveries after a replica died).
    pub duplicates: usize,
    /// Distinct ids each replica processed.
    pub per_replica: Vec<usize>,
}

impl Shares {
    pub fn of(sent: &[String], received: &[Vec<String>]) -> Self {
        use std::collections::HashSet;
        let wanted: HashSet<&str> = sent.iter().map(String::as_str).collect();
        let mut all = HashSet::new();
        let mut deliveries = 0;
        let mut per_replica = Vec::new();
        for replica in received {
            let mine: HashSet<&str> = replica
                .iter()
                .map(String::as_str)
                .filter(|id| wanted.contains(id))
                .collect();
            deliveries += replica
                .iter()
                .filter(|id| wanted.contains(id.as_str()))
                .count();
            per_replica.push(mine.len());
            all.extend(mine);
        }
        Self {
            sent: sent.len(),
            processed: all.len(),
            lost: sent.len() - all.len(),
            duplicates: deliveries - all.len(),
            per_replica,
        }
    }
}

impl std::fmt::Display for Shares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent={} processed={} lost={} duplicates={} per_replica={:?}",
            self.sent, self.processed, self.lost, self.duplicates, self.per_replica
        )
    }
}
