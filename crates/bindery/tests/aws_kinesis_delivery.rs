//! Delivery promise of the aws.kinesis input through the real binary, against moto.
//!
//! 1. One sidecar, a 2-shard stream, 300 records published through the output binding; the
//!    app refuses a random 10% with 500 and is SIGKILLed and restarted once: every record must
//!    reach the app (`lost=0`), since a record is checkpointed only after the app accepted it.
//! 2. Two sidecars with the same `consumerName` on a 4-shard stream split the shards by leases
//!    (both apps get records, none is lost while both refuse 10%); when one stops, the other
//!    takes its shards over and gets every later record.
#![cfg(feature = "aws-kinesis")]

use std::time::{Duration, Instant};

use bindery_testkit::faults::{self, AppKill, Counts, KillableApp};
use bindery_testkit::moto::{self, Moto};
use bindery_testkit::{Sidecar, resources};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

fn component(moto: &Moto, stream: &str, consumer: &str) -> String {
    let endpoint = moto.endpoint();
    faults::component(
        "kin",
        "aws.kinesis",
        &[
            ("streamName", stream),
            ("consumerName", consumer),
            ("initialPosition", "TRIM_HORIZON"),
            ("leaseDuration", "4s"),
            ("endpoint", &endpoint),
            ("region", moto::REGION),
            ("accessKey", moto::ACCESS_KEY),
            ("secretKey", moto::SECRET_KEY),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_records_survive_app_errors_and_an_app_kill() {
    let Some(moto) = Moto::start() else { return };
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    moto.create_stream("events", 2).await;
    let (counts, missing, log) = AppKill {
        scenario: "app-kill aws.kinesis",
        binary: BIN,
        app_script: APP,
        binding: "kin",
        files: vec![("kin.yaml".into(), component(&moto, "events", "app-kill"))],
        sidecar_args: vec![],
        events: 300,
        fail_rate: 0.10,
        down: Duration::from_millis(700),
        wait: Duration::from_secs(90),
    }
    .run()
    .await;
    assert_eq!(
        counts.lost, 0,
        "lost records (first 20): {missing:?}\n{log}"
    );
    assert_eq!(counts.unexpected, 0);
    assert_eq!(counts.delivered, 300);
}

fn received(app: &KillableApp) -> Vec<String> {
    app.accepted().iter().map(|b| faults::unquote(b)).collect()
}

async fn wait_all(sent: &[String], got: impl Fn() -> Vec<String>, within: Duration) -> Counts {
    let deadline = Instant::now() + within;
    while Counts::of(sent, &got()).lost > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Counts::of(sent, &got())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sidecars_split_the_shards_and_one_takes_over_when_the_other_stops() {
    let Some(moto) = Moto::start() else { return };
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    moto.create_stream("shared", 4).await;
    let dir = resources(&[("kin.yaml", &component(&moto, "shared", "group"))]);
    let app_a = KillableApp::start(APP, 0.10, 0);
    let app_b = KillableApp::start(APP, 0.10, 0);
    let mut a = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_a.port)
        .spawn()
        .await;
    a.wait_ready().await;
    let b = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app_b.port)
        .spawn()
        .await;
    b.wait_ready().await;
    // Let the two settle on 2 shards each (a few lease rounds).
    tokio::time::sleep(Duration::from_secs(6)).await;

    let first = faults::ids("split", 200);
    let (sent, failed) = faults::invoke_each(&a, "kin", "create", &first, 8).await;
    assert_eq!(failed, 0);
    let both = || {
        let mut got = received(&app_a);
        got.extend(received(&app_b));
        got
    };
    let counts = wait_all(&sent, both, Duration::from_secs(60)).await;
    faults::report(
        "two-sidecars aws.kinesis",
        &counts,
        &format!("a={} b={}", received(&app_a).len(), received(&app_b).len()),
    );
    assert_eq!(
        counts.lost,
        0,
        "{}\n{}",
        faults::tail(&a.output(), 30),
        faults::tail(&b.output(), 30)
    );
    assert!(
        !received(&app_a).is_empty() && !received(&app_b).is_empty(),
        "both sidecars consumed: the shards were split"
    );

    // A stops cleanly (its leases are released); B reads every shard from then on.
    a.terminate();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = faults::ids("after", 100);
    let (sent, failed) = faults::invoke_each(&b, "kin", "create", &later, 8).await;
    assert_eq!(failed, 0);
    let later_at_b = || {
        received(&app_b)
            .into_iter()
            .filter(|r| r.starts_with("after"))
            .collect::<Vec<_>>()
    };
    let counts = wait_all(&sent, later_at_b, Duration::from_secs(60)).await;
    faults::report("takeover aws.kinesis", &counts, "");
    assert_eq!(
        counts.lost,
        0,
        "B took A's shards over\n{}",
        faults::tail(&b.output(), 30)
    );
}
