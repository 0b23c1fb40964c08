//! A RabbitMQ node of the test's own stopped (`rabbitmqctl -n <node> stop`) and started again
//! while bindery publishes to and consumes from a durable queue: output and input resume by
//! themselves, and every publish that answered 2xx reaches the app.

use std::time::Duration;

use bindery_testkit::faults::{self, BrokerRestart, KillableApp};
use bindery_testkit::servers::{Instance, Kind};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restart_mid_stream() {
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let Some(broker) = Instance::start(Kind::RabbitMq) else {
        return;
    };
    let queue = faults::unique("bindery-faults-restart-");
    let component = faults::component(
        "rabbit",
        "rabbitmq",
        &[
            ("host", &broker.url()),
            ("queueName", &queue),
            ("durable", "true"),
            ("reconnectWaitInSeconds", "1"),
        ],
    );
    let r = BrokerRestart {
        scenario: "restart rabbitmq",
        binary: BIN,
        app_script: APP,
        server: &broker,
        binding: "rabbit",
        files: vec![("rabbit.yaml".into(), component)],
        down: Duration::from_secs(2),
    }
    .run()
    .await;
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
