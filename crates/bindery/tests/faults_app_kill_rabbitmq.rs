//! Delivery promise under app faults, RabbitMQ source: the app refuses a random 10% of events
//! with 500 and is SIGKILLed and restarted once mid-stream. daprd's default for a refused event
//! (nack + requeue) must bring every message to the app: `lost=0`.

use std::time::Duration;

use bindery_testkit::amqp;
use bindery_testkit::faults::{self, AppKill, KillableApp, Server};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_events_survive_app_errors_and_an_app_kill() {
    if !Server::RabbitMq.require() || !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let queue = faults::unique("bindery-faults-kill-");
    let component = faults::component(
        "rabbit",
        "rabbitmq",
        &[
            ("host", &amqp::url()),
            ("queueName", &queue),
            ("durable", "true"),
            ("reconnectWaitInSeconds", "1"),
        ],
    );
    let (counts, missing, log) = AppKill {
        scenario: "app-kill rabbitmq",
        binary: BIN,
        app_script: APP,
        binding: "rabbit",
        files: vec![("rabbit.yaml".into(), component)],
        sidecar_args: vec![],
        events: 2000,
        fail_rate: 0.10,
        down: Duration::from_millis(700),
        wait: Duration::from_secs(40),
    }
    .run()
    .await;
    amqp::delete(&queue).await;
    assert_eq!(counts.lost, 0, "lost events (first 20): {missing:?}\n{log}");
    assert_eq!(counts.unexpected, 0, "the app saw events nobody sent");
    assert_eq!(counts.delivered, 2000);
}
