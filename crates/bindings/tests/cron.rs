//! The cron binding built through its descriptor, on the real clock.
#![cfg(feature = "cron")]

use std::time::Duration;

use bindery_bindings::cron::DESCRIPTOR;
use bindery_testkit::binding;
use bindery_testkit::{RecordingSink, Running};

/// Starts the binding with a sink that records events (answering Err to show the binding
/// ignores the verdict, or taking its time like a slow app).
async fn start(schedule: &str, sink: RecordingSink) -> Running {
    let binding = binding::input(&DESCRIPTOR, "cron-test", &[("schedule", schedule)])
        .await
        .expect("builds");
    Running::start("cron-test", binding, sink.shared())
}

#[tokio::test]
async fn every_second_delivers_events_with_metadata_and_stops_on_shutdown() {
    let run = start("@every 1s", RecordingSink::refusing_all()).await;
    let sink = run.sink().clone();
    tokio::time::sleep(Duration::from_millis(3300)).await;
    run.stop_within(Duration::from_secs(5)).await;
    let events = sink.events();
    assert!(events.len() >= 2, "got {} events", events.len());
    for e in &events {
        assert!(e.data.is_empty());
        assert_eq!(
            e.metadata.get("timeZone").map(String::as_str),
            Some("Local")
        );
        let t = e.metadata.get("readTimeUTC").expect("readTimeUTC");
        assert!(t.ends_with(" +0000 UTC"), "{t}");
        let stamp = t.trim_end_matches(" +0000 UTC");
        let stamp = stamp.split('.').next().unwrap();
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S").expect("Go time format");
    }
    assert_eq!(events.len(), sink.events().len());
    // Nothing fires after shutdown.
    let count = events.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.events().len(), count);
}

#[tokio::test]
async fn slow_app_gets_overlapping_ticks_and_shutdown_waits_for_them() {
    let slow = RecordingSink::accepting().delay(Duration::from_millis(2500));
    let run = start("* * * * * *", slow).await;
    let sink = run.sink().clone();
    tokio::time::sleep(Duration::from_millis(3300)).await;
    // Each delivery takes 2.5 s, yet ticks kept coming every second.
    assert!(sink.events().len() >= 2);
    let started = std::time::Instant::now();
    run.stop_within(Duration::from_secs(10)).await;
    // run waited for the in-flight deliveries rather than dropping them.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn invalid_schedule_fails_to_build() {
    let err = match binding::input(&DESCRIPTOR, "bad", &[("schedule", "every minute")]).await {
        Ok(_) => panic!("must not build"),
        Err(e) => e,
    };
    assert!(
        err.message()
            .starts_with("invalid schedule format 'every minute': "),
        "{err}"
    );
}
