//! `bindings.redis` keeps working after the real Redis server restarts. The only test in this
//! binary, so nothing else runs while the server is down.
#![cfg(feature = "redis")]

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::redis::DESCRIPTOR;
use bindery_core::{BuildContext, InvokeRequest, Properties};

const START: &[&str] = &[
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
];

fn addr() -> String {
    std::env::var("REDIS_ADDR").unwrap_or_else(|_| "127.0.0.1:6379".to_owned())
}

fn up() -> bool {
    std::net::TcpStream::connect_timeout(&addr().parse().unwrap(), Duration::from_millis(500))
        .is_ok()
}

fn start_server() {
    if up() {
        return;
    }
    let _ = Command::new("redis-server").args(START).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !up() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Restarts Redis when dropped, so a failing test never leaves it down.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        start_server();
    }
}

fn req(op: &str, key: &str, data: &str) -> InvokeRequest {
    InvokeRequest {
        operation: op.to_owned(),
        data: data.as_bytes().to_vec().into(),
        metadata: HashMap::from([("key".to_owned(), key.to_owned())]),
    }
}

#[tokio::test]
async fn recovers_after_server_restart() {
    if std::env::var("REDIS_ADDR").is_ok_and(|a| a != "127.0.0.1:6379") {
        eprintln!("SKIP: restart test only manages the local server at 127.0.0.1:6379");
        return;
    }
    if !up() {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis not reachable at {} (CI is set)",
            addr()
        );
        eprintln!("SKIP: redis not reachable at {}", addr());
        return;
    }
    let cx = BuildContext::new(
        "redis-restart".to_owned(),
        Properties::from_pairs([("redisHost", addr().as_str())]),
        "test".to_owned(),
    );
    let binding = (DESCRIPTOR.build_output.unwrap())(cx).await.unwrap();
    let key = format!("bindery-restart-{}", uuid::Uuid::new_v4());
    binding.invoke(req("create", &key, "before")).await.unwrap();

    let _restore = Restore;
    let status = Command::new("redis-cli")
        .args(["-p", "6379", "shutdown", "nosave"])
        .status();
    assert!(status.is_ok(), "redis-cli must run");
    let deadline = Instant::now() + Duration::from_secs(10);
    while up() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!up(), "redis did not stop");

    // While it is down the binding fails (after its retries) instead of hanging.
    let err = binding.invoke(req("get", &key, "")).await.unwrap_err();
    assert!(err.kind().is_retriable(), "{err}");

    start_server();
    assert!(up(), "redis did not come back");

    // The same binding recovers on its own within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        match binding.invoke(req("create", &key, "after")).await {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(last.is_none(), "binding did not recover: {last:?}");
    let got = binding.invoke(req("get", &key, "")).await.unwrap().unwrap();
    assert_eq!(&got.data[..], b"after");
    binding.invoke(req("delete", &key, "")).await.unwrap();
}
