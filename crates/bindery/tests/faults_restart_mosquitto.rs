//! A Mosquitto of the test's own (with persistence) stopped (SIGTERM) and started again while
//! bindery publishes to and consumes from a topic with a persistent session: output and input
//! resume by themselves, and every publish that answered 2xx reaches the app.

use std::time::Duration;

use bindery_testkit::faults::{self, BrokerRestart, KillableApp};
use bindery_testkit::servers::{Instance, Kind};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restart_mid_stream() {
    if !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    let Some(broker) = Instance::start(Kind::Mosquitto) else {
        return;
    };
    let id = faults::unique("bfr");
    let component = faults::component(
        "mqtt",
        "mqtt3",
        &[
            ("url", &broker.url()),
            ("topic", &format!("bindery/faults/{id}")),
            ("consumerID", &id),
            ("cleanSession", "false"),
            ("backOffMaxRetries", "-1"),
            ("backOffInterval", "100ms"),
        ],
    );
    let r = BrokerRestart {
        scenario: "restart mosquitto",
        binary: BIN,
        app_script: APP,
        server: &broker,
        binding: "mqtt",
        files: vec![("mqtt.yaml".into(), component)],
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
