//! Delivery promise under app faults, MQTT source (QoS 1, persistent session): the app refuses
//! a random 10% of events with 500 and is SIGKILLed and restarted once mid-stream. With
//! `backOffMaxRetries: -1` the component hands a refused message again until the app takes it,
//! and the PUBACK goes out only then: `lost=0`.

use std::time::Duration;

use bindery_testkit::faults::{self, AppKill, KillableApp, Server};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_events_survive_app_errors_and_an_app_kill() {
    if !Server::Mosquitto.require() || !faults::require(KillableApp::python_available(), "python3")
    {
        return;
    }
    let id = faults::unique("bfk");
    let topic = format!("bindery/faults/{id}");
    let component = faults::component(
        "mqtt",
        "mqtt3",
        &[
            ("url", "tcp://127.0.0.1:1883"),
            ("topic", &topic),
            ("consumerID", &id),
            ("cleanSession", "false"),
            ("backOffMaxRetries", "-1"),
            ("backOffInterval", "100ms"),
        ],
    );
    let (counts, missing, log) = AppKill {
        scenario: "app-kill mqtt",
        binary: BIN,
        app_script: APP,
        binding: "mqtt",
        files: vec![("mqtt.yaml".into(), component)],
        sidecar_args: vec![],
        events: 2000,
        fail_rate: 0.10,
        down: Duration::from_millis(700),
        wait: Duration::from_secs(40),
    }
    .run()
    .await;
    faults::mqtt_forget_session(&format!("{id}-consumer"));
    assert_eq!(counts.lost, 0, "lost events (first 20): {missing:?}\n{log}");
    assert_eq!(counts.unexpected, 0, "the app saw events nobody sent");
    assert_eq!(counts.delivered, 2000);
}
