//! bindings.azure.storagequeues against Azurite (Microsoft's emulator, started per test on free
//! ports by `bindery_testkit::azurite`).
#![cfg(feature = "azure-storagequeues")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bindery_bindings::azure::storagequeues::{DESCRIPTOR, Queue, QueueConfig, connect};
use bindery_core::{
    BuildContext, Delivery, DeliveryError, EventSink, InputBinding, InputContext, InputEvent,
    InvokeRequest, OutputBinding, Properties,
};
use bindery_testkit::azurite::{ACCOUNT, Azurite, KEY};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn props(az: &Azurite, queue: &str, extra: &[(&str, &str)]) -> Properties {
    let mut m: HashMap<String, String> = HashMap::from([
        ("accountName".to_owned(), ACCOUNT.to_owned()),
        ("accountKey".to_owned(), KEY.to_owned()),
        ("queueName".to_owned(), queue.to_owned()),
        ("queueEndpoint".to_owned(), az.queue_endpoint()),
        ("pollingInterval".to_owned(), "100ms".to_owned()),
    ]);
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    Properties::new(m).unwrap()
}

fn cx(p: Properties) -> BuildContext {
    // As the runtime does: decoded once, then built from the decoded configuration.
    DESCRIPTOR
        .context("queue", "app", p)
        .expect("valid metadata")
}

/// A plain client for the same queue, to look behind the binding's back.
fn raw(p: &Properties) -> Queue {
    connect(&QueueConfig::decode_quiet(p).unwrap(), 0).unwrap()
}

async fn output(p: Properties) -> Box<dyn OutputBinding> {
    (DESCRIPTOR.build_output.unwrap())(cx(p))
        .await
        .expect("build output")
}

async fn input(p: Properties) -> Box<dyn InputBinding> {
    (DESCRIPTOR.build_input.unwrap())(cx(p))
        .await
        .expect("build input")
}

fn create(data: &str, md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: "create".into(),
        data: Bytes::from(data.to_owned()),
        metadata: md
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Records events; refuses the first `fail`; takes `delay` per event.
struct Sink {
    tx: mpsc::UnboundedSender<InputEvent>,
    fail: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl EventSink for Sink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let _ = self.tx.send(event);
        tokio::time::sleep(self.delay).await;
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(DeliveryError::new("app refused"));
        }
        Ok(Bytes::new())
    }
}

struct Running {
    events: mpsc::UnboundedReceiver<InputEvent>,
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bindery_core::BindingError>>,
}

impl Running {
    async fn next(&mut self) -> InputEvent {
        tokio::time::timeout(Duration::from_secs(15), self.events.recv())
            .await
            .expect("an event within 15s")
            .expect("sink open")
    }
    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("run returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

fn run(binding: Box<dyn InputBinding>, fail: usize, delay: Duration) -> Running {
    let (tx, events) = mpsc::unbounded_channel();
    let sink = Arc::new(Sink {
        tx,
        fail: AtomicUsize::new(fail),
        delay,
    });
    let token = CancellationToken::new();
    let cx = InputContext::new("queue", sink, token.clone());
    let task = tokio::spawn(binding.run(cx));
    Running {
        events,
        token,
        task,
    }
}

fn rfc3339(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// create → input: the unquoted text with daprd's six metadata keys; the message is deleted
/// after the app accepted it.
#[tokio::test]
async fn round_trip_with_daprds_metadata() {
    let Some(az) = Azurite::require() else { return };
    let p = props(&az, "roundtrip", &[("ttlInSeconds", "120")]);
    let out = output(p.clone()).await;
    assert!(
        out.invoke(create(r#""hello <queue> & co""#, &[]))
            .await
            .unwrap()
            .is_none()
    );
    let mut running = run(input(p.clone()).await, 0, Duration::ZERO);
    let e = running.next().await;
    assert_eq!(&e.data[..], b"hello <queue> & co");
    let mut keys: Vec<&str> = e.metadata.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "dequeueCount",
            "expirationTime",
            "insertionTime",
            "messageID",
            "nextVisibleTime",
            "popReceipt"
        ]
    );
    assert_eq!(e.metadata["dequeueCount"], "1");
    let ttl = rfc3339(&e.metadata["expirationTime"]) - rfc3339(&e.metadata["insertionTime"]);
    assert_eq!(ttl.num_seconds(), 120, "the component ttl applies");
    assert!(rfc3339(&e.metadata["nextVisibleTime"]) > rfc3339(&e.metadata["insertionTime"]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    assert!(
        raw(&p).peek(32).await.unwrap().is_empty(),
        "deleted after acceptance"
    );
}

/// A refused message stays in the queue and comes back after `visibilityTimeout` with
/// `dequeueCount` one higher (daprd's behaviour).
#[tokio::test]
async fn refused_messages_come_back() {
    let Some(az) = Azurite::require() else { return };
    let p = props(&az, "refused", &[("visibilityTimeout", "1s")]);
    output(p.clone())
        .await
        .invoke(create("again", &[]))
        .await
        .unwrap();
    let mut running = run(input(p.clone()).await, 1, Duration::ZERO);
    let first = running.next().await;
    let second = running.next().await;
    assert_eq!(first.metadata["messageID"], second.metadata["messageID"]);
    assert_eq!(first.metadata["dequeueCount"], "1");
    assert_eq!(second.metadata["dequeueCount"], "2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    assert!(raw(&p).peek(32).await.unwrap().is_empty());
}

/// encodeBase64 (output) and decodeBase64 (input); per-request ttl and initialVisibilityDelay.
#[tokio::test]
async fn base64_ttl_and_visibility_delay() {
    let Some(az) = Azurite::require() else { return };
    let p = props(&az, "options", &[("encodeBase64", "true")]);
    let q = raw(&p);
    let out = output(p.clone()).await;
    out.invoke(create("binary?", &[("ttl", "90s")]))
        .await
        .unwrap();
    let peeked = q.peek(32).await.unwrap();
    assert_eq!(peeked[0].text, "YmluYXJ5Pw==");
    let ttl = rfc3339(&peeked[0].expiration_time) - rfc3339(&peeked[0].insertion_time);
    assert_eq!(ttl.num_seconds(), 90);
    q.clear().await.unwrap();

    out.invoke(create("later", &[("initialVisibilityDelay", "2s")]))
        .await
        .unwrap();
    assert!(q.peek(32).await.unwrap().is_empty(), "hidden at first");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        q.peek(32).await.unwrap().len(),
        1,
        "visible after the delay"
    );
    let err = out
        .invoke(create("x", &[("initialVisibilityDelay", "soon")]))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("invalid value for initialVisibilityDelay"),
        "{err}"
    );
    let err = out
        .invoke(create("x", &[("ttlInSeconds", "-5")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "ttl value must be higher than zero: actual is '-5'"
    );

    let mut running = run(
        input(props(&az, "options", &[("decodeBase64", "true")])).await,
        0,
        Duration::ZERO,
    );
    assert_eq!(&running.next().await.data[..], b"later");
    running.stop().await;
}

/// A delivery that takes longer than `visibilityTimeout` (2 s here, the app takes 5 s) keeps
/// the message hidden: another reader polling the queue never gets it, the app sees it once,
/// and it is deleted afterwards. Without the extension it would reappear after 2 s.
#[tokio::test]
async fn slow_deliveries_extend_the_visibility() {
    let Some(az) = Azurite::require() else { return };
    let p = props(&az, "slowapp", &[("visibilityTimeout", "2s")]);
    let q = raw(&p);
    output(p.clone())
        .await
        .invoke(create("slow", &[]))
        .await
        .unwrap();
    let mut running = run(input(p.clone()).await, 0, Duration::from_secs(5));
    let e = running.next().await;
    assert_eq!(&e.data[..], b"slow");
    let mut stolen = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Peek shows visible messages without taking them.
        stolen += q.peek(32).await.unwrap().len();
    }
    assert_eq!(
        stolen, 0,
        "the message reappeared while the app still worked on it"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(running.events.try_recv().is_err(), "delivered once");
    running.stop().await;
    assert!(
        q.peek(32).await.unwrap().is_empty(),
        "deleted with the latest pop receipt"
    );
}

/// Errors at start: a wrong key (Azurite refuses the signature), Azure AD without an identity.
#[tokio::test]
async fn start_errors() {
    let Some(az) = Azurite::require() else { return };
    let mut p = props(&az, "badkey", &[]).as_map().clone();
    p.insert("accountKey".into(), "AAAA".into());
    let err =
        match (DESCRIPTOR.build_output.unwrap())(cx(Properties::new(p.clone()).unwrap())).await {
            Ok(_) => panic!("a wrong key must be refused"),
            Err(e) => e,
        };
    assert!(err.message().contains("RESPONSE 403"), "{err}");
    // Azure AD without a reachable identity: workload identity only (the default chain would
    // also ask the VM metadata address, which is not on loopback).
    p.remove("accountKey");
    p.insert("azureAuthMethods".into(), "WorkloadIdentity".into());
    let err = match (DESCRIPTOR.build_input.unwrap())(cx(Properties::new(p).unwrap())).await {
        Ok(_) => panic!("Azure AD cannot be used here"),
        Err(e) => e,
    };
    assert!(
        err.message().starts_with(
            "cannot create the storage queue: no Azure AD token: workload identity: workload identity needs AZURE_FEDERATED_TOKEN_FILE"
        ),
        "{err}"
    );
}

/// Enqueues `count` messages, runs the input with `limit` deliveries in flight against an app
/// that takes 100 ms per event and refuses the first delivery of "c3" (it comes back after the
/// 1 s visibility timeout), and checks each was deleted after its own success only.
async fn deliver_concurrently(
    limit: Option<usize>,
    count: usize,
) -> Option<Arc<bindery_testkit::RecordingSink>> {
    let az = Azurite::require()?;
    let p = props(&az, "inflight", &[("visibilityTimeout", "1s")]);
    let out = output(p.clone()).await;
    let sent: Vec<String> = (0..count).map(|i| format!("c{i}")).collect();
    for payload in &sent {
        out.invoke(create(payload, &[])).await.unwrap();
    }
    let sink = bindery_testkit::RecordingSink::refusing_first_of("c3")
        .delay(Duration::from_millis(100))
        .shared();
    let running =
        bindery_testkit::Running::start_with("queue", input(p.clone()).await, sink.clone(), limit);
    let all = sink.wait_for(count + 1, Duration::from_secs(60)).await;
    assert!(all.is_some(), "every event and one redelivery arrive");
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await;
    assert!(
        raw(&p).peek(32).await.unwrap().is_empty(),
        "every message deleted"
    );
    sink.assert_each_settled_once(&sent, "c3");
    Some(sink)
}

#[tokio::test]
async fn max_concurrent_deliveries_hands_messages_to_the_app_at_once() {
    let Some(sink) = deliver_concurrently(Some(8), 24).await else {
        return;
    };
    let most = sink.max_in_flight();
    assert!(
        (2..=8).contains(&most),
        "{most} deliveries in flight at once"
    );
}

#[tokio::test]
async fn without_the_option_delivery_is_one_at_a_time() {
    let Some(sink) = deliver_concurrently(None, 6).await else {
        return;
    };
    assert_eq!(sink.max_in_flight(), 1);
}
