//! The throwaway servers of `bindery_testkit::servers`: each starts on a free port, stops for
//! real (its port closes), starts again on the same port, and keeps (or forgets) its data as
//! documented. Run with `--nocapture` to see each `SERVER …` start-time line.

use std::process::Command;

use bindery_testkit::servers::{Instance, Kind};

/// Runs a client command; its trimmed stdout when it succeeded.
fn client(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Stops `kind` and starts it again; the port closes in between and comes back the same.
fn stop_and_start(kind: Kind) -> Option<Instance> {
    let server = Instance::start(kind)?;
    let port = server.port();
    assert!(server.up(), "{} accepts connections", kind.name());
    let restore = server.stop();
    assert!(!server.up(), "{} stopped", kind.name());
    restore.start();
    assert!(server.up(), "{} is back", kind.name());
    assert_eq!(server.port(), port);
    // A kill also comes back.
    let restore = server.kill();
    assert!(!server.up(), "{} killed", kind.name());
    drop(restore);
    assert!(server.up(), "{} is back after a kill", kind.name());
    Some(server)
}

fn redis_cli(server: &Instance, args: &[&str]) -> Option<String> {
    let port = server.port().to_string();
    let mut all = vec!["-p", &port];
    all.extend_from_slice(args);
    client("redis-cli", &all)
}

#[test]
fn redis_forgets_and_durable_redis_keeps() {
    let Some(plain) = Instance::start(Kind::Redis) else {
        return;
    };
    let durable = Instance::start(Kind::RedisDurable).expect("redis-server is there");
    for server in [&plain, &durable] {
        assert_eq!(redis_cli(server, &["set", "k", "v"]).as_deref(), Some("OK"));
        server.kill().start();
    }
    assert_eq!(redis_cli(&plain, &["get", "k"]).as_deref(), Some(""));
    assert_eq!(redis_cli(&durable, &["get", "k"]).as_deref(), Some("v"));
}

#[test]
fn postgres_keeps_committed_rows() {
    let Some(server) = stop_and_start(Kind::Postgres) else {
        return;
    };
    let port = server.port().to_string();
    let psql = |sql: &str| {
        let args = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "test",
            "-tAc",
            sql,
        ];
        client("psql", &args)
    };
    assert!(psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')").is_some());
    server.restart();
    assert_eq!(psql("SELECT v FROM t").as_deref(), Some("kept"));
}

#[test]
fn mariadb_keeps_committed_rows() {
    let Some(server) = stop_and_start(Kind::MariaDb) else {
        return;
    };
    let port = format!("-P{}", server.port());
    let sql = |sql: &str| {
        client(
            "mariadb",
            &["-uroot", "-h127.0.0.1", &port, "-N", "test", "-e", sql],
        )
    };
    assert!(sql("CREATE TABLE t (v TEXT) ENGINE=InnoDB; INSERT INTO t VALUES ('kept')").is_some());
    server.restart();
    assert_eq!(sql("SELECT v FROM t").as_deref(), Some("kept"));
}

#[test]
fn mosquitto_stops_and_starts() {
    stop_and_start(Kind::Mosquitto);
}

#[test]
fn nats_stops_and_starts() {
    stop_and_start(Kind::Nats);
}

#[test]
fn rabbitmq_node_stops_and_starts() {
    stop_and_start(Kind::RabbitMq);
}

#[test]
fn kafka_stops_and_starts() {
    stop_and_start(Kind::Kafka);
}
