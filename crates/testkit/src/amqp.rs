//! A plain AMQP client (lapin) for fault tests: look at, drain and delete a queue behind the
//! sidecar's back.

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

/// `RABBITMQ_URL` or the local broker.
pub fn url() -> String {
    std::env::var("RABBITMQ_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn channel() -> (Connection, Channel) {
    let connection = Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("open a channel");
    (connection, channel)
}

/// Ready messages in `queue` (passive declare); `None` when the queue does not exist.
pub async fn depth(queue: &str) -> Option<u32> {
    let (connection, channel) = channel().await;
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    let _ = connection.close(200, "done".into()).await;
    declared.ok().map(|q| q.message_count())
}

/// Takes every ready message out of `queue` (acking each) and returns the bodies.
pub async fn drain(queue: &str) -> Vec<String> {
    let (connection, channel) = channel().await;
    let mut bodies = Vec::new();
    while let Ok(Some(message)) = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
    {
        bodies.push(String::from_utf8_lossy(&message.delivery.data).into_owned());
        let _ = message.delivery.acker.ack(BasicAckOptions::default()).await;
    }
    let _ = connection.close(200, "done".into()).await;
    bodies
}

/// Deletes `queue` (ignoring errors).
pub async fn delete(queue: &str) {
    let (connection, channel) = channel().await;
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
}
