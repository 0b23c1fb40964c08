//! `bindings.rabbitmq`: publishes to a queue through the default exchange and consumes from it
//! with manual acknowledgements (ack after the app accepted an event, nack with requeue when it
//! did not, as daprd's component does).
//!
//! Messages are delivered one at a time, as daprd does; with the delivery option
//! `maxConcurrentDeliveries: N` up to N are in delivery at once, each acked or requeued by its
//! own verdict (a `prefetchCount` under N is raised to N so that N can be unacked).
//!
//! Input and output are separate instances with their own AMQP connection, like daprd. Both
//! declare the queue with the configured arguments when they connect, and both reconnect by
//! themselves: input every `reconnectWaitInSeconds`, output on the next `create` after the
//! channel was lost.
//!
//! bindery extensions: `heartBeat` (10 s, amqp091-go's default, which daprd gets without a
//! setting) makes a dead link noticed within two intervals; `publishTimeout` (15 s) bounds a
//! whole `create`, so a call through a dead link fails with a timeout instead of hanging.
//!
//! A queue deleted after it was declared (by an operator, or by `deleteWhenUnused` once its
//! last consumer left): `create` publishes `mandatory`, so the broker returns a message no queue
//! took instead of confirming and dropping it (daprd's behaviour); the output then declares the
//! queue again and publishes once more, and fails naming the queue if that too is returned.

mod config;
mod tls;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InputBinding, InputContext, InputEvent,
    InvokeRequest, InvokeResponse, Metadata, OutputBinding,
};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{AMQPUri, SASLMechanism};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use tokio::sync::Mutex;

use crate::common::escape::query_escape;

pub use config::{Config, FIELDS};

const COMPONENT: &str = "bindings.rabbitmq";

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: COMPONENT,
    aliases: &[],
    status: "stable",
    summary: "Publish to and consume from a RabbitMQ queue (AMQP 0-9-1).",
    fields: FIELDS,
    operations: &[Operation {
        name: "create",
        description: "Publish the data to the queue. Request metadata: ttl/ttlInSeconds (message expiration), priority (0-255), contentType, messageID, correlationID, type; every entry is also sent as an AMQP header.",
    }],
    decode: bindery_core::decode_as::<Config>,
    build_input: Some(|cx| Box::pin(build_input(cx))),
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

/// What can go wrong talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum RabbitError {
    #[error("invalid host address: {0}")]
    Uri(String),
    #[error("rabbitMQ binding error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("channel/connection is not open")]
    NotOpen,
    #[error("the broker did not accept the message (publisher confirm nack)")]
    Nacked,
    #[error(
        "rabbitMQ binding error: queue {queue} does not exist: the broker returned the message \
         ({reason}), also after declaring the queue again"
    )]
    Unroutable { queue: String, reason: String },
    #[error("rabbitMQ binding error: publish timed out after {0:?} (publishTimeout)")]
    Timeout(Duration),
    #[error("{0}")]
    InvalidRequest(String),
}

impl From<RabbitError> for BindingError {
    fn from(e: RabbitError) -> Self {
        match e {
            RabbitError::Uri(_)
            | RabbitError::InvalidRequest(_)
            | RabbitError::Unroutable { .. } => BindingError::invalid(e.to_string()),
            RabbitError::NotOpen | RabbitError::Nacked | RabbitError::Timeout(_) => {
                BindingError::unavailable(e.to_string())
            }
            RabbitError::Amqp(ref inner) if inner.is_amqp_soft_error() => {
                BindingError::other(e.to_string())
            }
            RabbitError::Amqp(_) => BindingError::unavailable(e.to_string()),
        }
    }
}

/// Opens a connection and a channel and declares the queue.
async fn connect(cfg: &Config) -> Result<(Connection, Channel), RabbitError> {
    // The parse error can quote the URI, which may hold a password: keep it out.
    let mut uri: AMQPUri = cfg
        .host
        .expose()
        .parse()
        .map_err(|_| RabbitError::Uri("not a valid AMQP URI".to_owned()))?;
    // amqp091-go reads an empty path (`amqp://host:5672/`) as the default vhost "/".
    if uri.vhost.is_empty() {
        uri.vhost = "/".to_owned();
    }
    if cfg.external_sasl {
        uri.query.auth_mechanism = Some(SASLMechanism::External);
    }
    if uri.query.connection_timeout.is_none() {
        uri.query.connection_timeout = Some(10_000);
    }
    // A heartbeat in the URI wins; otherwise `heartBeat` (10 s, amqp091-go's default). lapin
    // closes the connection after two silent intervals, so a blackholed link is noticed.
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(cfg.heartbeat.as_secs().min(u64::from(u16::MAX)) as u16);
    }
    let runtime = lapin::runtime::default_runtime()?;
    let connection = Connection::connect_uri_with_config(
        uri,
        ConnectionProperties::default(),
        tls::owned_config(cfg.tls.as_ref()),
        runtime,
    )
    .await?;
    let channel = connection.create_channel().await?;
    // Publisher confirms: `create` answers success only once the broker has the message, so a
    // broker that stops mid-publish cannot swallow an acknowledged message (daprd answers as
    // soon as the bytes are written).
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await?;
    declare_queue(&channel, cfg).await?;
    Ok((connection, channel))
}

async fn declare_queue(channel: &Channel, cfg: &Config) -> Result<(), RabbitError> {
    let mut args = FieldTable::default();
    if let Some(priority) = cfg.max_priority {
        args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(priority));
    }
    if let Some(ttl) = cfg.queue_ttl {
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(ttl.as_millis().min(i64::MAX as u128) as i64),
        );
    }
    channel
        .queue_declare(
            short(&cfg.queue_name)?,
            QueueDeclareOptions {
                durable: cfg.durable,
                auto_delete: cfg.delete_when_unused,
                exclusive: cfg.exclusive,
                ..Default::default()
            },
            args,
        )
        .await?;
    Ok(())
}

fn short(s: &str) -> Result<ShortString, RabbitError> {
    ShortString::try_new(s).map_err(|e| RabbitError::InvalidRequest(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Output

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cfg = cx.config::<Config>()?;
    let (connection, channel) = connect(&cfg).await?;
    Ok(Box::new(RabbitOutput {
        cfg,
        conn: Mutex::new(Some(Conn {
            connection,
            channel,
        })),
    }))
}

struct Conn {
    connection: Connection,
    channel: Channel,
}

pub struct RabbitOutput {
    cfg: Config,
    conn: Mutex<Option<Conn>>,
}

impl RabbitOutput {
    /// The open channel, reconnecting first when the previous one was lost.
    async fn channel(&self) -> Result<Channel, RabbitError> {
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_ref()
            && conn.channel.status().connected()
            && conn.connection.status().connected()
        {
            return Ok(conn.channel.clone());
        }
        if let Some(old) = guard.take() {
            let _ = old.connection.close(0, "reconnecting".into()).await;
        }
        match connect(&self.cfg).await {
            Ok((connection, channel)) => {
                tracing::info!(component = COMPONENT, queue = %self.cfg.queue_name, "Reconnected to RabbitMQ.");
                *guard = Some(Conn {
                    connection,
                    channel: channel.clone(),
                });
                Ok(channel)
            }
            Err(e) => {
                tracing::warn!(component = COMPONENT, error = %e, "Reconnecting to RabbitMQ failed.");
                Err(RabbitError::NotOpen)
            }
        }
    }
}

#[async_trait]
impl OutputBinding for RabbitOutput {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        // Bounded as a whole (waiting for the connection lock, reconnecting, the confirm), so
        // a call through a dead link fails instead of hanging until TCP gives up.
        let timeout = self.cfg.publish_timeout;
        tokio::time::timeout(timeout, self.publish(req))
            .await
            .unwrap_or(Err(RabbitError::Timeout(timeout).into()))
    }

    async fn close(&self) -> Result<(), BindingError> {
        if let Some(conn) = self.conn.lock().await.take() {
            let _ = conn.channel.close(200, "closing".into()).await;
            let _ = conn.connection.close(200, "closing".into()).await;
        }
        Ok(())
    }
}

impl RabbitOutput {
    async fn publish(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let properties = publish_properties(&req.metadata)?;
        let channel = self.channel().await?;
        let mut published = self.publish_once(&channel, &req, properties.clone()).await;
        if let Ok(Some(reason)) = &published {
            // The queue is gone (deleted, or auto-deleted with `deleteWhenUnused`) since it was
            // declared: declare it again, as a reconnect would, and publish once more. The
            // returned message went nowhere, so this cannot duplicate it.
            tracing::warn!(component = COMPONENT, queue = %self.cfg.queue_name, %reason, "The broker returned the message: the queue is gone; declaring it again.");
            published = match declare_queue(&channel, &self.cfg).await {
                Ok(()) => self.publish_once(&channel, &req, properties).await,
                Err(e) => Err(e),
            };
        }
        match published {
            Ok(None) => Ok(None),
            Ok(Some(reason)) => Err(RabbitError::Unroutable {
                queue: self.cfg.queue_name.clone(),
                reason,
            }
            .into()),
            Err(e) => {
                if !channel.status().connected() {
                    tracing::warn!(component = COMPONENT, error = %e, "Publish failed; the channel is closed and will be reopened.");
                }
                Err(e.into())
            }
        }
    }

    /// Publishes `mandatory` and waits for the broker's confirm; answers why the broker returned
    /// the message when no queue took it. daprd publishes without `mandatory`, so a message to a
    /// queue that no longer exists is confirmed and dropped.
    async fn publish_once(
        &self,
        channel: &Channel,
        req: &InvokeRequest,
        properties: BasicProperties,
    ) -> Result<Option<String>, RabbitError> {
        let confirmation = channel
            .basic_publish(
                "".into(),
                short(&self.cfg.queue_name)?,
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &req.data,
                properties,
            )
            .await?
            .await?;
        if confirmation.is_nack() {
            return Err(RabbitError::Nacked);
        }
        Ok(confirmation
            .take_message()
            .map(|m| format!("{} {}", m.reply_code, m.reply_text)))
    }
}

/// daprd's lookup for `contentType`, `messageID`, `correlationID` and `type`: exact key first,
/// then any casing.
fn lookup<'a>(metadata: &'a Metadata, key: &str) -> Option<&'a str> {
    metadata.get(key).map(String::as_str).or_else(|| {
        metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    })
}

/// The AMQP properties of a published message, from the request metadata.
pub fn publish_properties(metadata: &Metadata) -> Result<BasicProperties, RabbitError> {
    let mut headers = FieldTable::default();
    let mut keys: Vec<&String> = metadata.keys().collect();
    keys.sort();
    for key in keys {
        let name = ShortString::try_new(key.as_str()).map_err(|_| {
            RabbitError::InvalidRequest(format!(
                "metadata key is longer than 255 bytes: {}",
                key.chars().take(32).collect::<String>()
            ))
        })?;
        headers.insert(
            name,
            AMQPValue::LongString(LongString::from(metadata[key].as_bytes())),
        );
    }
    let content_type = lookup(metadata, "contentType").unwrap_or("text/plain");
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(short(content_type)?)
        .with_headers(headers);
    if let Some(ttl) = message_ttl(metadata)? {
        props = props.with_expiration(short(&ttl.as_millis().to_string())?);
    }
    if let Some(priority) = metadata.get("priority") {
        let value: i64 = priority.trim().parse().map_err(|_| {
            RabbitError::InvalidRequest(format!(
                "rabbitMQ binding error: can't parse priority: {priority}"
            ))
        })?;
        props = props.with_priority(value.clamp(0, 255) as u8);
    }
    if let Some(id) = lookup(metadata, "messageID") {
        props = props.with_message_id(short(id)?);
    }
    if let Some(id) = lookup(metadata, "correlationID") {
        props = props.with_correlation_id(short(id)?);
    }
    if let Some(kind) = lookup(metadata, "type") {
        props = props.with_type(short(kind)?);
    }
    Ok(props)
}

/// dapr/kit `TryGetTTL`: `ttl`, then `ttlInSeconds`, any casing.
fn message_ttl(metadata: &Metadata) -> Result<Option<Duration>, RabbitError> {
    for key in ["ttl", "ttlInSeconds"] {
        if let Some(v) = lookup(metadata, key) {
            return config::parse_ttl(v)
                .map_err(|e| RabbitError::InvalidRequest(format!("rabbitMQ binding error: {e}")));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Input

async fn build_input(cx: BuildContext) -> Result<Box<dyn InputBinding>, BindingError> {
    let cfg = cx.config::<Config>()?;
    // Fail Init when the broker or the declaration refuses us, as daprd does.
    let (connection, channel) = connect(&cfg).await?;
    Ok(Box::new(RabbitInput {
        cfg,
        first: Some(Conn {
            connection,
            channel,
        }),
    }))
}

pub struct RabbitInput {
    cfg: Config,
    first: Option<Conn>,
}

enum Ended {
    Shutdown,
    Lost(String),
}

#[async_trait]
impl InputBinding for RabbitInput {
    async fn run(mut self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let mut next = self.first.take();
        loop {
            let conn = match next.take() {
                Some(conn) => Ok(conn),
                None => connect(&self.cfg).await.map(|(connection, channel)| Conn {
                    connection,
                    channel,
                }),
            };
            match conn {
                Ok(conn) => {
                    let limit = cx.in_flight().limit();
                    let ended = match start_consumer(&conn.channel, &self.cfg, limit).await {
                        Ok(consumer) => consume(&cx, &conn.channel, consumer).await,
                        Err(e) => Ended::Lost(e.to_string()),
                    };
                    let _ = conn.channel.close(200, "closing".into()).await;
                    let _ = conn.connection.close(200, "closing".into()).await;
                    match ended {
                        Ended::Shutdown => return Ok(()),
                        Ended::Lost(cause) => tracing::warn!(
                            component = COMPONENT, binding = cx.name(), cause = %cause,
                            "Lost the RabbitMQ consumer; reconnecting in {:?}.", self.cfg.reconnect_wait
                        ),
                    }
                }
                Err(e) => tracing::warn!(
                    component = COMPONENT, binding = cx.name(), cause = %e,
                    "Connecting to RabbitMQ failed; retrying in {:?}.", self.cfg.reconnect_wait
                ),
            }
            tokio::select! {
                _ = cx.shutdown().cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.cfg.reconnect_wait) => {}
            }
        }
    }
}

async fn start_consumer(
    channel: &Channel,
    cfg: &Config,
    in_flight: usize,
) -> Result<Consumer, RabbitError> {
    channel
        .basic_qos(
            prefetch(cfg.prefetch_count, in_flight),
            BasicQosOptions { global: true },
        )
        .await?;
    let consumer = channel
        .basic_consume(
            short(&cfg.queue_name)?,
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(consumer)
}

/// The channel prefetch: `prefetchCount`, raised when it would keep fewer messages unacked
/// than the deliveries allowed in flight (0 stays 0: no limit).
fn prefetch(prefetch_count: u16, in_flight: usize) -> u16 {
    if prefetch_count == 0 {
        return 0;
    }
    prefetch_count.max(u16::try_from(in_flight).unwrap_or(u16::MAX))
}

/// Hands messages to the app, up to `maxConcurrentDeliveries` at once (else one at a time, as
/// daprd), until shutdown or until the consumer is lost. Each delivery acks or requeues its
/// own message; started deliveries always finish before this returns.
async fn consume(cx: &InputContext, channel: &Channel, mut consumer: Consumer) -> Ended {
    let mut in_flight = cx.in_flight();
    let ended = loop {
        let next = tokio::select! {
            biased;
            _ = cx.shutdown().cancelled() => {
                let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
                break Ended::Shutdown;
            }
            () = in_flight.settled() => continue,
            next = consumer.next(), if in_flight.has_room() => next,
        };
        match next {
            None => break Ended::Lost("consumer cancelled".to_owned()),
            Some(Err(e)) => break Ended::Lost(e.to_string()),
            Some(Ok(delivery)) => in_flight.start(deliver(cx.clone(), delivery)),
        }
    };
    // In-flight work finishes, also during shutdown. After a lost connection their acks fail
    // and the broker redelivers those messages; waiting keeps the redelivered copies from
    // running beside the first ones.
    in_flight.finish().await;
    ended
}

/// Delivers one message and acks it, or nacks it with requeue when the app refused it.
async fn deliver(cx: InputContext, delivery: lapin::message::Delivery) {
    let event = InputEvent {
        data: delivery.data.clone().into(),
        metadata: headers_metadata(delivery.properties.headers().as_ref()),
    };
    let settled = match cx.deliver(event).await {
        Ok(_) => delivery.acker.ack(BasicAckOptions::default()).await,
        Err(e) => {
            tracing::debug!(component = COMPONENT, binding = cx.name(), error = %e, "App refused the message; requeueing it.");
            delivery
                .acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await
        }
    };
    if let Err(e) = settled {
        // The channel is gone: the broker requeues every unacked message of it.
        tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e, "Could not settle a message; the broker redelivers it.");
    }
}

/// Only string-valued headers, keys URL-query-escaped, as daprd passes them.
pub fn headers_metadata(headers: Option<&FieldTable>) -> Metadata {
    let mut out = HashMap::new();
    let Some(headers) = headers else {
        return out;
    };
    for (key, value) in headers.inner() {
        let text = match value {
            AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
                Ok(s) => s.to_owned(),
                Err(_) => continue,
            },
            AMQPValue::ShortString(s) => s.as_str().to_owned(),
            _ => continue,
        };
        out.insert(query_escape(key.as_str()), text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(query_escape("a b/c?d=é"), "a+b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(query_escape("Plain-_.~9"), "Plain-_.~9");
    }

    #[test]
    fn properties_from_request_metadata() {
        let p = publish_properties(&md(&[
            ("ttlInSeconds", "3"),
            ("priority", "300"),
            ("ContentType", "application/json"),
            ("messageId", "m1"),
            ("correlationID", "c1"),
            ("type", "t1"),
            ("custom", "v"),
        ]))
        .unwrap();
        assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("3000"));
        assert_eq!(*p.priority(), Some(255));
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("m1"));
        assert_eq!(p.correlation_id().as_ref().map(|s| s.as_str()), Some("c1"));
        assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some("t1"));
        assert_eq!(*p.delivery_mode(), Some(2));
        let headers = p.headers().as_ref().unwrap();
        assert_eq!(headers.inner().len(), 7, "every entry becomes a header");
        let back = headers_metadata(Some(headers));
        assert_eq!(back.get("custom").map(String::as_str), Some("v"));
    }

    #[test]
    fn defaults_and_errors() {
        let p = publish_properties(&md(&[])).unwrap();
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("text/plain")
        );
        assert!(p.expiration().is_none() && p.priority().is_none());
        let p = publish_properties(&md(&[("priority", "-4"), ("ttl", "1500ms")])).unwrap();
        assert_eq!(*p.priority(), Some(0));
        assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("1500"));
        assert!(publish_properties(&md(&[("priority", "high")])).is_err());
        assert!(publish_properties(&md(&[("ttlInSeconds", "0")])).is_err());
        assert!(
            publish_properties(&md(&[("Priority", "high")])).is_ok(),
            "priority is exact-case"
        );
    }

    #[test]
    fn prefetch_allows_every_delivery_in_flight() {
        assert_eq!(prefetch(0, 8), 0, "no limit stays no limit");
        assert_eq!(prefetch(3, 8), 8);
        assert_eq!(prefetch(20, 8), 20);
        assert_eq!(prefetch(1, 1), 1);
        assert_eq!(prefetch(5, 100_000), u16::MAX);
    }

    #[test]
    fn only_string_headers_pass() {
        let mut t = FieldTable::default();
        t.insert("a b".into(), AMQPValue::LongString("x".into()));
        t.insert("n".into(), AMQPValue::LongInt(5));
        let m = headers_metadata(Some(&t));
        assert_eq!(m, md(&[("a+b", "x")]));
    }
}
