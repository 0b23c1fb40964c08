//! A TCP proxy between bindery and a real server that injects network faults:
//!
//! - **pass**: bytes flow both ways (the default);
//! - **blackhole**: every packet to or from the proxy's port is dropped, with no FIN and no RST
//!   (`iptables` DROP rules on its own port, so the server behind it is not disturbed); new
//!   connections hang in SYN;
//! - **cut**: every open connection is reset (SO_LINGER 0, then close: an RST both ways);
//! - **half-open**: the proxy silently forgets its open connections: their packets are dropped
//!   from then on (per-connection DROP rules) and the proxy closes its side, so the client's
//!   socket stays ESTABLISHED with no peer; new connections work;
//! - **delay**: every chunk is held back for a fixed time in each direction.
//!
//! Every `iptables` rule carries the comment `bindery-faultproxy-<pid>-<port>` and is removed
//! when the proxy is dropped (also on panic); rules left by a process that died without
//! cleaning up are removed when the next proxy starts. Needs root for `iptables`:
//! [`FaultProxy::available`] says whether faults can be injected here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const TAG_PREFIX: &str = "bindery-faultproxy-";
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A proxy on `127.0.0.1:<port>` in front of `upstream`; stops and removes its rules on drop.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

struct Shared {
    upstream: SocketAddr,
    tag: String,
    delay: Mutex<Duration>,
    conns: Mutex<HashMap<u64, Open>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    /// The `iptables` rule specifications installed, each without its `-I`/`-D` verb.
    blackhole_rules: Mutex<Vec<Vec<String>>>,
    forgotten_rules: Mutex<Vec<Vec<String>>>,
}

/// An open connection as the proxy's control side sees it.
struct Open {
    client_port: u16,
    action: oneshot::Sender<Action>,
}

enum Action {
    Reset,
    Forget,
}

impl FaultProxy {
    /// Whether `iptables` can be used here (root, the command present), which blackhole and
    /// half-open need.
    pub fn available() -> bool {
        Command::new("iptables")
            .args(["-w", "-S", "INPUT"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a proxy on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        remove_stale_rules();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream,
            tag: format!("{TAG_PREFIX}{}-{port}", std::process::id()),
            delay: Mutex::new(Duration::ZERO),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            blackhole_rules: Mutex::new(Vec::new()),
            forgotten_rules: Mutex::new(Vec::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Self {
            port,
            shared,
            accept,
        }
    }

    /// The port bindery should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server behind the proxy.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Connections open through the proxy right now.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.lock().len()
    }

    /// Connections accepted since the start (reconnects show up here).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Drops every packet to and from the proxy's port until [`FaultProxy::pass`]. Idempotent.
    pub fn blackhole(&self) {
        let mut rules = self.shared.blackhole_rules.lock();
        if !rules.is_empty() {
            return;
        }
        let port = self.port.to_string();
        for (side, flag) in [("-d", "--dport"), ("-s", "--sport")] {
            let rule = self
                .shared
                .rule(&[side, "127.0.0.1", "-p", "tcp", flag, &port]);
            iptables("-I", &rule);
            rules.push(rule);
        }
    }

    /// Ends a blackhole and any delay: traffic flows again. Connections left half-open stay
    /// forgotten.
    pub fn pass(&self) {
        for rule in self.shared.blackhole_rules.lock().drain(..) {
            iptables("-D", &rule);
        }
        *self.shared.delay.lock() = Duration::ZERO;
    }

    /// Holds every chunk back for `each_way` in each direction (0 ends the delay).
    pub fn delay(&self, each_way: Duration) {
        *self.shared.delay.lock() = each_way;
    }

    /// Resets every open connection (RST to both peers). Returns how many there were.
    pub fn cut(&self) -> usize {
        self.act_on_all(|| Action::Reset)
    }

    /// Forgets every open connection without a FIN or RST reaching the client: its packets are
    /// dropped from now on and the proxy closes its side. Returns how many there were.
    pub fn half_open(&self) -> usize {
        let ports: Vec<u16> = self
            .shared
            .conns
            .lock()
            .values()
            .map(|o| o.client_port)
            .collect();
        let port = self.port.to_string();
        for client in ports {
            let client = client.to_string();
            for (from, to) in [(&client, &port), (&port, &client)] {
                let rule = self.shared.rule(&[
                    "-s",
                    "127.0.0.1",
                    "-d",
                    "127.0.0.1",
                    "-p",
                    "tcp",
                    "--sport",
                    from,
                    "--dport",
                    to,
                ]);
                iptables("-I", &rule);
                self.shared.forgotten_rules.lock().push(rule);
            }
        }
        self.act_on_all(|| Action::Forget)
    }

    fn act_on_all(&self, action: impl Fn() -> Action) -> usize {
        let open: Vec<Open> = self.shared.conns.lock().drain().map(|(_, o)| o).collect();
        let n = open.len();
        for o in open {
            let _ = o.action.send(action());
        }
        n
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.act_on_all(|| Action::Reset);
        let rules: Vec<Vec<String>> = self
            .shared
            .blackhole_rules
            .lock()
            .drain(..)
            .chain(self.shared.forgotten_rules.lock().drain(..))
            .collect();
        for rule in rules {
            iptables("-D", &rule);
        }
    }
}

impl Shared {
    /// An INPUT rule dropping what `matches` selects, tagged with this proxy's comment. On
    /// loopback every packet passes INPUT, so one chain covers both directions.
    fn rule(&self, matches: &[&str]) -> Vec<String> {
        let mut rule = vec!["INPUT".to_owned()];
        rule.extend(matches.iter().map(|s| (*s).to_owned()));
        rule.extend(
            ["-m", "comment", "--comment", &self.tag, "-j", "DROP"]
                .iter()
                .map(|s| (*s).to_owned()),
        );
        rule
    }

    fn delay(&self) -> Duration {
        *self.delay.lock()
    }
}

fn iptables(verb: &str, rule: &[String]) {
    let status = Command::new("iptables")
        .arg("-w")
        .arg(verb)
        .args(rule)
        .stdout(Stdio::null())
        .status();
    // Removing is best effort (a drop during a panic must not panic again); adding must work.
    if verb != "-D" {
        assert!(
            status.is_ok_and(|s| s.success()),
            "iptables {verb} {} failed",
            rule.join(" ")
        );
    }
}

/// Removes rules whose owning process no longer runs (a test killed before its drop ran).
fn remove_stale_rules() {
    let Ok(out) = Command::new("iptables")
        .args(["-w", "-S", "INPUT"])
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(tag) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(TAG_PREFIX))
        else {
            continue;
        };
        let pid = tag.split('-').next().unwrap_or_default();
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Some(spec) = line.strip_prefix("-A ") {
            let rule: Vec<String> = spec.split_whitespace().map(str::to_owned).collect();
            iptables("-D", &rule);
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, peer)) = listener.accept().await else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let (action, rx) = oneshot::channel();
        shared.conns.lock().insert(
            id,
            Open {
                client_port: peer.port(),
                action,
            },
        );
        tokio::spawn(serve(client, id, rx, shared.clone()));
    }
}

async fn serve(
    mut client: TcpStream,
    id: u64,
    mut action: oneshot::Receiver<Action>,
    shared: Arc<Shared>,
) {
    let connected = tokio::time::timeout(
        UPSTREAM_CONNECT_TIMEOUT,
        TcpStream::connect(shared.upstream),
    )
    .await;
    let Ok(Ok(mut upstream)) = connected else {
        shared.conns.lock().remove(&id);
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let ended = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        tokio::select! {
            _ = futures::future::join(
                pump(client_read, upstream_write, &shared),
                pump(upstream_read, client_write, &shared),
            ) => None,
            a = &mut action => a.ok(),
        }
    };
    shared.conns.lock().remove(&id);
    if let Some(Action::Reset) = ended {
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
    // Forget: the close below sends a FIN (or RST) that the DROP rules swallow before it
    // reaches the client; the server sees the client go away.
}

/// Copies one direction, each chunk held back by the current delay; order is kept. On EOF the
/// other side's write half is shut down (a half-close passes through).
async fn pump(mut from: ReadHalf<'_>, mut to: WriteHalf<'_>, shared: &Shared) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + shared.delay();
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((due, data)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    futures::future::join(read, write).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server that counts the connections it saw end (EOF or error).
    async fn echo_server() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ended = Arc::new(AtomicU64::new(0));
        let counter = ended.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (addr, ended)
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8], within: Duration) -> std::io::Result<()> {
        s.write_all(msg).await?;
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(within, s.read_exact(&mut back))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        assert_eq!(back, msg);
        Ok(())
    }

    async fn connect(addr: SocketAddr, within: Duration) -> std::io::Result<TcpStream> {
        tokio::time::timeout(within, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    fn rules_tagged(tag: &str) -> usize {
        let out = Command::new("iptables")
            .args(["-w", "-S", "INPUT"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(tag))
            .count()
    }

    fn can_fault() -> bool {
        crate::require(FaultProxy::available(), "iptables (as root)")
    }

    #[tokio::test]
    async fn passes_and_delays() {
        let (server, _) = echo_server().await;
        let proxy = FaultProxy::start(server).await;
        let mut s = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut s, b"hello", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(proxy.accepted(), 1);
        assert_eq!(proxy.open_connections(), 1);
        proxy.delay(Duration::from_millis(200));
        let started = std::time::Instant::now();
        round_trip(&mut s, b"slow", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "200 ms each way: {:?}",
            started.elapsed()
        );
        proxy.pass();
        round_trip(&mut s, b"fast again", Duration::from_secs(2))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn cut_resets_open_connections() {
        let (server, ended) = echo_server().await;
        let proxy = FaultProxy::start(server).await;
        let mut s = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut s, b"x", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(proxy.cut(), 1);
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("the reset arrives at once");
        assert_eq!(
            read.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset),
            "an RST, not a FIN"
        );
        crate::eventually(Duration::from_secs(2), || async {
            (ended.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await
        .expect("the server side was closed too");
        let mut again = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut again, b"y", Duration::from_secs(2))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn blackhole_drops_everything_until_pass() {
        if !can_fault() {
            return;
        }
        let (server, ended) = echo_server().await;
        let proxy = FaultProxy::start(server).await;
        let tag = proxy.shared.tag.clone();
        let mut s = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut s, b"before", Duration::from_secs(2))
            .await
            .unwrap();
        proxy.blackhole();
        assert_eq!(rules_tagged(&tag), 2);
        let err = round_trip(&mut s, b"during", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::TimedOut,
            "no answer, no RST"
        );
        let err = connect(proxy.addr(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "SYN dropped");
        assert_eq!(ended.load(Ordering::SeqCst), 0, "no FIN passed either");
        proxy.pass();
        assert_eq!(rules_tagged(&tag), 0);
        let mut fresh = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut fresh, b"after", Duration::from_secs(2))
            .await
            .unwrap();
        // The old connection resumes once TCP retransmits what was dropped.
        let mut back = [0u8; 6];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back))
            .await
            .expect("the held-back echo arrives")
            .unwrap();
        assert_eq!(&back, b"during");
    }

    #[tokio::test]
    async fn half_open_leaves_the_client_without_a_peer() {
        if !can_fault() {
            return;
        }
        let (server, ended) = echo_server().await;
        let proxy = FaultProxy::start(server).await;
        let tag = proxy.shared.tag.clone();
        let mut s = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut s, b"before", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(proxy.half_open(), 1);
        assert_eq!(rules_tagged(&tag), 2);
        crate::eventually(Duration::from_secs(2), || async {
            (ended.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await
        .expect("the server saw its side close");
        // The client still writes into its socket and hears nothing: no FIN, no RST.
        let err = round_trip(&mut s, b"lost", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(proxy.open_connections(), 0);
        let mut fresh = connect(proxy.addr(), Duration::from_secs(2)).await.unwrap();
        round_trip(&mut fresh, b"new", Duration::from_secs(2))
            .await
            .unwrap();
        drop(proxy);
        assert_eq!(rules_tagged(&tag), 0, "rules removed on drop");
    }

    #[tokio::test]
    async fn drop_removes_a_blackhole() {
        if !can_fault() {
            return;
        }
        let (server, _) = echo_server().await;
        let proxy = FaultProxy::start(server).await;
        let tag = proxy.shared.tag.clone();
        proxy.blackhole();
        assert_eq!(rules_tagged(&tag), 2);
        drop(proxy);
        assert_eq!(rules_tagged(&tag), 0);
    }
}
