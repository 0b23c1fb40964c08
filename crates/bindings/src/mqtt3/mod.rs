//! `bindings.mqtt3` (alias `bindings.mqtt`): MQTT 3.1.1 publish and subscribe, always QoS 1.
//!
//! Input subscribes on every (re)connect with manual acknowledgements: the PUBACK is sent only
//! after the app accepted the message. A refused message is handed again `backOffMaxRetries`
//! times, then left unacknowledged; the broker redelivers it when the client reconnects with a
//! persistent session (`cleanSession: false`), as with daprd. Messages are handled
//! concurrently, as daprd's (paho with `OrderMatters` off), and acked in the order their
//! deliveries end (rumqttc and Mosquitto accept PUBACKs out of order); the delivery option
//! `maxConcurrentDeliveries: N` caps them at N at once. A delivery that ends after its
//! connection was lost does not ack: the broker redelivers the message on the new one.
//!
//! Output connects lazily on the first `create`, waits for the broker's PUBACK (up to 10 s per
//! attempt) and retries the publish 3 times, 200 ms apart, like daprd.
//!
//! bindery extensions: `backOffInterval` (component metadata) replaces daprd's fixed 5 s between
//! input retries; a `retain` entry in the request metadata overrides the component's `retain`.

mod config;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::properties::is_truthy;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InFlight, InputBinding, InputContext,
    InputEvent, InvokeRequest, InvokeResponse, OutputBinding,
};
use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet,
    Publish, QoS, TlsConfiguration, Transport,
};
use tokio::sync::{Mutex, oneshot};

use crate::common::Backoff;
use crate::common::tls;
pub use config::{Config, FIELDS};

const COMPONENT: &str = "bindings.mqtt3";
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
const PUBLISH_RETRIES: usize = 3;
const PUBLISH_RETRY_WAIT: Duration = Duration::from_millis(200);
const MAX_PACKET: usize = 256 * 1024 * 1024;

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: COMPONENT,
    aliases: &["bindings.mqtt"],
    status: "beta",
    summary: "Publish to and subscribe to an MQTT 3.1.1 broker (QoS 1).",
    fields: FIELDS,
    operations: &[Operation {
        name: "create",
        description: "Publish the data. Request metadata: topic (overrides the component topic); retain (bindery extension).",
    }],
    decode: bindery_core::decode_as::<Config>,
    build_input: Some(|cx| Box::pin(build_input(cx))),
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    #[error("mqtt error: {0}")]
    Client(#[from] ClientError),
    #[error("mqtt error: timed out waiting for the broker to acknowledge the publish")]
    Timeout,
    #[error("mqtt error: the connection was closed")]
    Closed,
    #[error("mqtt error: not connected to the broker")]
    NotConnected,
    #[error("mqtt error: connection lost before the publish was acknowledged: {0}")]
    Lost(String),
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

impl From<MqttError> for BindingError {
    fn from(e: MqttError) -> Self {
        match e {
            MqttError::InvalidTopic(_) | MqttError::Tls(_) => BindingError::invalid(e.to_string()),
            MqttError::Closed => BindingError::closed(e.to_string()),
            _ => BindingError::unavailable(e.to_string()),
        }
    }
}

fn options(cfg: &Config, client_id: String) -> Result<MqttOptions, MqttError> {
    let mut o = MqttOptions::new(client_id, cfg.broker.host.clone(), cfg.broker.port);
    o.set_clean_session(cfg.clean_session)
        .set_keep_alive(cfg.keep_alive)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some(user) = &cfg.broker.username {
        o.set_credentials(
            user.clone(),
            cfg.broker
                .password
                .as_ref()
                .map(|p| p.expose().clone())
                .unwrap_or_default(),
        );
    }
    if cfg.broker.tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(cfg)?),
        )));
    }
    Ok(o)
}

fn tls_config(cfg: &Config) -> Result<rustls::ClientConfig, MqttError> {
    let roots = match &cfg.ca_cert {
        Some(ca) => tls::roots_from_pem(ca.as_bytes()).map_err(MqttError::Tls)?,
        None => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            roots
        }
    };
    let tls_err = |e: &dyn std::fmt::Display| MqttError::Tls(e.to_string());
    let builder = rustls::ClientConfig::builder_with_provider(tls::ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .with_root_certificates(roots);
    match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => {
            let (chain, key) = tls::client_identity(cert, key.expose()).map_err(MqttError::Tls)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(&e))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn warn_qos(cfg: &Config) {
    if cfg.qos_given {
        tracing::warn!(
            component = COMPONENT,
            "Metadata property 'qos' has been deprecated and is ignored; qos is set to 1."
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Output

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cfg = cx.config::<Config>()?;
    warn_qos(&cfg);
    // Fail early on TLS material that does not load; the connection itself is lazy.
    options(&cfg, format!("{}-producer", cfg.consumer_id))?;
    Ok(Box::new(MqttOutput {
        cfg,
        producer: Mutex::new(None),
    }))
}

pub struct MqttOutput {
    cfg: Config,
    /// Held for a whole publish: one publish waits for its PUBACK at a time.
    producer: Mutex<Option<Producer>>,
}

#[derive(Default)]
struct AckWait {
    pkid: Option<u16>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The producer connection as `create` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The first connection attempt is still under way.
    Connecting,
    Up,
    Down,
}

struct Producer {
    client: AsyncClient,
    waiting: Arc<std::sync::Mutex<AckWait>>,
    link: tokio::sync::watch::Receiver<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Producer {
    fn start(cfg: &Config) -> Result<Self, MqttError> {
        let (client, eventloop) =
            AsyncClient::new(options(cfg, format!("{}-producer", cfg.consumer_id))?, 64);
        let waiting = Arc::new(std::sync::Mutex::new(AckWait::default()));
        let (link_tx, link) = tokio::sync::watch::channel(Link::Connecting);
        let task = tokio::spawn(drive_producer(eventloop, waiting.clone(), link_tx));
        Ok(Self {
            client,
            waiting,
            link,
            task,
        })
    }
}

async fn drive_producer(
    mut eventloop: EventLoop,
    waiting: Arc<std::sync::Mutex<AckWait>>,
    link: tokio::sync::watch::Sender<Link>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(5));
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                let _ = link.send(Link::Up);
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if let Ok(mut w) = waiting.lock()
                    && w.done.is_some()
                    && w.pkid.is_none()
                {
                    w.pkid = Some(pkid);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Ok(mut w) = waiting.lock()
                    && w.pkid == Some(ack.pkid)
                {
                    w.pkid = None;
                    if let Some(done) = w.done.take() {
                        let _ = done.send(Ok(()));
                    }
                }
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let _ = link.send(Link::Down);
                if let Ok(mut w) = waiting.lock() {
                    if let Some(done) = w.done.take() {
                        let _ = done.send(Err(e.to_string()));
                    }
                    w.pkid = None;
                }
                let delay = backoff.next_delay();
                tracing::warn!(component = COMPONENT, cause = %e, "MQTT producer connection failed; reconnecting in {delay:?}.");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl MqttOutput {
    async fn publish_once(&self, topic: &str, retain: bool, data: &[u8]) -> Result<(), MqttError> {
        let mut guard = self.producer.lock().await;
        if guard.is_none() {
            *guard = Some(Producer::start(&self.cfg)?);
        }
        let Some(producer) = guard.as_ref() else {
            return Err(MqttError::Closed);
        };
        if !rumqttc::valid_topic(topic) {
            return Err(MqttError::InvalidTopic(topic.to_owned()));
        }
        // The first connection may take a moment (daprd waits up to 10 s for it); after that a
        // lost connection fails the publish at once instead of queueing it.
        let mut link = producer.link.clone();
        match tokio::time::timeout(PUBLISH_TIMEOUT, link.wait_for(|l| *l != Link::Connecting)).await
        {
            Ok(Ok(l)) if *l == Link::Up => {}
            Ok(Ok(_)) => return Err(MqttError::NotConnected),
            Ok(Err(_)) => return Err(MqttError::Closed),
            Err(_) => return Err(MqttError::Timeout),
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = producer.waiting.lock() {
            *w = AckWait {
                pkid: None,
                done: Some(tx),
            };
        }
        producer
            .client
            .publish(topic, QoS::AtLeastOnce, retain, data.to_vec())
            .await?;
        let acked = tokio::time::timeout(PUBLISH_TIMEOUT, rx).await;
        if let Ok(mut w) = producer.waiting.lock() {
            *w = AckWait::default();
        }
        match acked {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(cause))) => Err(MqttError::Lost(cause)),
            Ok(Err(_)) => Err(MqttError::Closed),
            Err(_) => Err(MqttError::Timeout),
        }
    }
}

#[async_trait]
impl OutputBinding for MqttOutput {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let topic = req
            .metadata
            .get("topic")
            .filter(|t| !t.is_empty())
            .cloned()
            .unwrap_or_else(|| self.cfg.topic.clone());
        let retain = req
            .metadata
            .get("retain")
            .map(|v| is_truthy(v))
            .unwrap_or(self.cfg.retain);
        let mut attempt = 0;
        loop {
            match self.publish_once(&topic, retain, &req.data).await {
                Ok(()) => return Ok(None),
                Err(e @ (MqttError::InvalidTopic(_) | MqttError::Tls(_))) => return Err(e.into()),
                Err(e) if attempt >= PUBLISH_RETRIES => return Err(e.into()),
                Err(e) => {
                    attempt += 1;
                    tracing::debug!(component = COMPONENT, error = %e, attempt, "Publish failed; retrying.");
                    tokio::time::sleep(PUBLISH_RETRY_WAIT).await;
                }
            }
        }
    }

    async fn close(&self) -> Result<(), BindingError> {
        if let Some(producer) = self.producer.lock().await.take() {
            let _ = producer.client.try_disconnect();
            // Give the event loop a moment to send DISCONNECT, then stop it.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while !producer.task.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            producer.task.abort();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Input

async fn build_input(cx: BuildContext) -> Result<Box<dyn InputBinding>, BindingError> {
    let cfg = cx.config::<Config>()?;
    warn_qos(&cfg);
    let mut opts = options(&cfg, format!("{}-consumer", cfg.consumer_id))?;
    opts.set_manual_acks(true);
    Ok(Box::new(MqttInput { cfg, opts }))
}

pub struct MqttInput {
    cfg: Config,
    opts: MqttOptions,
}

/// Counts the consumer's connections: a delivery acks only on the connection its message came
/// in on. rumqttc drops the acks still queued when a connection fails; one sent later, on the
/// next connection, would name a packet id the broker may have given to another message.
#[derive(Clone, Default)]
struct Connections(Arc<AtomicU64>);

impl Connections {
    fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn lost(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Messages received and not yet handed to the app, each with the connection it came on.
struct Received {
    waiting: VecDeque<(u64, Publish)>,
}

impl Received {
    /// Starts the waiting messages there is room for.
    fn start(
        &mut self,
        in_flight: &mut InFlight,
        cx: &InputContext,
        client: &AsyncClient,
        cfg: &Arc<Config>,
        connections: &Connections,
    ) {
        while in_flight.has_room()
            && let Some((connection, publish)) = self.waiting.pop_front()
        {
            let acker = Acker {
                client: client.clone(),
                connections: connections.clone(),
                connection,
            };
            in_flight.start(handle(cx.clone(), acker, cfg.clone(), publish));
        }
    }
}

#[async_trait]
impl InputBinding for MqttInput {
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let MqttInput { cfg, opts } = *self;
        let cfg = Arc::new(cfg);
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        // daprd's paho client hands every message over at once (OrderMatters false); with
        // maxConcurrentDeliveries, at most that many, the rest waiting in arrival order. The
        // event loop is polled all along (keep-alive, acks), so waiting messages queue here.
        let mut in_flight = InFlight::new(cx.max_concurrent_deliveries().unwrap_or(usize::MAX));
        let mut received = Received {
            waiting: VecDeque::new(),
        };
        let connections = Connections::default();
        let mut backoff = Backoff::new(Duration::from_secs(5));
        loop {
            tokio::select! {
                biased;
                _ = cx.shutdown().cancelled() => break,
                () = in_flight.settled() => received.start(&mut in_flight, &cx, &client, &cfg, &connections),
                event = eventloop.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        backoff.reset();
                        tracing::info!(component = COMPONENT, binding = cx.name(), session_present = ack.session_present, "Connected to the MQTT broker; subscribing.");
                        if let Err(e) = client.try_subscribe(cfg.topic.clone(), QoS::AtLeastOnce) {
                            tracing::error!(component = COMPONENT, binding = cx.name(), error = %e, "Subscribing failed.");
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        if ack.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) {
                            tracing::error!(component = COMPONENT, binding = cx.name(), topic = %cfg.topic, "The broker refused the subscription.");
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        received.waiting.push_back((connections.current(), publish));
                        received.start(&mut in_flight, &cx, &client, &cfg, &connections);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        connections.lost();
                        let delay = backoff.next_delay();
                        tracing::warn!(component = COMPONENT, binding = cx.name(), cause = %e, "MQTT connection failed; reconnecting in {delay:?}.");
                        tokio::select! {
                            _ = cx.shutdown().cancelled() => break,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
        // Messages not handed over stay unacknowledged: the broker redelivers them.
        drop(received);
        // Let in-flight handlers finish while the event loop keeps running, so their acks go out.
        let mut broken = false;
        while !in_flight.is_empty() {
            tokio::select! {
                () = in_flight.settled() => {}
                event = eventloop.poll(), if !broken => {
                    if event.is_err() {
                        connections.lost();
                        broken = true;
                    }
                }
            }
        }
        if !broken {
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
        }
        Ok(())
    }
}

/// Acknowledges one message, on the connection it came in on only.
struct Acker {
    client: AsyncClient,
    connections: Connections,
    connection: u64,
}

impl Acker {
    async fn ack(&self, publish: &Publish) -> Result<(), ClientError> {
        if self.connections.current() != self.connection {
            // The broker redelivers it on the new connection (persistent session).
            return Ok(());
        }
        self.client.ack(publish).await
    }
}

/// Hands one message to the app, retrying per `backOffMaxRetries`; acks only on success.
async fn handle(cx: InputContext, acker: Acker, cfg: Arc<Config>, publish: Publish) {
    let mut metadata = bindery_core::Metadata::new();
    metadata.insert("topic".to_owned(), publish.topic.clone());
    let event = InputEvent {
        data: publish.payload.clone(),
        metadata,
    };
    let mut retries = 0u64;
    loop {
        match cx.deliver(event.clone()).await {
            Ok(_) => {
                if let Err(e) = acker.ack(&publish).await {
                    tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e, "Could not acknowledge the message.");
                }
                return;
            }
            Err(e) => {
                if cfg.max_retries.is_some_and(|max| retries >= max) {
                    tracing::warn!(component = COMPONENT, binding = cx.name(), topic = %publish.topic, error = %e,
                        "The app refused the message; leaving it unacknowledged for redelivery by the broker.");
                    return;
                }
                retries += 1;
                tokio::select! {
                    _ = cx.shutdown().cancelled() => return,
                    _ = tokio::time::sleep(cfg.retry_interval) => {}
                }
            }
        }
    }
}
