//! Replicas share a queue's work: three sidecars consume one RabbitMQ queue (`prefetchCount`
//! 10 each, so the broker spreads messages over them), 5000 messages are published, and one
//! sidecar is SIGKILLed mid-stream. RabbitMQ requeues what the dead one had not acked, the two
//! others process it: every message processed, 0 lost, each replica having taken a share.
//! Messages the killed sidecar had handed to its app but not acked yet come again (at least
//! once): they are counted as duplicates.

use std::time::{Duration, Instant};

use bindery_testkit::deploy::{Shares, amqp_publish};
use bindery_testkit::faults::{self, Server};
use bindery_testkit::{Sidecar, TestApp, amqp, resources};
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const EVENTS: usize = 5000;

fn received(app: &TestApp) -> Vec<String> {
    app.requests_to(&Method::POST, "/work")
        .iter()
        .map(|r| faults::unquote(&String::from_utf8_lossy(&r.body)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_sidecars_share_a_queue_and_survive_a_sigkill() {
    if !Server::RabbitMq.require() {
        return;
    }
    let queue = faults::unique("bindery-replicas-");
    let component = faults::component(
        "work",
        "rabbitmq",
        &[
            ("host", &amqp::url()),
            ("queueName", &queue),
            ("durable", "true"),
            ("prefetchCount", "10"),
            ("reconnectWaitInSeconds", "1"),
        ],
    );
    let dir = resources(&[("work.yaml", &component)]);
    let mut apps = Vec::new();
    let mut sidecars = Vec::new();
    for _ in 0..3 {
        let app = TestApp::start().await;
        sidecars.push(
            Sidecar::builder(BIN)
                .resources(dir.path())
                .app_port(app.port)
                .spawn()
                .await,
        );
        apps.push(app);
    }
    // Every sidecar consumes before the first message goes out.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent = faults::ids("job", EVENTS);
    let started = Instant::now();
    amqp_publish(&queue, &sent).await;
    println!("published {EVENTS} in {:?}", started.elapsed());

    // SIGKILL the third replica once a fifth of the work is done.
    let killed = 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    while apps.iter().map(|a| received(a).len()).sum::<usize>() < EVENTS / 5 {
        assert!(Instant::now() < deadline, "the work never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sidecars[killed].send_signal("KILL"));
    let at_kill = received(&apps[killed]).len();
    println!("SIGKILLed replica {killed} after it processed {at_kill}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let shares = loop {
        let all: Vec<Vec<String>> = apps.iter().map(received).collect();
        let shares = Shares::of(&sent, &all);
        if shares.lost == 0 || Instant::now() > deadline {
            break shares;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = started.elapsed();
    println!("rabbitmq replicas (3 sidecars, one SIGKILLed): {shares} in {took:?}");
    let left = amqp::depth(&queue).await;
    amqp::delete(&queue).await;
    assert_eq!(
        shares.lost,
        0,
        "every message processed:\n{}",
        sidecars[0].output()
    );
    assert_eq!(shares.processed, EVENTS);
    assert!(
        shares.per_replica.iter().all(|&n| n > 0),
        "each replica took a share: {shares}"
    );
    assert!(
        shares.duplicates <= 10,
        "at most the killed replica's unacked prefetch comes again: {shares}"
    );
    assert_eq!(left, Some(0), "nothing left in the queue");
}
