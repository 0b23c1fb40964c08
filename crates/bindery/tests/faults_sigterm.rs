//! SIGTERM under load: a RabbitMQ input with a slow app and hundreds of messages queued. After
//! the signal no message the app did not accept may have been acked: each one is either recorded
//! by the app as accepted (2xx) or still in the queue, and the sidecar exits 0 within its
//! graceful period. Runs twice: an app faster than the graceful period (in-flight work
//! finishes) and one slower (the delivery is abandoned and the message must stay queued).

use std::time::{Duration, Instant};

use bindery_testkit::faults::{self, Counts, KillableApp, Server};
use bindery_testkit::{Sidecar, amqp, resources};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/recording_app.py");
const QUEUED: usize = 300;

async fn sigterm_scenario(
    scenario: &str,
    app_delay_ms: u64,
    graceful_seconds: u64,
    accepted_before: usize,
) {
    let queue = faults::unique("bindery-faults-term-");
    let dir = resources(&[(
        "rabbit.yaml",
        &faults::component(
            "rabbit",
            "rabbitmq",
            &[
                ("host", &amqp::url()),
                ("queueName", &queue),
                ("durable", "true"),
            ],
        ),
    )]);
    let app = KillableApp::start(APP, 0.0, app_delay_ms);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .args([
            "--dapr-graceful-shutdown-seconds",
            &graceful_seconds.to_string(),
        ])
        .spawn()
        .await;
    sidecar.wait_ready().await;
    let ids = faults::ids(&scenario.replace(' ', "-"), QUEUED);
    let (sent, failed) = faults::invoke_each(&sidecar, "rabbit", "create", &ids, 16).await;
    assert_eq!(failed, 0, "every publish succeeded");

    let deadline = Instant::now() + Duration::from_secs(30);
    while app.accepted().len() < accepted_before {
        assert!(
            Instant::now() < deadline,
            "the app got too few events\n{}",
            sidecar.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    assert!(sidecar.send_signal("TERM"));
    let status = sidecar.wait_exit(Duration::from_secs(graceful_seconds + 10));
    let exit_took = signalled.elapsed();
    let log = faults::tail(&sidecar.output(), 40);

    let accepted: Vec<String> = app.accepted().iter().map(|b| faults::unquote(b)).collect();
    // The queue once the sidecar is gone: every unacked message is back in it.
    let remaining: Vec<String> = amqp::drain(&queue)
        .await
        .iter()
        .map(|b| faults::unquote(b))
        .collect();
    amqp::delete(&queue).await;
    let mut both = accepted.clone();
    both.extend(remaining.iter().cloned());
    let counts = Counts::of(&sent, &both);
    faults::report(
        scenario,
        &counts,
        &format!(
            "accepted={} still_queued={} exit={:?} exit_after={:.1}s graceful={}s",
            accepted.len(),
            remaining.len(),
            status.code(),
            exit_took.as_secs_f64(),
            graceful_seconds
        ),
    );
    assert_eq!(status.code(), Some(0), "exit status\n{log}");
    assert!(
        exit_took < Duration::from_secs(graceful_seconds + 3),
        "exit took {exit_took:?}\n{log}"
    );
    let missing = Counts::missing(&sent, &both);
    assert_eq!(
        counts.lost,
        0,
        "acked without the app accepting (first 20): {:?}\n{log}",
        &missing[..missing.len().min(20)]
    );
    assert_eq!(counts.unexpected, 0);
    assert!(
        !remaining.is_empty(),
        "the test stopped the sidecar before the queue drained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_slow_app_acks_only_what_the_app_accepted() {
    if !Server::RabbitMq.require() || !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    sigterm_scenario("sigterm rabbitmq slow-app", 50, 5, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_app_slower_than_the_graceful_period_leaves_the_event_queued() {
    if !Server::RabbitMq.require() || !faults::require(KillableApp::python_available(), "python3") {
        return;
    }
    sigterm_scenario("sigterm rabbitmq app-slower-than-grace", 3000, 1, 1).await;
}
