//! Real servers for the "reaching people" bindings, each started on a free loopback port by the
//! test that needs it and stopped when dropped:
//! - [`SmtpServer`]: aiosmtpd (plain, STARTTLS or implicit TLS; optional AUTH), recording every
//!   message it accepts as JSON;
//! - [`GraphqlServer`]: a GraphQL schema served by graphql-core (the reference implementation);
//! - [`Sshd`]: OpenSSH's sshd with a private config, its own host key and `internal-sftp`.
//!
//! The Python servers run from the venv `scripts/install-pytools.sh` makes under
//! `${BINDERY_CACHE:-<repo>/.cache}/pytools`; sshd is Debian's (`scripts/install-sshd.sh`).
//! A missing tool fails under CI and prints SKIP elsewhere ([`crate::faults::require`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (this crate is `crates/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$BINDERY_CACHE`, else `<repo>/.cache`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("BINDERY_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache"))
}

/// The pytools venv's python when it can import `module`.
pub fn pytools_python(module: &str) -> Option<PathBuf> {
    let python = cache_dir().join("pytools/bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn server_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("servers")
        .join(name)
}

/// Waits for a child to print `READY` on stdout; the rest of its stdout is drained.
fn wait_ready(child: &mut Child, what: &str) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            if line.is_ok_and(|l| l.trim() == "READY") {
                let _ = tx.send(());
                break;
            }
        }
        for _ in lines {}
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        panic!("{what} did not start (see its stderr above)");
    }
}

fn stop(child: &mut Child) {
    let _ = crate::faults::signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// SMTP

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// No TLS at all.
    Plain,
    /// Plain connection that offers STARTTLS.
    StartTls,
    /// TLS from the first byte (what port 465 means).
    ImplicitTls,
}

#[derive(Debug, Clone)]
pub struct SmtpOptions {
    pub mode: SmtpMode,
    /// PEM certificate and key files (required for the TLS modes).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Offer AUTH PLAIN/LOGIN and require it for mail.
    pub auth: Option<(String, String)>,
    /// Allow AUTH on an unencrypted session (aiosmtpd refuses it by default).
    pub auth_without_tls: bool,
    /// Listen on this port instead of a free one (465 needs it).
    pub port: Option<u16>,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        Self {
            mode: SmtpMode::Plain,
            tls: None,
            auth: None,
            auth_without_tls: false,
            port: None,
        }
    }
}

/// aiosmtpd on a loopback port; [`SmtpServer::messages`] reads what it accepted.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    outdir: tempfile::TempDir,
}

impl SmtpServer {
    /// `None` (after printing SKIP) when aiosmtpd is not installed outside CI.
    pub fn start(options: SmtpOptions) -> Option<Self> {
        let python = pytools_python("aiosmtpd");
        if !crate::faults::require(python.is_some(), "aiosmtpd (scripts/install-pytools.sh)") {
            return None;
        }
        let outdir = tempfile::tempdir().expect("temp dir");
        let port = options.port.unwrap_or_else(crate::free_port);
        let mode = match options.mode {
            SmtpMode::Plain => "plain",
            SmtpMode::StartTls => "starttls",
            SmtpMode::ImplicitTls => "tls",
        };
        let mut cmd = Command::new(python.expect("python"));
        cmd.arg(server_script("smtp_server.py"))
            .args(["--port", &port.to_string(), "--mode", mode])
            .arg("--outdir")
            .arg(outdir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((cert, key)) = &options.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &options.auth {
            cmd.args(["--user", user, "--password", password]);
        }
        if options.auth_without_tls {
            cmd.arg("--auth-without-tls");
        }
        let mut child = cmd.spawn().expect("start the SMTP server");
        wait_ready(&mut child, "aiosmtpd");
        Some(Self {
            port,
            child,
            outdir,
        })
    }

    /// Every message accepted so far, oldest first (see `servers/smtp_server.py` for the shape).
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.outdir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The value of header `name` (case-insensitive) in a recorded message.
pub fn header<'a>(message: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    message["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|h| h[1].as_str())
}

// ---------------------------------------------------------------------------------------------
// GraphQL

/// graphql-core behind a small HTTP server (`servers/graphql_server.py`): a schema with
/// queries, mutations, variables, errors and an echo of the request's headers.
pub struct GraphqlServer {
    pub port: u16,
    child: Child,
}

impl GraphqlServer {
    /// `None` (after printing SKIP) when graphql-core is not installed outside CI.
    pub fn start() -> Option<Self> {
        let python = pytools_python("graphql");
        if !crate::faults::require(
            python.is_some(),
            "graphql-core (scripts/install-pytools.sh)",
        ) {
            return None;
        }
        let port = crate::free_port();
        let mut child = Command::new(python.expect("python"))
            .arg(server_script("graphql_server.py"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the GraphQL server");
        wait_ready(&mut child, "the GraphQL server");
        Some(Self { port, child })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for GraphqlServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------------
// sshd

const SSHD: &str = "/usr/sbin/sshd";

fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "bindery-test",
            "-f",
        ])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen -t {kind}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A local user with a random password, for password authentication; deleted on drop.
pub struct TestUser {
    pub name: String,
    pub password: String,
}

impl TestUser {
    fn create(home: &Path) -> Self {
        remove_stale_users();
        let suffix = &uuid_hex()[..10];
        let name = format!("bsftp{suffix}");
        let password = format!("pw-{}", uuid_hex());
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", "--home-dir"])
            .arg(home)
            .arg(&name)
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name}");
        let user = Self { name, password };
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("run chpasswd");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{}:{}\n", user.name, user.password).as_bytes())
            .expect("write to chpasswd");
        assert!(child.wait().is_ok_and(|s| s.success()), "chpasswd");
        user
    }
}

/// Deletes test users left by a run that was killed: their home (a test's temp dir) is gone.
/// A live test's user still has its home, so concurrent tests are left alone.
fn remove_stale_users() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let [name, _, _, _, _, home, ..] = fields.as_slice()
            && name.starts_with("bsftp")
            && !Path::new(home).exists()
        {
            let _ = Command::new("userdel")
                .arg(name)
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
    }
}

fn uuid_hex() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OpenSSH's sshd on a free loopback port with a private config: its own ed25519 host key,
/// an `authorized_keys` holding a fresh user key (ed25519, and an RSA key with a passphrase),
/// a throwaway local user with a password, and `internal-sftp`. [`Sshd::restart`] drops every
/// session and starts again on the same port with the same keys.
pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Owned by `user`: what the tests use as the binding's rootPath.
    pub root: PathBuf,
    pub user: TestUser,
    child: Option<Child>,
}

/// The passphrase of [`Sshd::rsa_key_encrypted`].
pub const RSA_PASSPHRASE: &str = "correct horse";

impl Sshd {
    /// `None` (after printing SKIP) when sshd is missing outside CI.
    pub fn start() -> Option<Self> {
        let present = Path::new(SSHD).exists()
            && Command::new("ssh-keygen")
                .arg("-?")
                .stderr(Stdio::null())
                .status()
                .is_ok();
        if !crate::faults::require(present, "OpenSSH sshd (scripts/install-sshd.sh)") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        // The test user must reach its root dir inside this (root-owned) folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        keygen(&d.join("host_ed25519"), "ed25519", "");
        keygen(&d.join("user_ed25519"), "ed25519", "");
        keygen(&d.join("user_rsa"), "rsa", RSA_PASSPHRASE);
        let authorized = format!(
            "{}{}",
            read(&d.join("user_ed25519.pub")),
            read(&d.join("user_rsa.pub"))
        );
        std::fs::write(d.join("authorized_keys"), authorized).expect("authorized_keys");
        let root = d.join("root");
        std::fs::create_dir(&root).expect("root dir");
        let user = TestUser::create(&root);
        let status = Command::new("chown")
            .arg(format!("{0}:{0}", user.name))
            .arg(&root)
            .status()
            .expect("chown");
        assert!(status.success(), "chown the root dir");
        let port = crate::free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
             AuthorizedKeysFile {auth}\nPermitRootLogin yes\nPasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\n\
             MaxStartups 100\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
            host = d.join("host_ed25519").display(),
            pid = d.join("sshd.pid").display(),
            auth = d.join("authorized_keys").display(),
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let mut sshd = Self {
            port,
            dir,
            root,
            user,
            child: None,
        };
        sshd.spawn();
        Some(sshd)
    }

    fn spawn(&mut self) {
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !listening(self.port) {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills sshd and every session process it forked.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            for pid in descendants(child.id()) {
                let _ = crate::faults::signal(pid, "KILL");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while listening(self.port) {
            assert!(Instant::now() < deadline, "sshd still listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills sshd and its sessions, then starts it again on the same port with the same keys.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The host's public key line (`ssh-ed25519 AAAA… comment`).
    pub fn host_public_key(&self) -> String {
        read(&self.path("host_ed25519.pub")).trim().to_owned()
    }

    /// A known_hosts file naming this server (`[127.0.0.1]:<port> <key>`).
    pub fn known_hosts(&self) -> PathBuf {
        let path = self.path("known_hosts");
        let key = self.host_public_key();
        std::fs::write(&path, format!("[127.0.0.1]:{} {key}\n", self.port)).expect("known_hosts");
        path
    }

    /// The user's unencrypted ed25519 private key (OpenSSH format).
    pub fn ed25519_key(&self) -> String {
        read(&self.path("user_ed25519"))
    }

    /// The user's RSA private key, encrypted with [`RSA_PASSPHRASE`].
    pub fn rsa_key_encrypted(&self) -> String {
        read(&self.path("user_rsa"))
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether something listens on 127.0.0.1:`port`, read from `/proc/net/tcp` (a probe
/// connection would make sshd log a failed key exchange).
fn listening(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let mut f = l.split_whitespace();
            f.nth(1) == Some(wanted.as_str()) && f.nth(1) == Some("0A")
        })
}

/// Every process below `pid` (children first found by scanning `/proc`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for &c in parents.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            out.push(c);
            queue.push(c);
        }
    }
    out
}
