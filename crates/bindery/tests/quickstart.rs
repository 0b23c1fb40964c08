//! Dapr's bindings quickstart (examples/quickstart) against the machine's PostgreSQL: the
//! components as the quickstart ships them, the batch app in its raw-HTTP variant (no
//! Content-Type header) started by `bindery run`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

#[path = "sdk/support.rs"]
mod support;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn psql(db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A database of its own, dropped at the end.
struct Database(String);

impl Database {
    fn create(variant: &str) -> Option<Self> {
        let name = format!("qs_{variant}_{}", std::process::id());
        match psql("postgres", &format!("CREATE DATABASE {name}")) {
            Ok(_) => Some(Self(name)),
            Err(e) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "PostgreSQL is required under CI: {e}"
                );
                eprintln!("SKIP: PostgreSQL not reachable at 127.0.0.1:5432: {e}");
                None
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
        );
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies the quickstart's components, pointing `dbname` at this test's database.
fn components(db: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["binding-cron.yaml", "binding-postgresql.yaml"] {
        let text =
            std::fs::read_to_string(repo().join("examples/quickstart/components").join(name))
                .unwrap();
        std::fs::write(
            dir.path().join(name),
            text.replace("dbname=orders", &format!("dbname={db}")),
        )
        .unwrap();
    }
    dir
}

fn wait_for_orders(db: &str, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let rows = psql(
            db,
            "select orderid, customer, price from orders order by orderid limit 3",
        )
        .unwrap_or_default();
        if rows.lines().count() == 3 {
            return rows;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the quickstart exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "no orders after 40 s; rows: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn quickstart_http_variant_inserts_three_orders_per_tick() {
    let Some(db) = Database::create("http") else {
        return;
    };
    psql(
        &db.0,
        &std::fs::read_to_string(repo().join("examples/quickstart/db/orders.sql")).unwrap(),
    )
    .unwrap();
    let dir = components(&db.0);
    let app_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .current_dir(repo())
        .args([
            "run",
            "--app-id",
            "batch-http",
            "--app-port",
            &app_port.to_string(),
        ])
        .args(["--resources-path", &dir.path().display().to_string()])
        .args(["--", "python3", "examples/quickstart/http/app.py"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let rows = wait_for_orders(&db.0, &mut running.0);
    assert_eq!(
        rows,
        "1|John Smith|100.32\n2|Jane Bond|15.4\n3|Tony James|35.56"
    );
}

#[test]
fn quickstart_sdk_variant_inserts_three_orders_over_grpc() {
    let Some(sdk) = support::sdk("python") else {
        return;
    };
    let Some(db) = Database::create("sdk") else {
        return;
    };
    psql(
        &db.0,
        &std::fs::read_to_string(repo().join("examples/quickstart/db/orders.sql")).unwrap(),
    )
    .unwrap();
    let dir = components(&db.0);
    let app_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .current_dir(repo())
        .args([
            "run",
            "--app-id",
            "batch-sdk",
            "--app-port",
            &app_port.to_string(),
            "--app-protocol",
            "grpc",
        ])
        .args(["--resources-path", &dir.path().display().to_string()])
        .args([
            "--",
            &sdk.join("bin/python").display().to_string(),
            "examples/quickstart/sdk/app.py",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let rows = wait_for_orders(&db.0, &mut running.0);
    assert_eq!(
        rows,
        "1|John Smith|100.32\n2|Jane Bond|15.4\n3|Tony James|35.56"
    );
}
