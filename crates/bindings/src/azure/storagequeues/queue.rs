//! The Queue service calls the binding makes (Create Queue, Put Message, Get Messages,
//! Update Message, Delete Message), plus Peek and Clear for tests.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::azure::client::{
    StorageClient, StorageError, child_text, parse_xml, rfc1123_to_rfc3339, xml_escape,
};

/// One dequeued message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub pop_receipt: String,
    /// RFC 3339, UTC.
    pub insertion_time: String,
    pub expiration_time: String,
    pub next_visible_time: String,
    pub dequeue_count: String,
    pub text: String,
}

/// A client for one queue.
#[derive(Clone)]
pub struct Queue {
    pub client: StorageClient,
    pub url: url::Url,
}

/// Whole seconds, as the Go SDK sends them (`int32(d.Seconds())`).
fn seconds(d: Duration) -> String {
    d.as_secs().min(i32::MAX as u64).to_string()
}

impl Queue {
    fn messages_url(&self) -> url::Url {
        crate::azure::client::join_path(&self.url, "messages")
    }

    /// Creates the queue (an existing queue with the same metadata is fine).
    pub async fn create(&self) -> Result<(), StorageError> {
        self.client
            .send(
                Method::PUT,
                self.url.clone(),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await
            .map(|_| ())
    }

    /// Put Message.
    pub async fn put(
        &self,
        text: &str,
        ttl: Duration,
        visibility_delay: Option<Duration>,
    ) -> Result<(), StorageError> {
        let mut url = self.messages_url();
        {
            let mut q = url.query_pairs_mut();
            if let Some(delay) = visibility_delay {
                q.append_pair("visibilitytimeout", &seconds(delay));
            }
            q.append_pair("messagettl", &seconds(ttl));
        }
        let body = format!(
            "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
            xml_escape(text)
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            reqwest::header::HeaderValue::from_static("application/xml"),
        );
        self.client
            .send(Method::POST, url, headers, Bytes::from(body))
            .await
            .map(|_| ())
    }

    /// Get Messages: at most `n`, hidden for `visibility`.
    pub async fn get(
        &self,
        n: u32,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, StorageError> {
        let mut url = self.messages_url();
        url.query_pairs_mut()
            .append_pair("numofmessages", &n.to_string())
            .append_pair("visibilitytimeout", &seconds(visibility));
        let answer = self
            .client
            .send(Method::GET, url, HeaderMap::new(), Bytes::new())
            .await?;
        parse_messages(&answer.body)
    }

    /// Peek Messages (the texts of up to 32 visible messages, left in place).
    pub async fn peek(&self, n: u32) -> Result<Vec<QueueMessage>, StorageError> {
        let mut url = self.messages_url();
        url.query_pairs_mut()
            .append_pair("peekonly", "true")
            .append_pair("numofmessages", &n.to_string());
        let answer = self
            .client
            .send(Method::GET, url, HeaderMap::new(), Bytes::new())
            .await?;
        parse_messages(&answer.body)
    }

    /// Update Message without new text: hides it for `visibility` from now. Returns the new
    /// pop receipt and next-visible time.
    pub async fn extend(
        &self,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> Result<(String, String), StorageError> {
        let mut url = crate::azure::client::join_path(&self.messages_url(), id);
        url.query_pairs_mut()
            .append_pair("popreceipt", pop_receipt)
            .append_pair("visibilitytimeout", &seconds(visibility));
        let answer = self
            .client
            .send(Method::PUT, url, HeaderMap::new(), Bytes::new())
            .await?;
        let receipt = answer
            .header("x-ms-popreceipt")
            .ok_or_else(|| StorageError::Decode("Update Message answered no pop receipt".into()))?
            .to_owned();
        let next = answer
            .header("x-ms-time-next-visible")
            .and_then(rfc1123_to_rfc3339)
            .unwrap_or_default();
        Ok((receipt, next))
    }

    /// Delete Message.
    pub async fn delete(&self, id: &str, pop_receipt: &str) -> Result<(), StorageError> {
        let mut url = crate::azure::client::join_path(&self.messages_url(), id);
        url.query_pairs_mut().append_pair("popreceipt", pop_receipt);
        self.client
            .send(Method::DELETE, url, HeaderMap::new(), Bytes::new())
            .await
            .map(|_| ())
    }

    /// Clear Messages.
    pub async fn clear(&self) -> Result<(), StorageError> {
        self.client
            .send(
                Method::DELETE,
                self.messages_url(),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await
            .map(|_| ())
    }
}

/// A `QueueMessagesList` answer.
pub fn parse_messages(body: &[u8]) -> Result<Vec<QueueMessage>, StorageError> {
    let doc = parse_xml(body)?;
    let time = |node, name| {
        child_text(node, name)
            .and_then(|t| rfc1123_to_rfc3339(&t))
            .unwrap_or_default()
    };
    Ok(doc
        .root_element()
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "QueueMessage")
        .map(|m| QueueMessage {
            id: child_text(m, "MessageId").unwrap_or_default(),
            pop_receipt: child_text(m, "PopReceipt").unwrap_or_default(),
            insertion_time: time(m, "InsertionTime"),
            expiration_time: time(m, "ExpirationTime"),
            next_visible_time: time(m, "TimeNextVisible"),
            dequeue_count: child_text(m, "DequeueCount").unwrap_or_default(),
            text: child_text(m, "MessageText").unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage><MessageId>m1</MessageId><InsertionTime>Tue, 01 Dec 2026 09:00:00 GMT</InsertionTime><ExpirationTime>Tue, 01 Dec 2026 09:10:00 GMT</ExpirationTime><PopReceipt>AgAAAA==</PopReceipt><TimeNextVisible>Tue, 01 Dec 2026 09:00:30 GMT</TimeNextVisible><DequeueCount>2</DequeueCount><MessageText>a &amp; &lt;b&gt;</MessageText></QueueMessage></QueueMessagesList>"#;
        let m = parse_messages(body).unwrap();
        assert_eq!(
            m,
            vec![QueueMessage {
                id: "m1".into(),
                pop_receipt: "AgAAAA==".into(),
                insertion_time: "2026-12-01T09:00:00Z".into(),
                expiration_time: "2026-12-01T09:10:00Z".into(),
                next_visible_time: "2026-12-01T09:00:30Z".into(),
                dequeue_count: "2".into(),
                text: "a & <b>".into(),
            }]
        );
        assert!(parse_messages(b"<QueueMessagesList/>").unwrap().is_empty());
    }
}
