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
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// `N` ports nobody listens on right now, all different: they are held open together while
/// chosen (separate [`free_port`] calls can return the same port twice).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    std::array::from_fn(|i| {
        listeners[i]
            .local_addr()
            .map(|a| a.port())
            .expect("bound port")
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
