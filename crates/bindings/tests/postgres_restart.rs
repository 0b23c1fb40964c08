//! `bindings.postgres` keeps working after the real PostgreSQL server restarts. The only test in
//! this binary, so nothing else runs during the restart.
#![cfg(feature = "postgres")]

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::postgres::DESCRIPTOR;
use bindery_core::{BuildContext, InvokeRequest, Properties};

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

fn up() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_ok()
}

fn pg_ctl(action: &str) {
    if let Some(v) = cluster_version() {
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &v, "main", action])
            .status();
    }
}

/// Starts PostgreSQL again when dropped, so a failing test never leaves it down.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if !up() {
            pg_ctl("start");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !up() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn query(sql: &str) -> InvokeRequest {
    InvokeRequest {
        operation: "query".to_owned(),
        data: Default::default(),
        metadata: HashMap::from([("sql".to_owned(), sql.to_owned())]),
    }
}

#[tokio::test]
async fn recovers_after_server_restart() {
    if std::env::var("POSTGRES_URL").is_ok() {
        eprintln!("SKIP: restart test only manages the local server");
        return;
    }
    let u = url();
    let cx = BuildContext::new(
        "pg-restart".to_owned(),
        Properties::from_pairs([
            ("connectionString", u.as_str()),
            ("timeout", "5s"),
            ("maxConns", "4"),
        ]),
        "test".to_owned(),
    );
    let binding = match (DESCRIPTOR.build_output.unwrap())(cx).await {
        Ok(b) => b,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "postgres not reachable at {u}: {e} (CI is set)"
            );
            eprintln!("SKIP: postgres not reachable at {u}: {e}");
            return;
        }
    };
    assert!(
        cluster_version().is_some(),
        "no cluster under /etc/postgresql"
    );
    // Fill the pool with a few connections that the restart will break.
    for _ in 0..4 {
        binding.invoke(query("SELECT 1")).await.unwrap();
    }

    let _restore = Restore;
    pg_ctl("restart");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !up() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up(), "postgres did not come back");

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
