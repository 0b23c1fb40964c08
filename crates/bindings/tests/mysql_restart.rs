//! `bindings.mysql` keeps working after the real MariaDB server restarts. The only test in this
//! binary, so nothing else runs during the restart.
#![cfg(feature = "mysql")]

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::mysql::DESCRIPTOR;
use bindery_core::{BuildContext, InvokeRequest, Properties};

fn up() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:3306".parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_ok()
}

fn wait(want_up: bool, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while up() != want_up && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start() {
    if !up() {
        let _ = Command::new("start-stop-daemon")
            .args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ])
            .status();
        wait(true, 60);
    }
}

/// Starts MariaDB again when dropped, so a failing test never leaves it down.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        start();
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
    if std::env::var("MYSQL_URL").is_ok() {
        eprintln!("SKIP: restart test only manages the local server");
        return;
    }
    let url = "root@tcp(127.0.0.1:3306)/test";
    let cx = BuildContext::new(
        "mysql-restart".to_owned(),
        Properties::from_pairs([("url", url), ("maxIdleConns", "4")]),
        "test".to_owned(),
    );
    let binding = match (DESCRIPTOR.build_output.unwrap())(cx).await {
        Ok(b) => b,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "mysql not reachable at {url}: {e} (CI is set)"
            );
            eprintln!("SKIP: mysql not reachable at {url}: {e}");
            return;
        }
    };
    for _ in 0..4 {
        binding.invoke(query("SELECT 1 AS one")).await.unwrap();
    }

    let _restore = Restore;
    let stopped = Command::new("mariadb-admin")
        .args(["-uroot", "shutdown"])
        .status();
    assert!(
        stopped.is_ok_and(|s| s.success()),
        "mariadb-admin shutdown failed"
    );
    wait(false, 30);
    assert!(!up(), "mariadb did not stop");
    // While it is down the call fails as retriable instead of hanging.
    let err = binding.invoke(query("SELECT 1 AS one")).await.unwrap_err();
    assert!(err.kind().is_retriable(), "{err}");

    start();
    assert!(up(), "mariadb did not come back");

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        match binding.invoke(query("SELECT 42 AS answer")).await {
            Ok(Some(r)) if &r.data[..] == br#"[{"answer":42}]"# => {
                last = None;
                break;
            }
            Ok(other) => last = Some(format!("unexpected {other:?}")),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(last.is_none(), "binding did not recover: {last:?}");
    for _ in 0..8 {
        let r = binding
            .invoke(query("SELECT 1 AS one"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&r.data[..], br#"[{"one":1}]"#);
    }
}
