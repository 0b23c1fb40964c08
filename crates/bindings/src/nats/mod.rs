//! `bindings.nats` (bindery only; Dapr has no NATS binding): publish to and subscribe to NATS
//! subjects, optionally through JetStream.
//!
//! - Core NATS: `create` publishes (request metadata becomes message headers) and answers
//!   nothing; input subscribes (in `queueGroup` if set) and hands each message to the app. Core
//!   NATS has no acknowledgements, so input is **at-most-once**: a message the app refuses is
//!   logged and gone.
//! - JetStream (`jetStream: true`): `create` waits for the stream's ack and answers metadata
//!   `stream` and `sequence`; input reads through a pull consumer, acks after the app accepted a
//!   message and naks (immediate redelivery) when it did not.
//!
//! Input delivers one message at a time; with the delivery option `maxConcurrentDeliveries: N`
//! up to N at once (JetStream then pulls N per batch), each acked or naked by its own verdict.
//!
//! Reconnecting is done by async-nats (core subscriptions are restored by the client); the
//! JetStream reader also rebuilds its consumer after errors.

mod config;

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InputBinding, InputContext, InputEvent,
    InvokeRequest, InvokeResponse, Metadata, OutputBinding,
};
use bytes::Bytes;
use futures::StreamExt;

use crate::common::Backoff;
pub use config::{Auth, Config, Deliver, FIELDS};

const COMPONENT: &str = "bindings.nats";

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: COMPONENT,
    aliases: &[],
    status: "alpha",
    summary: "Publish to and subscribe to NATS subjects, with optional JetStream persistence and acks (bindery only).",
    fields: FIELDS,
    operations: &[Operation {
        name: "create",
        description: "Publish the data. Request metadata: subject (overrides the component subject); every other entry becomes a message header. With JetStream the response metadata carries stream and sequence.",
    }],
    decode: bindery_core::decode_as::<Config>,
    build_input: Some(|cx| Box::pin(build_input(cx))),
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("nats: cannot connect: {0}")]
    Connect(String),
    #[error("nats: {0}")]
    InvalidRequest(String),
    #[error("nats: publish failed: {0}")]
    Publish(String),
    #[error("nats: jetstream: {0}")]
    JetStream(String),
    /// JetStream answered "no responders": no stream captures the subject.
    #[error("nats: publish failed: no JetStream stream captures subject {0:?}")]
    NoStream(String),
}

impl From<NatsError> for BindingError {
    fn from(e: NatsError) -> Self {
        match e {
            NatsError::InvalidRequest(_) | NatsError::NoStream(_) => {
                BindingError::invalid(e.to_string())
            }
            _ => BindingError::unavailable(e.to_string()),
        }
    }
}

async fn connect(cfg: &Config, role: &str) -> Result<async_nats::Client, NatsError> {
    let mut options = match &cfg.auth {
        Auth::None => async_nats::ConnectOptions::new(),
        Auth::Token(t) => async_nats::ConnectOptions::with_token(t.expose().clone()),
        Auth::UserPassword(u, p) => {
            async_nats::ConnectOptions::with_user_and_password(u.clone(), p.expose().clone())
        }
        Auth::NKey(seed) => async_nats::ConnectOptions::with_nkey(seed.expose().clone()),
        Auth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| NatsError::Connect(format!("cannot read credsFile: {e}")))?,
    };
    options = options
        .name(
            cfg.name
                .clone()
                .unwrap_or_else(|| format!("bindery-{role}")),
        )
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(cfg.ping_interval)
        // Try again quickly after a server restart: 0, 250 ms, 500 ms ... capped at 2 s.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64).saturating_mul(250).min(2_000))
        })
        .event_callback(|event| async move {
            tracing::info!(component = COMPONENT, %event, "NATS connection event.");
        });
    let servers: Vec<&str> = cfg
        .url
        .expose()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let addrs: Result<Vec<async_nats::ServerAddr>, _> = servers.iter().map(|s| s.parse()).collect();
    let addrs = addrs.map_err(|_| NatsError::Connect("invalid natsURL".to_owned()))?;
    options
        .connect(addrs)
        .await
        .map_err(|e| NatsError::Connect(e.to_string()))
}

/// Makes sure the configured stream exists (creating it when asked) and returns its name.
async fn ensure_stream(js: &jetstream::Context, cfg: &Config) -> Result<Option<String>, NatsError> {
    let Some(name) = &cfg.stream else {
        return Ok(None);
    };
    if cfg.create_stream {
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![cfg.subject.clone()],
            ..Default::default()
        })
        .await
        .map_err(|e| NatsError::JetStream(e.to_string()))?;
    } else {
        js.get_stream(name)
            .await
            .map_err(|e| NatsError::JetStream(format!("stream {name}: {e}")))?;
    }
    Ok(Some(name.clone()))
}

// ---------------------------------------------------------------------------------------------
// Output

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cfg = cx.config::<Config>()?;
    let client = connect(&cfg, "producer").await?;
    let js = if cfg.jetstream {
        let js = jetstream::new(client.clone());
        ensure_stream(&js, &cfg).await?;
        Some(js)
    } else {
        None
    };
    Ok(Box::new(NatsOutput { cfg, client, js }))
}

pub struct NatsOutput {
    cfg: Config,
    client: async_nats::Client,
    js: Option<jetstream::Context>,
}

/// Request metadata, except `subject`, as message headers.
pub fn headers_from(metadata: &Metadata) -> Result<HeaderMap, NatsError> {
    let mut headers = HeaderMap::new();
    for (key, value) in metadata {
        if key == "subject" {
            continue;
        }
        let bad_name = key.is_empty() || key.bytes().any(|b| b <= b' ' || b == b':' || b == 127);
        if bad_name {
            return Err(NatsError::InvalidRequest(format!(
                "metadata key {key:?} cannot be a header name"
            )));
        }
        if value.contains(['\r', '\n']) {
            return Err(NatsError::InvalidRequest(format!(
                "metadata {key:?} has a line break"
            )));
        }
        headers.insert(key.as_str(), value.as_str());
    }
    Ok(headers)
}

#[async_trait]
impl OutputBinding for NatsOutput {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let subject = req
            .metadata
            .get("subject")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| self.cfg.subject.clone());
        if subject.contains(['*', '>'])
            || subject.contains(char::is_whitespace)
            || subject.is_empty()
        {
            return Err(NatsError::InvalidRequest(format!(
                "cannot publish to subject {subject:?}"
            ))
            .into());
        }
        let headers = headers_from(&req.metadata)?;
        match &self.js {
            None => {
                self.client
                    .publish_with_headers(subject, headers, req.data)
                    .await
                    .map_err(|e| NatsError::Publish(e.to_string()))?;
                Ok(None)
            }
            Some(js) => {
                let ack = js
                    .publish_with_headers(subject.clone(), headers, req.data)
                    .await
                    .map_err(|e| NatsError::Publish(e.to_string()))?
                    .await
                    .map_err(|e| {
                        if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
                            NatsError::NoStream(subject)
                        } else {
                            NatsError::Publish(e.to_string())
                        }
                    })?;
                let metadata = Metadata::from([
                    ("stream".to_owned(), ack.stream),
                    ("sequence".to_owned(), ack.sequence.to_string()),
                ]);
                Ok(Some(InvokeResponse {
                    data: Bytes::new(),
                    metadata,
                }))
            }
        }
    }

    async fn close(&self) -> Result<(), BindingError> {
        let _ = self.client.flush().await;
        let _ = self.client.drain().await;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Input

async fn build_input(cx: BuildContext) -> Result<Box<dyn InputBinding>, BindingError> {
    let cfg = cx.config::<Config>()?;
    let client = connect(&cfg, "consumer").await?;
    if cfg.jetstream {
        // Fail Init when the stream cannot be found or made.
        let js = jetstream::new(client.clone());
        stream_name(&js, &cfg).await?;
    }
    Ok(Box::new(NatsInput { cfg, client }))
}

pub struct NatsInput {
    cfg: Config,
    client: async_nats::Client,
}

async fn stream_name(js: &jetstream::Context, cfg: &Config) -> Result<String, NatsError> {
    match ensure_stream(js, cfg).await? {
        Some(name) => Ok(name),
        None => js
            .stream_by_subject(cfg.subject.clone())
            .await
            .map_err(|e| {
                NatsError::JetStream(format!("no stream captures subject {}: {e}", cfg.subject))
            }),
    }
}

fn header_metadata(headers: Option<&HeaderMap>, metadata: &mut Metadata) {
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            if let Some(value) = values.first() {
                metadata.insert(name.to_string(), value.to_string());
            }
        }
    }
}

#[async_trait]
impl InputBinding for NatsInput {
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let result = if self.cfg.jetstream {
            run_jetstream(&self.cfg, &self.client, &cx).await
        } else {
            run_core(&self.cfg, &self.client, &cx).await
        };
        let _ = self.client.drain().await;
        result
    }
}

async fn run_core(
    cfg: &Config,
    client: &async_nats::Client,
    cx: &InputContext,
) -> Result<(), BindingError> {
    let mut backoff = Backoff::new(Duration::from_secs(5));
    loop {
        let subscribed = match &cfg.queue_group {
            Some(group) => {
                client
                    .queue_subscribe(cfg.subject.clone(), group.clone())
                    .await
            }
            None => client.subscribe(cfg.subject.clone()).await,
        };
        let mut subscriber = match subscribed {
            Ok(s) => s,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(component = COMPONENT, binding = cx.name(), cause = %e, "Subscribing failed; retrying in {delay:?}.");
                tokio::select! {
                    _ = cx.shutdown().cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        backoff.reset();
        if deliver_core(cx, &mut subscriber).await {
            return Ok(());
        }
        tracing::warn!(
            component = COMPONENT,
            binding = cx.name(),
            "Subscription ended; subscribing again."
        );
    }
}

/// Hands core NATS messages to the app (up to `maxConcurrentDeliveries` at once, else one at a
/// time) until shutdown (`true`) or until the subscription ends (`false`); started deliveries
/// finish first.
async fn deliver_core(cx: &InputContext, subscriber: &mut async_nats::Subscriber) -> bool {
    let mut in_flight = cx.in_flight();
    let shutdown = loop {
        let message = tokio::select! {
            biased;
            _ = cx.shutdown().cancelled() => {
                let _ = subscriber.unsubscribe().await;
                break true;
            }
            () = in_flight.settled() => continue,
            m = subscriber.next(), if in_flight.has_room() => m,
        };
        let Some(message) = message else {
            break false;
        };
        let cx = cx.clone();
        in_flight.start(async move {
            let mut metadata =
                Metadata::from([("subject".to_owned(), message.subject.to_string())]);
            header_metadata(message.headers.as_ref(), &mut metadata);
            let event = InputEvent {
                data: message.payload,
                metadata,
            };
            if let Err(e) = cx.deliver(event).await {
                // Core NATS cannot redeliver: at-most-once.
                tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e, "The app refused a core NATS message; it is dropped.");
            }
        });
    };
    in_flight.finish().await;
    shutdown
}

async fn run_jetstream(
    cfg: &Config,
    client: &async_nats::Client,
    cx: &InputContext,
) -> Result<(), BindingError> {
    let js = jetstream::new(client.clone());
    let mut backoff = Backoff::new(Duration::from_secs(5));
    loop {
        match read_jetstream(cfg, &js, cx).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(component = COMPONENT, binding = cx.name(), cause = %e, "JetStream consumer failed; setting it up again in {delay:?}.");
                tokio::select! {
                    _ = cx.shutdown().cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Reads until shutdown (`Ok`) or an error that needs the consumer set up again.
async fn read_jetstream(
    cfg: &Config,
    js: &jetstream::Context,
    cx: &InputContext,
) -> Result<(), NatsError> {
    let name = stream_name(js, cfg).await?;
    let stream = js
        .get_stream(&name)
        .await
        .map_err(|e| NatsError::JetStream(e.to_string()))?;
    let consumer_config = consumer::pull::Config {
        durable_name: cfg.durable_name.clone(),
        filter_subject: cfg.subject.clone(),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: cfg.ack_wait,
        max_deliver: if cfg.max_deliver > 0 {
            cfg.max_deliver
        } else {
            -1
        },
        deliver_policy: match cfg.deliver {
            Deliver::All => consumer::DeliverPolicy::All,
            Deliver::New => consumer::DeliverPolicy::New,
            Deliver::Last => consumer::DeliverPolicy::Last,
        },
        inactive_threshold: if cfg.durable_name.is_none() {
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        },
        ..Default::default()
    };
    let consumer: consumer::PullConsumer = match &cfg.durable_name {
        Some(durable) => {
            stream
                .get_or_create_consumer(durable, consumer_config)
                .await
        }
        None => stream.create_consumer(consumer_config).await,
    }
    .map_err(|e| NatsError::JetStream(e.to_string()))?;
    // Pull as many messages as may be in delivery at once.
    let batch = cx.in_flight().limit().min(256);
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(batch)
        .heartbeat(Duration::from_secs(2))
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .map_err(|e| NatsError::JetStream(e.to_string()))?;
    tracing::info!(component = COMPONENT, binding = cx.name(), stream = %name, "Reading from JetStream.");
    deliver_jetstream(cx, &mut messages).await
}

/// Hands JetStream messages to the app (up to `maxConcurrentDeliveries` at once, else one at a
/// time), each acked or naked by its own verdict, until shutdown (`Ok`) or a stream error;
/// started deliveries finish first (after a lost connection their acks fail and JetStream
/// redelivers them after `ackWait`).
async fn deliver_jetstream(
    cx: &InputContext,
    messages: &mut consumer::pull::Stream,
) -> Result<(), NatsError> {
    let mut in_flight = cx.in_flight();
    let ended = loop {
        let next = tokio::select! {
            biased;
            _ = cx.shutdown().cancelled() => break Ok(()),
            () = in_flight.settled() => continue,
            n = messages.next(), if in_flight.has_room() => n,
        };
        match next {
            None => break Err(NatsError::JetStream("message stream ended".to_owned())),
            Some(Err(e)) => break Err(NatsError::JetStream(e.to_string())),
            Some(Ok(m)) => in_flight.start(deliver_one(cx.clone(), m)),
        }
    };
    in_flight.finish().await;
    ended
}

/// Delivers one JetStream message; acks it on the app's success, naks it (immediate
/// redelivery) otherwise.
async fn deliver_one(cx: InputContext, message: jetstream::Message) {
    let mut metadata = Metadata::from([("subject".to_owned(), message.subject.to_string())]);
    if let Ok(info) = message.info() {
        metadata.insert("sequence".to_owned(), info.stream_sequence.to_string());
        metadata.insert("stream".to_owned(), info.stream.to_owned());
    }
    header_metadata(message.headers.as_ref(), &mut metadata);
    let event = InputEvent {
        data: message.payload.clone(),
        metadata,
    };
    let settled = match cx.deliver(event).await {
        Ok(_) => message.ack().await,
        Err(e) => {
            tracing::debug!(component = COMPONENT, binding = cx.name(), error = %e, "The app refused the message; nak.");
            message.ack_with(AckKind::Nak(None)).await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e, "Could not ack/nak; JetStream will redeliver after ackWait.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_skip_subject_and_refuse_bad_names() {
        let md = Metadata::from([
            ("subject".to_owned(), "x".to_owned()),
            ("traceparent".to_owned(), "00-1".to_owned()),
        ]);
        let h = headers_from(&md).unwrap();
        assert_eq!(
            h.get("traceparent").map(|v| v.to_string()).as_deref(),
            Some("00-1")
        );
        assert!(h.get("subject").is_none());
        assert!(headers_from(&Metadata::from([("a b".to_owned(), "v".to_owned())])).is_err());
        assert!(headers_from(&Metadata::from([("a".to_owned(), "v\r\n".to_owned())])).is_err());
    }
}
