//! Resiliency policies and input delivery options end to end, through the real binary: what
//! the caller, the upstream and the app see.

use std::process::Command;
use std::time::Duration;

use bindery_testkit::amqp::url as rabbit_url;
use bindery_testkit::{Sidecar, TestApp, components, eventually, resources};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

/// A cron component with `extra` metadata items (raw YAML).
fn cron(name: &str, schedule: &str, extra: &str) -> String {
    components::cron(name, schedule) + extra
}

fn resiliency(body: &str) -> String {
    format!("apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: res\nspec:\n{body}")
}

async fn body(r: reqwest::Response) -> Value {
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[tokio::test]
async fn outbound_retries_recover_from_503_but_never_retry_a_404() {
    let upstream = TestApp::start().await;
    upstream.respond(Method::POST, "/flaky", &[503, 503, 200]);
    upstream.respond(Method::POST, "/missing", &[404]);
    let base = format!("http://127.0.0.1:{}", upstream.port);
    let dir = resources(&[
        (
            "a.yaml",
            &components::http("flaky", &format!("{base}/flaky")),
        ),
        (
            "b.yaml",
            &components::http("missing", &format!("{base}/missing")),
        ),
        (
            "resiliency.yaml",
            &resiliency(
                "  policies:\n    retries:\n      fast:\n        policy: constant\n        duration: 50ms\n        maxRetries: 5\n      DefaultBindingComponentOutboundRetryPolicy:\n        duration: 50ms\n        maxRetries: 5\n  targets:\n    components:\n      flaky:\n        outbound:\n          retry: fast\n",
            ),
        ),
    ]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;

    let r = sidecar
        .invoke("flaky", json!({"operation": "post", "data": "x"}))
        .await;
    assert_eq!(r.status(), 200, "{}", sidecar.output());
    assert_eq!(upstream.requests_to(&Method::POST, "/flaky").len(), 3);

    let r = sidecar
        .invoke("missing", json!({"operation": "post", "data": "x"}))
        .await;
    assert_eq!(r.status(), 500);
    let v = body(r).await;
    assert_eq!(v["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    assert_eq!(
        upstream.requests_to(&Method::POST, "/missing").len(),
        1,
        "a 404 is not retriable, even under the default retry policy"
    );
}

#[tokio::test]
async fn outbound_timeout_answers_500_with_the_deadline_message() {
    let upstream = TestApp::start().await;
    upstream.set_delay(Duration::from_secs(3));
    let dir = resources(&[
        (
            "a.yaml",
            &components::http("slow", &format!("http://127.0.0.1:{}/slow", upstream.port)),
        ),
        (
            "resiliency.yaml",
            &resiliency(
                "  policies:\n    timeouts:\n      short: 300ms\n  targets:\n    components:\n      slow:\n        outbound:\n          timeout: short\n",
            ),
        ),
    ]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let started = std::time::Instant::now();
    let r = sidecar
        .invoke("slow", json!({"operation": "post", "data": "x"}))
        .await;
    assert_eq!(r.status(), 500);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout cut the call short"
    );
    let v = body(r).await;
    assert_eq!(v["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    assert_eq!(
        v["message"],
        "error invoking output binding slow: context deadline exceeded (resiliency timeout 300ms)"
    );
}

#[tokio::test]
async fn circuit_breaker_opens_fails_fast_then_half_opens() {
    let upstream = TestApp::start().await;
    upstream.respond(Method::POST, "/down", &[503]);
    let dir = resources(&[
        (
            "a.yaml",
            &components::http("down", &format!("http://127.0.0.1:{}/down", upstream.port)),
        ),
        (
            "resiliency.yaml",
            &resiliency(
                "  policies:\n    circuitBreakers:\n      cb:\n        maxRequests: 1\n        timeout: 1s\n        trip: consecutiveFailures >= 2\n  targets:\n    components:\n      down:\n        outbound:\n          circuitBreaker: cb\n",
            ),
        ),
    ]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    let call = || sidecar.invoke("down", json!({"operation": "post", "data": "x"}));
    for _ in 0..2 {
        assert_eq!(call().await.status(), 500);
    }
    assert_eq!(upstream.requests_to(&Method::POST, "/down").len(), 2);
    for _ in 0..3 {
        let r = call().await;
        assert_eq!(r.status(), 500);
        assert_eq!(
            body(r).await["message"],
            "error invoking output binding down: circuit breaker is open"
        );
    }
    assert_eq!(
        upstream.requests_to(&Method::POST, "/down").len(),
        2,
        "an open breaker never reaches the upstream"
    );
    upstream.respond(Method::POST, "/down", &[200]);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = call().await;
    assert_eq!(r.status(), 200, "the half-open probe goes through");
    assert_eq!(call().await.status(), 200, "and closes the breaker");
    assert_eq!(upstream.requests_to(&Method::POST, "/down").len(), 4);
    assert!(
        sidecar
            .output()
            .contains("changed state from closed to open"),
        "{}",
        sidecar.output()
    );
}

#[tokio::test]
async fn inbound_retries_follow_the_policy_matching_and_delivery_attempts() {
    let app = TestApp::start().await;
    app.respond(Method::POST, "/retried", &[500, 500, 500, 200]);
    app.respond(Method::POST, "/notmatched", &[404]);
    app.respond(Method::POST, "/attempts", &[500]);
    let files = [
        ("a.yaml", cron("retried", "@every 5s", "")),
        ("b.yaml", cron("notmatched", "@every 5s", "")),
        (
            "c.yaml",
            cron(
                "attempts",
                "@every 5s",
                "  - name: deliveryAttempts\n    value: \"3\"\n",
            ),
        ),
        (
            "resiliency.yaml",
            resiliency(
                "  policies:\n    retries:\n      app:\n        duration: 100ms\n        maxRetries: 5\n        matching:\n          httpStatusCodes: 500-599\n  targets:\n    components:\n      retried:\n        inbound:\n          retry: app\n      notmatched:\n        inbound:\n          retry: app\n",
            ),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = resources(&files);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    // The first tick fires after 5 s and the next after 10 s: every POST seen before then
    // belongs to the first tick's event.
    let retried = app
        .posts_within("/retried", 4, Duration::from_secs(8))
        .await;
    assert_eq!(
        retried.len(),
        4,
        "three failures, then accepted\n{}",
        sidecar.output()
    );
    let attempts = app
        .posts_within("/attempts", 3, Duration::from_secs(2))
        .await;
    assert_eq!(attempts.len(), 3, "deliveryAttempts: 3");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.requests_to(&Method::POST, "/retried").len(), 4);
    assert_eq!(app.requests_to(&Method::POST, "/attempts").len(), 3);
    assert_eq!(
        app.requests_to(&Method::POST, "/notmatched").len(),
        1,
        "a 404 is outside matching.httpStatusCodes"
    );
}

#[tokio::test]
async fn max_concurrent_deliveries_bounds_one_binding() {
    async fn run(limit: &str) -> (usize, Sidecar) {
        let app = TestApp::start().await;
        app.set_delay(Duration::from_millis(2500));
        let dir = resources(&[("a.yaml", &cron("tick", "@every 1s", limit))]);
        let sidecar = Sidecar::builder(BIN)
            .resources(dir.path())
            .app_port(app.port)
            .spawn()
            .await;
        let mut most = 0;
        for _ in 0..120 {
            most = most.max(app.in_flight());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (most, sidecar)
    }
    let ((limited, a), (unlimited, b)) = tokio::join!(
        run("  - name: maxConcurrentDeliveries\n    value: \"1\"\n"),
        run("")
    );
    assert_eq!(limited, 1, "{}", a.output());
    assert!(
        unlimited >= 2,
        "cron overlaps ticks without the limit\n{}",
        b.output()
    );
}

#[tokio::test]
async fn an_invalid_resiliency_stops_start_up_and_validate_points_at_the_line() {
    let text = resiliency(
        "  policies:\n    circuitBreakers:\n      cb:\n        trip: size(requests) > 5\n",
    );
    let dir = resources(&[("resiliency.yaml", &text)]);
    let mut sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .no_wait()
        .spawn()
        .await;
    let status = sidecar.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    let output = sidecar.output();
    assert!(
        output.contains("field spec.policies.circuitBreakers.cb.trip")
            && output.contains("resiliency.yaml"),
        "{output}"
    );

    let out = Command::new(BIN)
        .arg("validate")
        .arg(dir.path())
        .output()
        .expect("run validate");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resiliency.yaml:9: field spec.policies.circuitBreakers.cb.trip"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ: what happens to a message the app never accepts.

fn rabbit_reachable() -> bool {
    let url = rabbit_url();
    let authority = url.split("://").nth(1).unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let host_port = authority.split('/').next().unwrap_or_default();
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(address.as_str())
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    bindery_testkit::require(reachable, &format!("RabbitMQ at {address}"))
}

/// Deletes the test's queues when it ends, however it ends.
struct Queues(Vec<String>);

impl Drop for Queues {
    fn drop(&mut self) {
        for q in &self.0 {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "delete_queue", q])
                .output();
        }
    }
}

/// `(ready, unacknowledged)` messages of a queue, from the broker itself.
fn queue_depth(queue: &str) -> Option<(u64, u64)> {
    let out = Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_queues",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next()? == queue).then_some(())?;
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    })
}

/// A durable rabbitmq component with `extra` metadata items (raw YAML).
fn rabbit(name: &str, queue: &str, extra: &str) -> String {
    let metadata = [
        ("host", rabbit_url()),
        ("queueName", queue.to_owned()),
        ("durable", "true".to_owned()),
        ("deleteWhenUnused", "false".to_owned()),
    ];
    let metadata: Vec<(&str, &str)> = metadata.iter().map(|(k, v)| (*k, v.as_str())).collect();
    components::component(name, "bindings.rabbitmq", &metadata) + extra
}

#[tokio::test]
async fn rabbitmq_dead_letter_drop_and_default_nack() {
    if !rabbit_reachable() {
        return;
    }
    let id = uuid_suffix();
    let q = |n: &str| format!("bindery-resil-{n}-{id}");
    let _queues = Queues(vec![q("src"), q("dlq"), q("drop"), q("nack")]);
    let app = TestApp::start().await;
    app.respond(Method::POST, "/src", &[500]);
    app.respond(Method::POST, "/dropper", &[500]);
    app.respond(Method::POST, "/plain", &[500, 500, 500, 200]);
    let files = [
        (
            "src.yaml",
            rabbit(
                "src",
                &q("src"),
                "  - name: deadLetterBinding\n    value: dlq\n  - name: deliveryAttempts\n    value: \"2\"\n",
            ),
        ),
        ("dlq.yaml", rabbit("dlq", &q("dlq"), "")),
        (
            "drop.yaml",
            rabbit(
                "dropper",
                &q("drop"),
                "  - name: onDeliveryFailure\n    value: drop\n",
            ),
        ),
        ("nack.yaml", rabbit("plain", &q("nack"), "")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = resources(&files);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    for (binding, data) in [
        ("src", "poison"),
        ("dropper", "dropped"),
        ("plain", "retry me"),
    ] {
        let r = sidecar
            .invoke(
                binding,
                json!({"operation": "create", "data": data, "metadata": {"origin": "test"}}),
            )
            .await;
        assert_eq!(
            r.status(),
            204,
            "publish to {binding}: {}",
            sidecar.output()
        );
    }

    // Dead letter: two attempts, then the event lands on the dlq queue, read back by its input.
    let dead = app.posts_within("/dlq", 1, Duration::from_secs(15)).await;
    assert_eq!(dead.len(), 1, "dead-lettered\n{}", sidecar.output());
    assert_eq!(dead[0].body, "\"poison\"");
    assert_eq!(dead[0].header("bindery.failure.binding"), Some("src"));
    assert!(
        dead[0]
            .header("bindery.failure.reason")
            .is_some_and(|r| r.contains("status code: 500")),
        "{:?}",
        dead[0].headers
    );
    assert_eq!(
        dead[0].header("origin"),
        Some("test"),
        "the event's metadata travels along"
    );
    assert_eq!(app.requests_to(&Method::POST, "/src").len(), 2);

    // Drop: one attempt, acknowledged, logged.
    let dropped = app
        .posts_within("/dropper", 1, Duration::from_secs(10))
        .await;
    assert_eq!(dropped.len(), 1);
    assert!(
        eventually(Duration::from_secs(5), || async {
            sidecar
                .output()
                .contains("Dropping an event the app did not accept")
                .then_some(())
        })
        .await
        .is_some(),
        "{}",
        sidecar.output()
    );

    // Default: nacked and redelivered until the app accepts it.
    let plain = app.posts_within("/plain", 4, Duration::from_secs(10)).await;
    assert_eq!(plain.len(), 4, "redelivered after each nack");
    assert!(plain.iter().all(|p| p.body == "\"retry me\""));

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app.requests_to(&Method::POST, "/src").len(),
        2,
        "acked: no redelivery"
    );
    assert_eq!(
        app.requests_to(&Method::POST, "/dropper").len(),
        1,
        "acked: no redelivery"
    );
    assert_eq!(app.requests_to(&Method::POST, "/plain").len(), 4);
    for queue in [q("src"), q("drop"), q("nack"), q("dlq")] {
        assert_eq!(
            queue_depth(&queue),
            Some((0, 0)),
            "{queue} holds nothing ready or unacknowledged"
        );
    }
}

#[tokio::test]
async fn a_failing_dead_letter_binding_leaves_the_event_with_its_source() {
    if !rabbit_reachable() {
        return;
    }
    let id = uuid_suffix();
    let queue = format!("bindery-resil-dlfail-{id}");
    let _queues = Queues(vec![queue.clone()]);
    let app = TestApp::start().await;
    app.respond(Method::POST, "/src", &[500]);
    // The dead-letter target is an http binding pointing at a port nobody answers.
    let dead_port = bindery_testkit::free_port();
    let files = [
        (
            "src.yaml",
            rabbit(
                "src",
                &queue,
                "  - name: deadLetterBinding\n    value: broken\n",
            ),
        ),
        (
            "broken.yaml",
            components::http("broken", &format!("http://127.0.0.1:{dead_port}/x")),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = resources(&files);
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;
    sidecar.wait_ready().await;
    let r = sidecar
        .invoke("src", json!({"operation": "create", "data": "keep me"}))
        .await;
    assert_eq!(r.status(), 204);
    let posts = app.posts_within("/src", 3, Duration::from_secs(10)).await;
    assert!(
        posts.len() >= 3,
        "the dead-letter failure nacks, so the broker redelivers\n{}",
        sidecar.output()
    );
    assert!(sidecar.output().contains("The dead-letter binding failed"));
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", nanos, std::process::id())
}
