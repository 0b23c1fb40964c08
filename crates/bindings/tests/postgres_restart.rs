//! `bindings.postgres` keeps working after the real PostgreSQL server restarts. The only test in
//! this binary, so nothing else runs during the restart.
#![cfg(feature = "postgres")]

use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::postgres::DESCRIPTOR;
use bindery_core::InvokeRequest;
use bindery_testkit::binding;
use bindery_testkit::faults::Server;

fn url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned())
}

fn cluster_version() -> Option<String> {
    std::fs::read_dir("/etc/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
}

fn pg_ctl(action: &str) {
    if let Some(v) = cluster_version() {
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &v, "main", action])
            .status();
    }
}

fn query(sql: &str) -> InvokeRequest {
    binding::sql_request("query", sql, None)
}

#[tokio::test]
async fn recovers_after_server_restart() {
    if std::env::var("POSTGRES_URL").is_ok() {
        eprintln!("SKIP: restart test only manages the local server");
        return;
    }
    let u = url();
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
    let Some(binding) = binding::server_or_skip(built, &format!("postgres at {u}")) else {
        return;
    };
    assert!(
        cluster_version().is_some(),
        "no cluster under /etc/postgresql"
    );
    // Fill the pool with a few connections that the restart will break.
    for _ in 0..4 {
        binding.invoke(query("SELECT 1")).await.unwrap();
    }

    let _restore = Server::Postgres.restore_on_drop();
    pg_ctl("restart");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Server::Postgres.up() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Server::Postgres.up(), "postgres did not come back");

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
