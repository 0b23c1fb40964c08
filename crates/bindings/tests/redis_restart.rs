//! `bindings.redis` keeps working after a Redis server of the test's own stops and starts again.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use bindery_bindings::redis::DESCRIPTOR;
use bindery_core::InvokeRequest;
use bindery_testkit::binding;
use bindery_testkit::servers::{Instance, Kind};

fn req(op: &str, key: &str, data: &str) -> InvokeRequest {
    binding::request(op, data, &[("key", key)])
}

#[tokio::test]
async fn recovers_after_server_restart() {
    let Some(redis) = Instance::start(Kind::Redis) else {
        return;
    };
    let binding = binding::output(
        &DESCRIPTOR,
        "redis-restart",
        &[("redisHost", &redis.address())],
    )
    .await
    .unwrap();
    let key = format!("bindery-restart-{}", uuid::Uuid::new_v4());
    binding.invoke(req("create", &key, "before")).await.unwrap();

    let restore = redis.stop();
    assert!(!redis.up(), "redis did not stop");

    // While it is down the binding fails (after its retries) instead of hanging.
    let err = binding.invoke(req("get", &key, "")).await.unwrap_err();
    assert!(err.kind().is_retriable(), "{err}");

    restore.start();
    assert!(redis.up(), "redis did not come back");

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
