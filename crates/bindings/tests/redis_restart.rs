//! `bindings.redis` keeps working after the real Redis server restarts. The only test in this
//! binary, so nothing else runs while the server is down.
#![cfg(feature = "redis")]

use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::redis::DESCRIPTOR;
use bindery_core::InvokeRequest;
use bindery_testkit::binding;
use bindery_testkit::faults::Server;

fn addr() -> String {
    std::env::var("REDIS_ADDR").unwrap_or_else(|_| "127.0.0.1:6379".to_owned())
}

fn req(op: &str, key: &str, data: &str) -> InvokeRequest {
    binding::request(op, data, &[("key", key)])
}

#[tokio::test]
async fn recovers_after_server_restart() {
    if std::env::var("REDIS_ADDR").is_ok_and(|a| a != "127.0.0.1:6379") {
        eprintln!("SKIP: restart test only manages the local server at 127.0.0.1:6379");
        return;
    }
    if !bindery_testkit::require(Server::Redis.up(), &format!("redis at {}", addr())) {
        return;
    }
    let binding = binding::output(&DESCRIPTOR, "redis-restart", &[("redisHost", &addr())])
        .await
        .unwrap();
    let key = format!("bindery-restart-{}", uuid::Uuid::new_v4());
    binding.invoke(req("create", &key, "before")).await.unwrap();

    let _restore = Server::Redis.restore_on_drop();
    let status = Command::new("redis-cli")
        .args(["-p", "6379", "shutdown", "nosave"])
        .status();
    assert!(status.is_ok(), "redis-cli must run");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Server::Redis.up() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!Server::Redis.up(), "redis did not stop");

    // While it is down the binding fails (after its retries) instead of hanging.
    let err = binding.invoke(req("get", &key, "")).await.unwrap_err();
    assert!(err.kind().is_retriable(), "{err}");

    Server::Redis.start();
    assert!(Server::Redis.up(), "redis did not come back");

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
