//! `bindings.mysql` keeps working after the real MariaDB server restarts. The only test in this
//! binary, so nothing else runs during the restart.
#![cfg(feature = "mysql")]

use std::process::Command;
use std::time::{Duration, Instant};

use bindery_bindings::mysql::DESCRIPTOR;
use bindery_core::InvokeRequest;
use bindery_testkit::binding;
use bindery_testkit::faults::Server;

fn wait(want_up: bool, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Server::MariaDb.up() != want_up && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn query(sql: &str) -> InvokeRequest {
    binding::sql_request("query", sql, None)
}

#[tokio::test]
async fn recovers_after_server_restart() {
    if std::env::var("MYSQL_URL").is_ok() {
        eprintln!("SKIP: restart test only manages the local server");
        return;
    }
    let url = "root@tcp(127.0.0.1:3306)/test";
    let built = binding::output(
        &DESCRIPTOR,
        "mysql-restart",
        &[("url", url), ("maxIdleConns", "4")],
    )
    .await;
    let Some(binding) = binding::server_or_skip(built, &format!("mysql at {url}")) else {
        return;
    };
    for _ in 0..4 {
        binding.invoke(query("SELECT 1 AS one")).await.unwrap();
    }

    let _restore = Server::MariaDb.restore_on_drop();
    let stopped = Command::new("mariadb-admin")
        .args(["-uroot", "shutdown"])
        .status();
    assert!(
        stopped.is_ok_and(|s| s.success()),
        "mariadb-admin shutdown failed"
    );
    wait(false, 30);
    assert!(!Server::MariaDb.up(), "mariadb did not stop");
    // While it is down the call fails as retriable instead of hanging.
    let err = binding.invoke(query("SELECT 1 AS one")).await.unwrap_err();
    assert!(err.kind().is_retriable(), "{err}");

    Server::MariaDb.start();
    assert!(Server::MariaDb.up(), "mariadb did not come back");

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
