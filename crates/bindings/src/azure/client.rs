//! The small REST client both Azure Storage bindings share: sends one request with
//! `x-ms-date`/`x-ms-version` and the configured authorization (SharedKey, a SAS token, or an
//! Azure AD bearer token), and turns a non-2xx answer into a [`StorageError`] carrying the
//! service's error code (`BlobNotFound`, `QueueNotFound`, ...).
//!
//! Timeouts (fixed; daprd's Storage components have no field for them): a connection opens
//! within [`CONNECT_TIMEOUT`]; a request that sees no byte for [`READ_TIMEOUT`] (waiting for
//! its answer, or within it) is on a dead connection and is retried on a new one; a call gets
//! its answer's status and headers within [`ANSWER_TIMEOUT`], retries included, or fails with
//! a timeout. A body being read after that is bounded only by [`READ_TIMEOUT`] between reads,
//! so a large download that keeps flowing is never cut.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use super::Sensitive;
use super::auth::{SharedKey, SignInput};

/// Time to open a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// No byte for this long, while waiting for an answer or reading it: the attempt fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// A call's answer (status and headers) arrives within this, retries included, or it fails.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The Storage REST API version every request names.
pub const API_VERSION: &str = "2023-11-03";

/// How requests are authorized.
#[derive(Clone)]
pub enum Authorizer {
    SharedKey(SharedKey),
    /// A SAS token (query string without `?`) appended to every request.
    Sas(Sensitive<String>),
    /// Azure AD: a bearer token from this source.
    Bearer(Arc<dyn TokenSource>),
}

/// Gives Azure AD access tokens for `https://storage.azure.com/.default`.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self) -> Result<Sensitive<String>, StorageError>;
}

/// A failed Storage call.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No answer: connection refused, reset, timed out.
    #[error("{0}")]
    Transport(String),
    /// The service answered with an error status.
    #[error("RESPONSE {status}: {code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// The answer could not be read.
    #[error("{0}")]
    Decode(String),
    /// Getting an Azure AD token failed.
    #[error("{0}")]
    Token(String),
}

impl StorageError {
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed (no answer, 5xx, throttling, timeouts).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            // The token chain already tried every method; retrying it here only waits.
            Self::Token(_) => false,
            Self::Service { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Self::Decode(_) => false,
        }
    }

    /// The `BindingError` kind: service 4xx answers are the request's fault.
    pub fn into_binding_error(self, context: &str) -> bindery_core::BindingError {
        let message = format!("{context}: {self}");
        if self.is_transient() || matches!(self, Self::Token(_)) {
            bindery_core::BindingError::unavailable(message)
        } else {
            bindery_core::BindingError::invalid(message)
        }
    }
}

/// One answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A signed-request sender for one storage account.
#[derive(Clone)]
pub struct StorageClient {
    /// Replaced by a fresh client (an empty connection pool) after a timeout: on a link that
    /// dropped its connections silently, every pooled connection is dead, and each would cost
    /// a [`READ_TIMEOUT`] of its own before a new one is opened.
    http: Arc<std::sync::RwLock<Pool>>,
    auth: Authorizer,
    /// Extra attempts after a transient failure (daprd's Go SDK default: 3).
    retries: u32,
}

impl StorageClient {
    pub fn new(auth: Authorizer) -> Result<Self, StorageError> {
        Ok(Self {
            http: Arc::new(std::sync::RwLock::new(Pool {
                client: http_client()?,
                since: std::time::Instant::now(),
            })),
            auth,
            retries: 3,
        })
    }

    fn http(&self) -> reqwest::Client {
        self.http
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .client
            .clone()
    }

    /// Drops the pooled connections after a request timed out on one: requests in flight keep
    /// theirs, later ones connect anew. At most once per [`CONNECT_TIMEOUT`], as every request
    /// in flight on a dead link times out at about the same moment.
    fn forget_connections(&self) {
        let mut pool = self
            .http
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.since.elapsed() < CONNECT_TIMEOUT {
            return;
        }
        if let Ok(fresh) = http_client() {
            *pool = Pool {
                client: fresh,
                since: std::time::Instant::now(),
            };
        }
    }

    /// How many times a transient failure (no answer, 5xx, 408, 429) is retried.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Whether requests are signed with the account key (needed for `presign`/`signTTL`).
    pub fn shared_key(&self) -> Option<&SharedKey> {
        match &self.auth {
            Authorizer::SharedKey(k) => Some(k),
            _ => None,
        }
    }

    /// Sends one request and returns the answer when its status is 2xx, retrying transient
    /// failures `retries` times (200 ms doubling, at most 2 s apart) while there is time left
    /// of [`ANSWER_TIMEOUT`].
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, StorageError> {
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            match self
                .send_once(
                    method.clone(),
                    url.clone(),
                    headers.clone(),
                    body.clone(),
                    deadline,
                )
                .await
            {
                Err(e)
                    if e.is_transient()
                        && attempt < self.retries
                        && tokio::time::Instant::now() + delay < deadline =>
                {
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        mut url: url::Url,
        headers: HeaderMap,
        body: Bytes,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, StorageError> {
        if let Authorizer::Sas(token) = &self.auth {
            let query = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{}", token.expose()),
                _ => token.expose().clone(),
            };
            url.set_query(Some(&query));
        }
        let content_length = body.len();
        let http = self.http();
        let mut request = http
            .request(method.clone(), url.clone())
            .headers(headers)
            .body(body)
            .build()
            .map_err(|e| StorageError::Transport(e.to_string()))?;
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let h = request.headers_mut();
        h.insert("x-ms-date", header_value(&date)?);
        h.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        match &self.auth {
            Authorizer::SharedKey(key) => {
                let value = key.authorization(&SignInput {
                    method: method.as_str(),
                    url: &url,
                    headers: request.headers(),
                    content_length,
                });
                let mut value = header_value(&value)?;
                value.set_sensitive(true);
                request.headers_mut().insert("authorization", value);
            }
            Authorizer::Bearer(source) => {
                let token = source.token().await?;
                let mut value = header_value(&format!("Bearer {}", token.expose()))?;
                value.set_sensitive(true);
                request.headers_mut().insert("authorization", value);
            }
            Authorizer::Sas(_) => {}
        }
        let transport = |e: reqwest::Error| {
            // A connect timeout involved no pooled connection.
            if e.is_timeout() && !e.is_connect() {
                self.forget_connections();
            }
            StorageError::Transport(transport_message(&e))
        };
        let response = tokio::time::timeout_at(deadline, http.execute(request))
            .await
            .map_err(|_| {
                self.forget_connections();
                StorageError::Transport(format!(
                    "request timed out: no answer within {}s (retries included)",
                    ANSWER_TIMEOUT.as_secs()
                ))
            })?
            .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(service_error(status, &headers, &body));
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// The HTTP client and when it was built.
struct Pool {
    client: reqwest::Client,
    since: std::time::Instant,
}

fn http_client() -> Result<reqwest::Client, StorageError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        // Between reads, not in total: a large download may take long.
        .read_timeout(READ_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| StorageError::Transport(format!("cannot build HTTP client: {e}")))
}

/// A reqwest error without the URL (which may carry a SAS signature), with its causes.
fn transport_message(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "cannot connect to the storage endpoint"
    } else if e.is_body() || e.is_decode() {
        "error reading the answer"
    } else {
        "request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub fn header_value(text: &str) -> Result<HeaderValue, StorageError> {
    HeaderValue::from_str(text)
        .map_err(|_| StorageError::Decode(format!("not a valid HTTP header value: {text:?}")))
}

pub fn header_name(text: &str) -> Result<HeaderName, StorageError> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| StorageError::Decode(format!("not a valid HTTP header name: {text:?}")))
}

/// The service's error code (header `x-ms-error-code`, else the XML body's `<Code>`) and
/// message.
fn service_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> StorageError {
    let text = String::from_utf8_lossy(body);
    let (mut code, mut message) = (None, None);
    if let Ok(doc) = roxmltree::Document::parse(text.trim_start_matches('\u{feff}')) {
        code = child_text(doc.root_element(), "Code");
        message = child_text(doc.root_element(), "Message");
    }
    let code = headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(code)
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("error")
                .replace(' ', "")
        });
    let message = message
        .map(|m| m.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    StorageError::Service {
        status: status.as_u16(),
        code,
        message,
    }
}

/// The text of the first child element named `name`.
pub fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .map(|c| c.text().unwrap_or("").to_owned())
}

/// Parses an XML answer (a UTF-8 BOM is tolerated).
pub fn parse_xml(body: &[u8]) -> Result<roxmltree::Document<'_>, StorageError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| StorageError::Decode("the answer is not UTF-8".to_owned()))?;
    roxmltree::Document::parse(text.trim_start_matches('\u{feff}'))
        .map_err(|e| StorageError::Decode(format!("cannot parse the XML answer: {e}")))
}

/// Escapes text for an XML element body.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 1123 date (`Tue, 01 Dec 2026 09:00:00 GMT`) as RFC 3339 in UTC, as Go formats it.
pub fn rfc1123_to_rfc3339(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
}

/// Appends `/`-separated `name` to `base` as percent-encoded path segments.
pub fn join_path(base: &url::Url, name: &str) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        for part in name.split('/') {
            segments.push(part);
        }
    }
    url
}

/// Go's `url.PathEscape`: everything but unreserved characters and `$&+,;=:@` is escaped,
/// `/` included.
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_carry_the_code() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.
RequestId:1</Message></Error>"#;
        let e = service_error(StatusCode::NOT_FOUND, &HeaderMap::new(), body);
        assert_eq!(e.code(), Some("BlobNotFound"));
        assert_eq!(
            e.to_string(),
            "RESPONSE 404: BlobNotFound: The specified blob does not exist."
        );
        assert!(!e.is_transient());
        let e = service_error(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), b"");
        assert!(e.is_transient());
    }

    #[test]
    fn dates_and_paths() {
        assert_eq!(
            rfc1123_to_rfc3339("Tue, 01 Dec 2026 09:00:00 GMT").as_deref(),
            Some("2026-12-01T09:00:00Z")
        );
        let base = url::Url::parse("http://127.0.0.1:1/devstoreaccount1/c1").unwrap();
        assert_eq!(
            join_path(&base, "dir/a b?#%.txt").as_str(),
            "http://127.0.0.1:1/devstoreaccount1/c1/dir/a%20b%3F%23%25.txt"
        );
        assert_eq!(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
