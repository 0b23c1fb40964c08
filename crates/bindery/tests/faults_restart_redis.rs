//! Redis restarted (`SHUTDOWN SAVE`, then the documented start command, which loads the dump)
//! while bindery writes through the HTTP API: calls fail while it is down, succeed again within
//! seconds, and every write that answered 2xx is readable afterwards. The only test in this
//! binary: nothing else runs while the server is down.

use std::time::Duration;

use bindery_testkit::faults::{self, Server};
use bindery_testkit::{Sidecar, resources};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_stream() {
    if !Server::Redis.require() {
        return;
    }
    let prefix = faults::unique("bindery-faults-");
    let dir = resources(&[(
        "redis.yaml",
        &faults::component("redis", "redis", &[("redisHost", "127.0.0.1:6379")]),
    )]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let outage = faults::database_restart(
        &sidecar,
        Server::Redis,
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
