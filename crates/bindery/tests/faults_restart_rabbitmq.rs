//! RabbitMQ restarted (`rabbitmqctl stop_app` / `start_app`) while bindery publishes to and
//! consumes from a durable queue: output and input resume by themselves, and every publish that
//! answered 2xx reaches the app. The only test in this binary: nothing else runs while the
//! broker is down.

use std::time::Duration;

use bindery_testkit::amqp;
use bindery_testkit::faults::{self, BrokerRestart, KillableApp, Server};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restart_mid_stream() {
    if !Server::RabbitMq.require() || !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let queue = faults::unique("bindery-faults-restart-");
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
    let r = BrokerRestart {
        scenario: "restart rabbitmq",
        binary: BIN,
        app_script: APP,
        server: Server::RabbitMq,
        binding: "rabbit",
        files: vec![("rabbit.yaml".into(), component)],
        down: Duration::from_secs(2),
    }
    .run()
    .await;
    amqp::delete(&queue).await;
    let recovered = r.outage.recovered_after.expect("output recovered");
    assert!(
        recovered < Duration::from_secs(15),
        "output took {recovered:?}\n{}",
        r.log
    );
    assert!(r.drained_after.is_some(), "input did not resume\n{}", r.log);
    assert_eq!(
        r.counts.lost, 0,
        "lost (first 20): {:?}\n{}",
        r.missing, r.log
    );
    assert_eq!(r.counts.unexpected, 0);
}
