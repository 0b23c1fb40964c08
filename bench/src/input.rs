//! RabbitMQ helpers for the input-delivery scenario: pre-loading a queue, and the direct
//! consumers bindery is compared with.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

pub struct Rabbit {
    connection: Connection,
    channel: Channel,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("rabbitmq: {e}")
}

impl Rabbit {
    pub async fn connect(url: &str) -> Result<Self, String> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(err)?;
        let channel = connection.create_channel().await.map_err(err)?;
        Ok(Self {
            connection,
            channel,
        })
    }

    /// Declares `queue` as bindery's rabbitmq binding does with its defaults (not durable, not
    /// auto-delete, not exclusive) so both can use it, and fills it with `count` messages.
    pub async fn preload(&self, queue: &str, count: usize, payload: &[u8]) -> Result<(), String> {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        let publisher = self.connection.create_channel().await.map_err(err)?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err)?;
        let mut confirms = Vec::with_capacity(count);
        for _ in 0..count {
            confirms.push(
                publisher
                    .basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        payload,
                        BasicProperties::default(),
                    )
                    .await
                    .map_err(err)?,
            );
        }
        for confirm in confirms {
            confirm.await.map_err(err)?;
        }
        let _ = publisher.close(200, "done".into()).await;
        Ok(())
    }

    pub async fn delete(&self, queue: &str) {
        let _ = self
            .channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }

    /// Consumes `count` messages one at a time as bindery's binding does (global prefetch 0,
    /// manual ack after the work), where the work is `forward_to` (a POST to the app) or
    /// nothing. Returns the time from the first delivery to the last ack.
    pub async fn drain(
        &self,
        queue: &str,
        count: usize,
        forward_to: Option<SocketAddr>,
    ) -> Result<Duration, String> {
        let channel = self.connection.create_channel().await.map_err(err)?;
        channel
            .basic_qos(0, BasicQosOptions { global: true })
            .await
            .map_err(err)?;
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        let mut app = match forward_to {
            Some(addr) => {
                let stream = tokio::net::TcpStream::connect(addr).await.map_err(err)?;
                stream.set_nodelay(true).map_err(err)?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(err)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Some((sender, addr))
            }
            None => None,
        };
        let mut first = None;
        for _ in 0..count {
            let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
                .await
                .map_err(|_| "rabbitmq: no message for 30 s".to_owned())?
                .ok_or_else(|| "rabbitmq: consumer ended".to_owned())?
                .map_err(err)?;
            first.get_or_insert_with(Instant::now);
            if let Some((sender, addr)) = app.as_mut() {
                sender.ready().await.map_err(err)?;
                let request = Request::post("/in-direct")
                    .header(hyper::header::HOST, addr.to_string())
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(delivery.data.clone())))
                    .map_err(err)?;
                let response = sender.send_request(request).await.map_err(err)?;
                let ok = response.status().is_success();
                let _ = response.into_body().collect().await;
                if !ok {
                    return Err("the app refused a message".to_owned());
                }
            }
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(err)?;
        }
        let took = first.map(|f| f.elapsed()).unwrap_or_default();
        let _ = channel.close(200, "done".into()).await;
        Ok(took)
    }

    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}
