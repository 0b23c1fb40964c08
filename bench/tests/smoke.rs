//! The smoke run of every benchmark scenario, so the suite cannot rot: it runs in-process
//! against the debug `bindery` binary and the real Redis and RabbitMQ, and checks only that
//! every scenario produced samples and no errors — never timings.
//!
//! The binary is `BINDERY_BIN` when set, else `bindery` in the target directory this test was
//! built into (`cargo test --workspace` builds it; alone: `cargo build -p bindery` first).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use bindery_bench::Options;

fn bindery_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BINDERY_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/smoke-<hash> → target/<profile>/bindery
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    profile_dir.join("bindery")
}

fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_produces_samples_without_errors() {
    let bindery = bindery_binary();
    assert!(
        bindery.is_file(),
        "no bindery binary at {} (run `cargo build -p bindery` or set BINDERY_BIN)",
        bindery.display()
    );
    let work = tempfile::tempdir().expect("temp dir");
    let opts = Options::smoke(
        bindery,
        PathBuf::from(env!("CARGO_BIN_EXE_bindery-bench")),
        work.path().to_owned(),
    )
    .with_env_servers();
    let rabbit_addr: SocketAddr = "127.0.0.1:5672".parse().expect("address");
    for (server, addr) in [("redis", opts.redis_addr), ("rabbitmq", rabbit_addr)] {
        if !reachable(addr) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{server} not reachable at {addr}"
            );
            eprintln!("SKIP: {server} not reachable at {addr}");
            return;
        }
    }

    let report = bindery_bench::run(&opts).await.expect("smoke run");

    assert_eq!(report.latency.len(), 4);
    for pair in report
        .latency
        .iter()
        .chain(std::iter::once(&report.saturation))
    {
        for (samples, _) in pair.samples_and_errors() {
            assert!(samples > 0, "{}: no samples", pair.name);
        }
    }
    assert_eq!(report.input.bindery_delivered, report.input.messages as u64);
    assert!(report.footprint.binary_bytes > 0);
    assert!(report.footprint.rss_idle_kib.is_some());
    assert_eq!(report.problems(), Vec::<String>::new());
    let markdown = bindery_bench::report::markdown(&report);
    assert!(markdown.contains("### Targets"));
}
