//! Throwaway servers for fault tests. Each [`Instance`] is a real server process of its own
//! (`redis-server`, `mosquitto`, `nats-server`, PostgreSQL, MariaDB, a second RabbitMQ node, or
//! Tansu for Kafka) on free loopback ports, with its data in a temporary folder. A Tansu broker
//! may advertise another address than its own, such as a fault proxy's in front of it
//! ([`Instance::start_kafka_advertising`], [`Instance::kafka_bypass`]). A test may stop
//! it for real ([`Instance::stop`], [`Instance::kill`]) and start it again on the same port
//! with what it persisted ([`Restore::start`]); the machine's shared servers are never touched.
//! Dropping the last handle kills the process group (also on panic) and removes the folder.
//!
//! Every start prints a `SERVER <name> …` line with how long it took (also appended to
//! `$BINDERY_FAULTS_REPORT`), so start-up cost stays visible in CI logs.
//!
//! A missing server binary fails the test under CI and prints `SKIP` elsewhere
//! ([`crate::require`]); `scripts/services.sh` and the Debian packages on the CI machine provide
//! them all (Tansu comes from `scripts/install-tansu.sh`).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Which server an [`Instance`] runs, and how it keeps data across a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `redis-server` without persistence: a stop forgets every key.
    Redis,
    /// `redis-server` with an append-only file fsynced on every write: whatever it
    /// acknowledged survives a stop (and a SIGKILL).
    RedisDurable,
    /// `mosquitto` with persistence (saved on a stop: retained messages, persistent sessions).
    Mosquitto,
    /// `nats-server` with JetStream; streams and consumers live in its store folder.
    Nats,
    /// PostgreSQL (`initdb`, then `postgres` as the `postgres` user), trust auth, a `test`
    /// database.
    Postgres,
    /// MariaDB (`mariadb-install-db`, then `mariadbd`), `root` without a password, a `test`
    /// database.
    MariaDb,
    /// A second RabbitMQ node (own node name, ports, mnesia and config), user `guest`/`guest`;
    /// durable queues and persistent messages survive a stop.
    RabbitMq,
    /// Tansu with memory storage: a stop forgets topics, records and group offsets.
    Kafka,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Redis | Self::RedisDurable => "redis",
            Self::Mosquitto => "mosquitto",
            Self::Nats => "nats",
            Self::Postgres => "postgres",
            Self::MariaDb => "mariadb",
            Self::RabbitMq => "rabbitmq",
            Self::Kafka => "kafka",
        }
    }

    /// The server binary, if installed.
    fn program(self) -> Option<PathBuf> {
        let found = match self {
            Self::Redis | Self::RedisDurable => which("redis-server"),
            Self::Mosquitto => which("mosquitto").or_else(|| existing("/usr/sbin/mosquitto")),
            Self::Nats => which("nats-server").or_else(|| existing("/usr/sbin/nats-server")),
            Self::Postgres => postgres_bin().map(|b| b.join("postgres")),
            Self::MariaDb => which("mariadbd").or_else(|| existing("/usr/sbin/mariadbd")),
            Self::RabbitMq => existing(RABBITMQ_SERVER).filter(|_| which("rabbitmqctl").is_some()),
            Self::Kafka => existing(crate::notify::cache_dir().join("tansu/bin/tansu")),
        };
        found.filter(|p| p.is_file())
    }

    fn install_hint(self) -> &'static str {
        match self {
            Self::Redis | Self::RedisDurable => "redis-server (Debian redis-server)",
            Self::Mosquitto => "mosquitto (Debian mosquitto)",
            Self::Nats => "nats-server (Debian nats-server)",
            Self::Postgres => "initdb and postgres (Debian postgresql)",
            Self::MariaDb => "mariadb-install-db and mariadbd (Debian mariadb-server)",
            Self::RabbitMq => "rabbitmq-server and rabbitmqctl (Debian rabbitmq-server)",
            Self::Kafka => "tansu (scripts/install-tansu.sh)",
        }
    }
}

const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// The server binary of `kind`, or `None` after [`crate::require`]'s `SKIP` (fails under CI).
fn required_program(kind: Kind) -> Option<PathBuf> {
    let program = kind.program();
    if !crate::require(program.is_some(), kind.install_hint()) {
        return None;
    }
    program
}

fn temp_dir(kind: Kind) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bindery-{}-", kind.name()))
        .tempdir()
        .expect("temp dir")
}

/// A server of the test's own; clones share the one process. See the module docs.
#[derive(Clone)]
pub struct Instance(Arc<Inner>);

struct Inner {
    kind: Kind,
    port: u16,
    /// RabbitMQ's node name (`rabbitmqctl -n`); empty for the others.
    node: String,
    launch: Launch,
    child: Mutex<Option<Child>>,
    dir: tempfile::TempDir,
}

/// How to run the server process, once its folder is prepared.
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    /// Runs it as this user (PostgreSQL refuses root; RabbitMQ owns its files).
    user: Option<&'static str>,
    /// `Some`: the environment is cleared and only these are set.
    env: Option<Vec<(&'static str, OsString)>>,
}

impl Instance {
    /// Prepares a folder, starts the server on free loopback ports and waits until it accepts
    /// connections. `None` (after `SKIP`) when its binary is missing outside CI; fails under CI.
    pub fn start(kind: Kind) -> Option<Self> {
        let program = required_program(kind)?;
        let began = Instant::now();
        let dir = temp_dir(kind);
        let [port, dist_port] = crate::free_ports();
        let node = if kind == Kind::RabbitMq {
            format!("bindery-{}-{port}@localhost", std::process::id())
        } else {
            String::new()
        };
        let launch = prepare(kind, program, dir.path(), port, dist_port, &node);
        Some(Self::launch(kind, port, node, launch, dir, began, ""))
    }

    /// Tansu ([`Kind::Kafka`]) listening on `127.0.0.1:<port>` but advertising `advertised` in
    /// its metadata. A Kafka client talks to the broker address the broker advertises, wherever
    /// it bootstrapped, so a [`crate::faultproxy::FaultProxy`] in front of Tansu is only on the
    /// path when Tansu advertises the proxy: pick `port` with [`crate::free_port`], start the
    /// proxy towards `127.0.0.1:<port>` (it connects upstream per connection, so Tansu need not
    /// run yet), then start Tansu advertising the proxy's address. For a way in that bypasses
    /// `advertised`, see [`Instance::kafka_bypass`]. `None` as [`Instance::start`].
    pub fn start_kafka_advertising(port: u16, advertised: SocketAddr) -> Option<Self> {
        let program = required_program(Kind::Kafka)?;
        let began = Instant::now();
        let dir = temp_dir(Kind::Kafka);
        let launch = tansu_broker(program, port, &format!("tcp://{advertised}"));
        let label = format!(" (advertising {advertised})");
        Some(Self::launch(
            Kind::Kafka,
            port,
            String::new(),
            launch,
            dir,
            began,
            &label,
        ))
    }

    /// A second way into this Tansu broker that does not follow the address it advertises: a
    /// `tansu proxy` on a free port that forwards to the broker's own port and rewrites the
    /// broker addresses in Metadata and FindCoordinator answers to its own. With a broker from
    /// [`Instance::start_kafka_advertising`], clients bootstrapping at the bypass's
    /// [`Instance::address`] reach the broker while the fault proxy is broken. Its own
    /// [`Instance`] (kind [`Kind::Kafka`]; a stop stops only the bypass).
    pub fn kafka_bypass(&self) -> Self {
        assert_eq!(
            self.kind(),
            Kind::Kafka,
            "kafka_bypass needs a Tansu broker"
        );
        let began = Instant::now();
        let dir = temp_dir(Kind::Kafka);
        let port = crate::free_port();
        let own = format!("tcp://127.0.0.1:{port}");
        let origin = format!("tcp://{}", self.address());
        let args = [
            "proxy",
            "--listener-url",
            &own,
            "--advertised-listener-url",
            &own,
            "--origin-url",
            &origin,
        ];
        let launch = Launch::new(
            self.0.launch.program.clone(),
            args.iter().map(OsString::from).collect(),
        );
        let label = format!(" (tansu proxy to {})", self.address());
        Self::launch(Kind::Kafka, port, String::new(), launch, dir, began, &label)
    }

    /// Spawns a prepared server, waits until it accepts connections and reports the start.
    fn launch(
        kind: Kind,
        port: u16,
        node: String,
        launch: Launch,
        dir: tempfile::TempDir,
        began: Instant,
        label: &str,
    ) -> Self {
        let instance = Self(Arc::new(Inner {
            kind,
            port,
            node,
            launch,
            child: Mutex::new(None),
            dir,
        }));
        let prepared = began.elapsed();
        let booted = instance.spawn_and_wait().unwrap_or_else(|e| panic!("{e}"));
        after_first_start(&instance);
        note(&format!(
            "SERVER {} on {}{label}: prepared in {:.2}s, accepting connections {:.2}s after spawn, ready {:.2}s after the test asked",
            kind.name(),
            instance.address(),
            prepared.as_secs_f64(),
            booted.as_secs_f64(),
            began.elapsed().as_secs_f64(),
        ));
        instance
    }

    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// `127.0.0.1:<port>` (Redis' `redisHost`, Kafka's `brokers`).
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.0.port)
    }

    /// What a component's connection field takes: `redis://…`, MQTT `tcp://…`, `nats://…`,
    /// a PostgreSQL key=value string, a Go MySQL DSN (`root@tcp(…)/test`), `amqp://guest:guest@…`,
    /// or Kafka's `host:port`.
    pub fn url(&self) -> String {
        let port = self.0.port;
        match self.0.kind {
            Kind::Redis | Kind::RedisDurable => format!("redis://127.0.0.1:{port}"),
            Kind::Mosquitto => format!("tcp://127.0.0.1:{port}"),
            Kind::Nats => format!("nats://127.0.0.1:{port}"),
            Kind::Postgres => format!("host=127.0.0.1 port={port} user=postgres dbname=test"),
            Kind::MariaDb => format!("root@tcp(127.0.0.1:{port})/test"),
            Kind::RabbitMq => format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            Kind::Kafka => self.address(),
        }
    }

    /// Its temporary folder (data, config and `server.log`).
    pub fn dir(&self) -> &Path {
        self.0.dir.path()
    }

    /// Accepts TCP connections on its port.
    pub fn up(&self) -> bool {
        port_open(self.0.port)
    }

    /// Stops the server the way its own tools do (SIGTERM; PostgreSQL's fast shutdown;
    /// `rabbitmqctl -n <node> stop`), so it saves what it persists, and waits until the process
    /// is gone. The returned guard starts it again on the same port when dropped.
    pub fn stop(&self) -> Restore {
        match self.0.kind {
            Kind::RabbitMq => {
                let stopped = run_ok("rabbitmqctl", &["-q", "-n", &self.0.node, "stop"]);
                assert!(stopped, "rabbitmqctl -n {} stop", self.0.node);
            }
            Kind::Postgres => self.signal("INT", false),
            _ => self.signal("TERM", false),
        }
        self.wait_gone(Duration::from_secs(60));
        Restore(Some(self.clone()))
    }

    /// SIGKILLs the server's processes (no shutdown, no save) and waits until they are gone.
    /// The returned guard starts it again on the same port when dropped.
    pub fn kill(&self) -> Restore {
        self.signal("KILL", true);
        self.wait_gone(Duration::from_secs(30));
        Restore(Some(self.clone()))
    }

    /// Stops it and starts it again; returns when it accepts connections.
    pub fn restart(&self) -> Instant {
        self.stop().start()
    }

    /// The last `n` lines of the server's output, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let mut text = std::fs::read_to_string(self.dir().join("server.log")).unwrap_or_default();
        if self.0.kind == Kind::RabbitMq {
            let log = self.dir().join(format!("log/{}.log", self.0.node));
            text.push_str(&std::fs::read_to_string(log).unwrap_or_default());
        }
        crate::faults::tail(&text, n)
    }

    /// Spawns the process and waits until its port accepts connections; how long that took.
    fn spawn_and_wait(&self) -> Result<Duration, String> {
        let inner = &self.0;
        let name = inner.kind.name();
        let began = Instant::now();
        let mut child_slot = inner.child.lock();
        if let Some(child) = child_slot.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            return Ok(Duration::ZERO);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("server.log"))
            .map_err(|e| format!("{name} log file: {e}"))?;
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        let child = inner
            .launch
            .command(self.dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn {name}: {e}"))?;
        let child = child_slot.insert(child);
        let deadline = began + Duration::from_secs(120);
        while !self.up() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{name} exited ({status}) before accepting connections on {}:\n{}",
                    self.address(),
                    self.log_tail(40)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} did not accept connections on {} within 120 s:\n{}",
                    self.address(),
                    self.log_tail(40)
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(began.elapsed())
    }

    /// Sends `sig` to the server process, or to its whole process group (whatever it forked).
    fn signal(&self, sig: &str, group: bool) {
        if let Some(child) = self.0.child.lock().as_ref() {
            let target = if group {
                format!("-{}", child.id())
            } else {
                child.id().to_string()
            };
            let _ = run_ok("kill", &[&format!("-{sig}"), "--", &target]);
        }
    }

    /// Waits for the process to exit (SIGKILL after `grace`) and the port to close.
    fn wait_gone(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        if let Some(mut child) = self.0.child.lock().take() {
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = run_ok("kill", &["-KILL", "--", &format!("-{}", child.id())]);
                    let _ = child.wait();
                    panic!(
                        "{} did not stop within {grace:?}:\n{}",
                        self.0.kind.name(),
                        self.log_tail(40)
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Children of the group (RabbitMQ's beam under its start script) may outlive it a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.up() {
            assert!(
                Instant::now() < deadline,
                "{} still listens after its process exited",
                self.0.kind.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.get_mut().take() {
            let _ = run_ok("kill", &["-KILL", "--", &format!("-{}", child.id())]);
            let _ = child.wait();
        }
    }
}

/// Starts its [`Instance`] again (same port, same folder) when dropped, or now with
/// [`Restore::start`]. While the test is panicking it does nothing: the instance is about to
/// be removed anyway.
#[must_use = "dropping the guard starts the server again at once"]
pub struct Restore(Option<Instance>);

impl Restore {
    /// Starts the server now; returns the moment it accepted connections again.
    pub fn start(mut self) -> Instant {
        let instance = self.0.take().expect("instance");
        let took = instance.spawn_and_wait().unwrap_or_else(|e| panic!("{e}"));
        note(&format!(
            "SERVER {} on {}: started again, accepting connections after {:.2}s",
            instance.kind().name(),
            instance.address(),
            took.as_secs_f64()
        ));
        Instant::now()
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(instance) = self.0.take()
            && !std::thread::panicking()
        {
            Restore(Some(instance)).start();
        }
    }
}

impl Launch {
    fn new(program: PathBuf, args: Vec<OsString>) -> Self {
        Self {
            program,
            args,
            user: None,
            env: None,
        }
    }

    fn command(&self, dir: &Path) -> Command {
        let mut command = match self.user {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={user}"),
                    format!("--regid={user}"),
                    "--init-groups".to_owned(),
                    "--".to_owned(),
                ]);
                c.arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        command.args(&self.args).current_dir(dir);
        if let Some(env) = &self.env {
            command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        // Its own process group, so a stop or kill reaches everything it forked.
        command.process_group(0);
        command
    }
}

/// Writes the server's config and data folder under `dir` and says how to run it.
fn prepare(
    kind: Kind,
    program: PathBuf,
    dir: &Path,
    port: u16,
    dist_port: u16,
    node: &str,
) -> Launch {
    let p = port.to_string();
    let args = |list: &[&str]| -> Vec<OsString> { list.iter().map(OsString::from).collect() };
    match kind {
        Kind::Redis | Kind::RedisDurable => {
            let aof = if kind == Kind::RedisDurable {
                "yes"
            } else {
                "no"
            };
            let mut a = args(&["--port", &p, "--bind", "127.0.0.1", "--dir"]);
            a.push(dir.into());
            a.extend(args(&[
                "--save",
                "",
                "--appendonly",
                aof,
                "--appendfsync",
                "always",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ]));
            Launch::new(program, a)
        }
        Kind::Mosquitto => {
            let config = dir.join("mosquitto.conf");
            let text = format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n\
                 persistence_location {}/\nlog_dest stderr\n",
                dir.display()
            );
            std::fs::write(&config, text).expect("mosquitto.conf");
            Launch::new(program, vec!["-c".into(), config.into()])
        }
        Kind::Nats => {
            let mut a = args(&["-a", "127.0.0.1", "-p", &p, "-js", "-sd"]);
            a.push(dir.join("jetstream").into());
            Launch::new(program, a)
        }
        Kind::Postgres => prepare_postgres(program, dir, port),
        Kind::MariaDb => prepare_mariadb(program, dir, port),
        Kind::RabbitMq => prepare_rabbitmq(program, dir, port, dist_port, node),
        Kind::Kafka => tansu_broker(program, port, &format!("tcp://127.0.0.1:{port}")),
    }
}

/// Tansu with memory storage on `127.0.0.1:<port>`, advertising `advertised` (a `tcp://` URL).
fn tansu_broker(program: PathBuf, port: u16, advertised: &str) -> Launch {
    let listener = format!("tcp://127.0.0.1:{port}");
    let args = [
        "broker",
        "--listener-url",
        &listener,
        "--advertised-listener-url",
        advertised,
        "--storage-engine",
        "memory://tansu/",
    ];
    Launch::new(program, args.iter().map(OsString::from).collect())
}

/// `initdb` as the `postgres` user into `dir/data` (PostgreSQL refuses to run as root).
fn prepare_postgres(program: PathBuf, dir: &Path, port: u16) -> Launch {
    chown(dir, "postgres");
    let data = dir.join("data");
    let bin = program.parent().expect("postgres bin dir").to_path_buf();
    let mut initdb = Launch::new(
        bin.join("initdb"),
        vec![
            "-D".into(),
            data.clone().into(),
            "-U".into(),
            "postgres".into(),
            "--auth=trust".into(),
            "--no-sync".into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C.UTF-8".into(),
        ],
    );
    initdb.user = Some("postgres");
    run_to_log(initdb.command(dir), dir, "initdb");
    let mut launch = Launch::new(
        program,
        vec![
            "-D".into(),
            data.into(),
            "-p".into(),
            port.to_string().into(),
            "-k".into(),
            dir.into(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            // A stop is a clean shutdown (checkpoint); nothing here survives a machine crash.
            "-c".into(),
            "fsync=off".into(),
        ],
    );
    launch.user = Some("postgres");
    launch
}

/// `mariadb-install-db` into `dir/data`, `root@localhost`/`127.0.0.1` without a password.
fn prepare_mariadb(program: PathBuf, dir: &Path, port: u16) -> Launch {
    let data = dir.join("data");
    let mut install = Command::new("mariadb-install-db");
    install
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-name-resolve",
            "--skip-test-db",
            // Several bootstraps at once can run out of the kernel's AIO contexts (aio-max-nr).
            "--innodb-use-native-aio=0",
        ]);
    run_to_log(install, dir, "mariadb-install-db");
    let mut a: Vec<OsString> = vec!["--no-defaults".into()];
    a.push(format!("--datadir={}", data.display()).into());
    a.push("--innodb-use-native-aio=0".into());
    a.push(format!("--socket={}", dir.join("mysqld.sock").display()).into());
    a.push(format!("--pid-file={}", dir.join("mysqld.pid").display()).into());
    for flag in [
        format!("--port={port}"),
        "--bind-address=127.0.0.1".to_owned(),
        "--user=root".to_owned(),
        "--skip-name-resolve".to_owned(),
        "--skip-log-bin".to_owned(),
        "--innodb-buffer-pool-size=32M".to_owned(),
    ] {
        a.push(flag.into());
    }
    Launch::new(program, a)
}

/// A second RabbitMQ node: its own node name, AMQP and distribution ports, config (the
/// machine's `/etc/rabbitmq` pins 127.0.0.1:5672), mnesia, logs, plugins (none: the shared
/// node's management port would clash) and feature flags, in a folder the `rabbitmq` user
/// owns (the node runs as that user and shares its Erlang cookie with `rabbitmqctl`).
fn prepare_rabbitmq(program: PathBuf, dir: &Path, port: u16, dist_port: u16, node: &str) -> Launch {
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    };
    write(
        "rabbitmq.conf",
        format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"),
    );
    write("enabled_plugins", "[].\n".to_owned());
    write("rabbitmq-env.conf", String::new());
    chown(dir, "rabbitmq");
    let path = |name: &str| -> OsString { dir.join(name).into() };
    let env = vec![
        ("PATH", OsString::from("/usr/sbin:/usr/bin:/sbin:/bin")),
        ("HOME", OsString::from("/var/lib/rabbitmq")),
        ("LANG", OsString::from("C.UTF-8")),
        ("RABBITMQ_NODENAME", OsString::from(node)),
        ("RABBITMQ_NODE_PORT", OsString::from(port.to_string())),
        ("RABBITMQ_DIST_PORT", OsString::from(dist_port.to_string())),
        ("RABBITMQ_CONFIG_FILE", path("rabbitmq")),
        ("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf")),
        ("RABBITMQ_MNESIA_BASE", path("mnesia")),
        ("RABBITMQ_LOG_BASE", path("log")),
        ("RABBITMQ_FEATURE_FLAGS_FILE", path("feature_flags")),
        ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
        ("RABBITMQ_PLUGINS_EXPAND_DIR", path("plugins-expand")),
        ("ERL_EPMD_ADDRESS", OsString::from("127.0.0.1")),
        (
            "ERL_FLAGS",
            OsString::from("-kernel inet_dist_use_interface {127,0,0,1}"),
        ),
    ];
    let mut launch = Launch::new(program, Vec::new());
    launch.user = Some("rabbitmq");
    launch.env = Some(env);
    launch
}

/// One-time set-up once the server first accepts connections: the `test` databases.
fn after_first_start(instance: &Instance) {
    let port = instance.port().to_string();
    match instance.kind() {
        Kind::Postgres => {
            let bin = postgres_bin().expect("postgres bin dir");
            let createdb = bin.join("createdb");
            let args = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "test"];
            // Listening comes a moment before accepting sessions.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !run_ok(createdb.to_str().unwrap_or("createdb"), &args) {
                assert!(
                    Instant::now() < deadline,
                    "createdb test:\n{}",
                    instance.log_tail(20)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Kind::MariaDb => {
            let created = run_ok(
                "mariadb",
                &[
                    "-uroot",
                    "-h127.0.0.1",
                    &format!("-P{port}"),
                    "-e",
                    "CREATE DATABASE IF NOT EXISTS test",
                ],
            );
            assert!(created, "CREATE DATABASE test:\n{}", instance.log_tail(20));
        }
        _ => {}
    }
}

/// Runs a set-up command with its output appended to `dir/server.log`; panics with it on failure.
fn run_to_log(mut command: Command, dir: &Path, what: &str) {
    let log_path = dir.join("server.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("server.log");
    let stderr = log.try_clone().expect("server.log");
    let status = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .status()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!(
            "{what} failed ({status}):\n{}",
            crate::faults::tail(&text, 30)
        );
    }
}

/// Gives `dir` (and what is in it) to `user`.
fn chown(dir: &Path, user: &str) {
    let ok = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:{user}"))
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown -R {user} {}", dir.display());
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`, else the folder of the
/// `initdb` on `PATH`.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).or_else(|| {
        which("initdb")?
            .canonicalize()
            .ok()?
            .parent()
            .map(Path::to_path_buf)
    })
}

fn which(name: &str) -> Option<PathBuf> {
    crate::deploy::which(name)
}

fn existing(path: impl Into<PathBuf>) -> Option<PathBuf> {
    Some(path.into()).filter(|p: &PathBuf| p.exists())
}

fn port_open(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn run_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn note(line: &str) {
    crate::faults::note(line);
}
