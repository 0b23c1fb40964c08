//! The cron binding built through its descriptor, on the real clock.
#![cfg(feature = "cron")]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bindery_bindings::cron::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, DeliveryError, EventSink, InputContext, InputEvent, Properties,
};
use bytes::Bytes;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Records events; answers Err to show the binding ignores the verdict, and can be slow.
struct Sink {
    events: Mutex<Vec<InputEvent>>,
    delay: Duration,
    fail: bool,
}

#[async_trait]
impl EventSink for Sink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        self.events.lock().await.push(event);
        tokio::time::sleep(self.delay).await;
        if self.fail {
            Err(DeliveryError::new("app said no"))
        } else {
            Ok(Bytes::new())
        }
    }
}

async fn start(
    schedule: &str,
    sink: Arc<Sink>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let build = DESCRIPTOR.build_input.expect("input binding");
    let binding = build(BuildContext::new(
        "cron-test".to_owned(),
        Properties::from_pairs([("schedule", schedule)]),
        "app".to_owned(),
    ))
    .await
    .expect("builds");
    let token = CancellationToken::new();
    let cx = InputContext::new("cron-test", sink, token.clone());
    let handle = tokio::spawn(async move {
        binding.run(cx).await.expect("run ends cleanly");
    });
    (token, handle)
}

#[tokio::test]
async fn every_second_delivers_events_with_metadata_and_stops_on_shutdown() {
    let sink = Arc::new(Sink {
        events: Mutex::new(Vec::new()),
        delay: Duration::ZERO,
        fail: true,
    });
    let (token, handle) = start("@every 1s", sink.clone()).await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("run returns after shutdown")
        .expect("no panic");
    let events = sink.events.lock().await.clone();
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
    assert_eq!(events.len(), sink.events.lock().await.len());
    // Nothing fires after shutdown.
    let count = events.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.events.lock().await.len(), count);
}

#[tokio::test]
async fn slow_app_gets_overlapping_ticks_and_shutdown_waits_for_them() {
    let sink = Arc::new(Sink {
        events: Mutex::new(Vec::new()),
        delay: Duration::from_millis(2500),
        fail: false,
    });
    let (token, handle) = start("* * * * * *", sink.clone()).await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    // Each delivery takes 2.5 s, yet ticks kept coming every second.
    assert!(sink.events.lock().await.len() >= 2);
    let started = std::time::Instant::now();
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("run returns")
        .expect("no panic");
    // run waited for the in-flight deliveries rather than dropping them.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn invalid_schedule_fails_to_build() {
    let build = DESCRIPTOR.build_input.expect("input binding");
    let err = match build(BuildContext::new(
        "bad".to_owned(),
        Properties::from_pairs([("schedule", "every minute")]),
        "app".to_owned(),
    ))
    .await
    {
        Ok(_) => panic!("must not build"),
        Err(e) => e,
    };
    assert!(
        err.message()
            .starts_with("invalid schedule format 'every minute': "),
        "{err}"
    );
}
