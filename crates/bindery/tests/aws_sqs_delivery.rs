//! Delivery promise of the aws.sqs input through the real binary, against moto: 500 messages
//! published through the output binding, the app refuses a random 10% with 500 and is
//! SIGKILLed and restarted once mid-stream. A refused message stays in the queue and comes back
//! after the visibility timeout (1 s here), so every message must reach the app: `lost=0`.
#![cfg(feature = "aws-sqs")]

use std::time::Duration;

use bindery_testkit::faults::{self, AppKill, KillableApp};
use bindery_testkit::moto::{self, Moto};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

async fn scenario(scenario: &str, extra: &[(&str, &str)]) {
    let Some(moto) = Moto::start() else { return };
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let queue = faults::unique("bindery-sqs-");
    moto.create_queue(&queue, 1).await;
    let endpoint = moto.endpoint();
    let mut metadata = vec![
        ("queueName", queue.as_str()),
        ("endpoint", endpoint.as_str()),
        ("region", moto::REGION),
        ("accessKey", moto::ACCESS_KEY),
        ("secretKey", moto::SECRET_KEY),
    ];
    metadata.extend_from_slice(extra);
    let component = faults::component("sqs", "aws.sqs", &metadata);
    let (counts, missing, log) = AppKill {
        scenario,
        binary: BIN,
        app_script: APP,
        binding: "sqs",
        files: vec![("sqs.yaml".into(), component)],
        sidecar_args: vec![],
        events: 500,
        fail_rate: 0.10,
        down: Duration::from_millis(700),
        wait: Duration::from_secs(90),
    }
    .run()
    .await;
    assert_eq!(counts.lost, 0, "lost events (first 20): {missing:?}\n{log}");
    assert_eq!(counts.unexpected, 0, "the app saw events nobody sent");
    assert_eq!(counts.delivered, 500);
}

/// One test, two scenarios one after the other (moto and the app share two cores): daprd's
/// one-message receive, then bindery's `maxMessages: 10` batches delivered concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_messages_survive_app_errors_and_an_app_kill() {
    scenario("app-kill aws.sqs", &[]).await;
    scenario("app-kill aws.sqs batches", &[("maxMessages", "10")]).await;
}
