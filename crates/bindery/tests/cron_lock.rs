//! A schedule fires once across replicas: three sidecars run the same `bindings.cron`
//! component (`@every 1s`) with `lockStore` naming a `lock.redis` component. daprd fires a
//! cron on every replica (three ticks a second here); with the lease only its holder fires:
//! ticks counted over a window are one per second, all from one replica. The holder is then
//! SIGKILLed (no release): another replica takes over within the bound (`lockTTL` 3s → 4s) and
//! the schedule goes on at one tick a second. Redis is a throwaway `redis-server` on a free port.

use std::time::{Duration, Instant};

use bindery_testkit::deploy::RedisServer;
use bindery_testkit::{Sidecar, TestApp, faults, resources};
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");
const TTL_SECS: u64 = 3;

fn ticks(apps: &[TestApp]) -> Vec<usize> {
    apps.iter()
        .map(|a| a.requests_to(&Method::POST, "/tick").len())
        .collect()
}

fn diff(after: &[usize], before: &[usize]) -> Vec<usize> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

async fn window(apps: &[TestApp], length: Duration) -> Vec<usize> {
    let before = ticks(apps);
    tokio::time::sleep(length).await;
    diff(&ticks(apps), &before)
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_fire_one_tick_per_schedule_and_survive_killing_the_holder() {
    let Some(redis) = RedisServer::start() else {
        faults::require(false, "redis-server");
        return;
    };
    let lock = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: locks\nspec:\n  type: lock.redis\n  version: v1\n  metadata:\n  - name: redisHost\n    value: {}\n  - name: redisPassword\n    value: \"\"\n",
        redis.address()
    );
    let cron = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 1s\"\n  - name: lockStore\n    value: locks\n  - name: lockTTL\n    value: {TTL_SECS}s\n"
    );
    let dir = resources(&[("locks.yaml", &lock), ("tick.yaml", &cron)]);
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
    let deadline = Instant::now() + Duration::from_secs(15);
    while ticks(&apps).iter().sum::<usize>() == 0 {
        assert!(
            Instant::now() < deadline,
            "no tick at all:\n{}",
            sidecars[0].output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let seconds = 6;
    let first = window(&apps, Duration::from_secs(seconds)).await;
    let total: usize = first.iter().sum();
    println!("window 1 ({seconds}s, 3 replicas): ticks per replica {first:?}, total {total}");
    assert!(
        (seconds as usize - 1..=seconds as usize + 1).contains(&total),
        "one tick per second across replicas, not three: {first:?}"
    );
    let holder = first.iter().position(|&n| n > 0).unwrap();
    assert_eq!(
        first.iter().filter(|&&n| n > 0).count(),
        1,
        "one holder fires: {first:?}"
    );

    // SIGKILL the holder: its lease is not released, it expires.
    let before = ticks(&apps);
    assert!(sidecars[holder].send_signal("KILL"));
    let killed = Instant::now();
    let bound = Duration::from_secs(TTL_SECS + TTL_SECS / 3);
    let takeover = loop {
        let now = diff(&ticks(&apps), &before);
        if let Some(next) = (0..3).find(|&i| i != holder && now[i] > 0) {
            break (next, killed.elapsed());
        }
        assert!(
            killed.elapsed() < bound + Duration::from_secs(3),
            "no replica took over within {bound:?}:\n{}",
            sidecars[(holder + 1) % 3].output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "holder {holder} SIGKILLed; replica {} fired {:?} later (bound {bound:?} + the next tick)",
        takeover.0, takeover.1
    );
    assert!(
        takeover.1 <= bound + Duration::from_millis(1500),
        "takeover {:?} past the bound {bound:?}",
        takeover.1
    );

    let second = window(&apps, Duration::from_secs(seconds)).await;
    let total: usize = second.iter().sum();
    println!("window 2 ({seconds}s, 2 replicas left): ticks per replica {second:?}, total {total}");
    assert!(
        (seconds as usize - 1..=seconds as usize + 1).contains(&total),
        "still one tick per second: {second:?}"
    );
    assert_eq!(second[holder], 0);
    assert_eq!(
        second.iter().filter(|&&n| n > 0).count(),
        1,
        "one holder fires: {second:?}"
    );
}
