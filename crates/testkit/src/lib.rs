//! Test helpers: build and run bindings against a recording sink (`binding`), run the real
//! `bindery` binary, a recording fake app, free ports, and the server addresses integration
//! tests use, and throwaway servers for fault tests (`servers`).
#![forbid(unsafe_code)]

pub mod amqp;
pub mod app;
pub mod azurite;
pub mod binding;
pub mod components;
pub mod deploy;
pub mod faultproxy;
pub mod faults;
pub mod grpc;
pub mod moto;
pub mod notify;
pub mod servers;
pub mod sidecar;

pub use app::{Recorded, TestApp};
pub use binding::{RecordingSink, Running};
pub use sidecar::{Sidecar, SidecarBuilder};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` ports nobody listens on right now, all different, and never handed out before by this
/// process.
///
/// They come from below Linux's ephemeral range (32768-60999): a port the kernel picks for
/// `bind(0)` is also one it may give the next outgoing connection, which then holds it when the
/// server under test binds it ("Address already in use"); that happened with many scenarios in
/// parallel.
pub fn free_ports<const N: usize>() -> [u16; N] {
    use rand::Rng;
    use std::collections::HashSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let mut rng = rand::rng();
    std::array::from_fn(|_| {
        loop {
            let port = rng.random_range(20_000..32_768);
            // RabbitMQ's distribution port (AMQP + 20000) and epmd stay clear.
            if port == 25_672 || handed_out.contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed_out.insert(port);
                return port;
            }
        }
    })
}

/// Writes component files into a fresh temporary folder.
pub fn resources(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write component file");
    }
    dir
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// True when running under CI (`CI` set), where a missing server is a failure, not a skip.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `true` when `ok`; otherwise fails under CI and prints `SKIP: …` elsewhere.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    assert!(
        !under_ci(),
        "{what} is required under CI but is not available"
    );
    eprintln!("SKIP: {what} not available");
    false
}
