//! A Redis of the test's own (append-only file, fsynced on every write) stopped (SIGTERM) and
//! started again while bindery writes through the HTTP API: calls fail while it is down, succeed
//! again within seconds, and every write that answered 2xx is readable afterwards.

use std::time::Duration;

use bindery_testkit::faults;
use bindery_testkit::servers::{Instance, Kind};
use bindery_testkit::{Sidecar, resources};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_stream() {
    let Some(redis) = Instance::start(Kind::RedisDurable) else {
        return;
    };
    let prefix = faults::unique("bindery-faults-");
    let dir = resources(&[(
        "redis.yaml",
        &faults::component("redis", "redis", &[("redisHost", &redis.address())]),
    )]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let outage = faults::database_restart(
        &sidecar,
        &redis,
        "redis",
        &prefix,
        |id| json!({"operation": "create", "data": id, "metadata": {"key": id}}),
    )
    .await;
    let mut readable = Vec::new();
    for id in &outage.accepted {
        let got = faults::invoke_json(
            &sidecar,
            "redis",
            json!({"operation": "get", "metadata": {"key": id}}),
        )
        .await
        .unwrap_or_else(|e| panic!("get {id}: {e}"));
        readable.extend(faults::strings_in(&got));
        let _ = faults::invoke_json(
            &sidecar,
            "redis",
            json!({"operation": "delete", "metadata": {"key": id}}),
        )
        .await;
    }
    faults::check_database_restart(
        "restart redis",
        &outage,
        &readable,
        Duration::from_secs(15),
        &faults::tail(&sidecar.output(), 40),
    );
}
