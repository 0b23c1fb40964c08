//! `bindings.postgres` keeps working after a PostgreSQL server of the test's own restarts (fast
//! shutdown, as `pg_ctl restart`).
#![cfg(feature = "postgres")]

use std::time::{Duration, Instant};

use bindery_bindings::postgres::DESCRIPTOR;
use bindery_core::InvokeRequest;
use bindery_testkit::binding;
use bindery_testkit::servers::{Instance, Kind};

fn query(sql: &str) -> InvokeRequest {
    binding::sql_request("query", sql, None)
}

#[tokio::test]
async fn recovers_after_server_restart() {
    let Some(server) = Instance::start(Kind::Postgres) else {
        return;
    };
    let u = server.url();
    let built = binding::output(
        &DESCRIPTOR,
        "pg-restart",
        &[
            ("connectionString", u.as_str()),
            ("timeout", "5s"),
            ("maxConns", "4"),
        ],
    )
    .await;
    let binding = built.unwrap_or_else(|e| panic!("build against the own server: {e}"));
    // Fill the pool with a few connections that the restart will break.
    for _ in 0..4 {
        binding.invoke(query("SELECT 1")).await.unwrap();
    }

    server.restart();
    assert!(server.up(), "postgres did not come back");

    // The same binding answers again within a few seconds, by itself.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        match binding.invoke(query("SELECT 42")).await {
            Ok(Some(r)) if &r.data[..] == b"[[42]]" => {
                last = None;
                break;
            }
            Ok(other) => last = Some(format!("unexpected {other:?}")),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(last.is_none(), "binding did not recover: {last:?}");
    // And keeps working for more than one call (every pooled connection was replaced).
    for _ in 0..8 {
        let r = binding.invoke(query("SELECT 1")).await.unwrap().unwrap();
        assert_eq!(&r.data[..], b"[[1]]");
    }
}
