//! A PostgreSQL of the test's own stopped (fast shutdown, as `pg_ctl stop`) and started again
//! while bindery inserts rows through the HTTP API: calls fail while it is down, succeed again
//! within seconds, and every insert that answered 2xx is readable exactly once afterwards.

use std::time::Duration;

use bindery_testkit::faults;
use bindery_testkit::servers::{Instance, Kind};
use bindery_testkit::{Sidecar, resources};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn sql(operation: &str, sql: &str) -> serde_json::Value {
    json!({"operation": operation, "metadata": {"sql": sql}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_stream() {
    let Some(server) = Instance::start(Kind::Postgres) else {
        return;
    };
    let table = faults::unique("bindery_faults_");
    let dir = resources(&[(
        "pg.yaml",
        &faults::component("pg", "postgres", &[("connectionString", &server.url())]),
    )]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    faults::invoke_json(
        &sidecar,
        "pg",
        sql("exec", &format!("CREATE TABLE {table} (id text)")),
    )
    .await
    .expect("create table");
    let outage = faults::database_restart(&sidecar, &server, "pg", &table, |id| {
        sql("exec", &format!("INSERT INTO {table} (id) VALUES ('{id}')"))
    })
    .await;
    let rows = faults::invoke_json(
        &sidecar,
        "pg",
        sql("query", &format!("SELECT id FROM {table}")),
    )
    .await
    .expect("read back");
    let _ = faults::invoke_json(&sidecar, "pg", sql("exec", &format!("DROP TABLE {table}"))).await;
    faults::check_database_restart(
        "restart postgres",
        &outage,
        &faults::strings_in(&rows),
        Duration::from_secs(15),
        &faults::tail(&sidecar.output(), 40),
    );
}
