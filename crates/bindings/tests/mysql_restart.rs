//! `bindings.mysql` keeps working after a MariaDB server of the test's own stops (SIGTERM, as
//! `mariadb-admin shutdown`) and starts again.
#![cfg(feature = "mysql")]

use std::time::{Duration, Instant};

use bindery_bindings::mysql::DESCRIPTOR;
use bindery_core::InvokeRequest;
use bindery_testkit::binding;
use bindery_testkit::servers::{Instance, Kind};

fn query(sql: &str) -> InvokeRequest {
    binding::sql_request("query", sql, None)
}

#[tokio::test]
async fn recovers_after_server_restart() {
    let Some(server) = Instance::start(Kind::MariaDb) else {
        return;
    };
    let url = server.url();
    let built = binding::output(
        &DESCRIPTOR,
        "mysql-restart",
        &[("url", url.as_str()), ("maxIdleConns", "4")],
    )
    .await;
    let binding = built.unwrap_or_else(|e| panic!("build against the own server: {e}"));
    for _ in 0..4 {
        binding.invoke(query("SELECT 1 AS one")).await.unwrap();
    }

    let restore = server.stop();
    assert!(!server.up(), "mariadb did not stop");
    // While it is down the call fails as retriable instead of hanging.
    let err = binding.invoke(query("SELECT 1 AS one")).await.unwrap_err();
    assert!(err.kind().is_retriable(), "{err}");

    restore.start();
    assert!(server.up(), "mariadb did not come back");

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
