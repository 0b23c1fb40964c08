//! A fake app that records what the sidecar sends it and answers as the test says.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use parking_lot::Mutex;

/// One request the app received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    /// path -> statuses to answer, in order; the last one repeats.
    statuses: HashMap<(Method, String), Vec<u16>>,
    /// How long to wait before answering a POST.
    delay: std::time::Duration,
    /// Requests being handled right now.
    in_flight: usize,
}

#[derive(Clone)]
pub struct TestApp {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
    _shutdown: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    /// Starts on an ephemeral port; every request gets 200 unless told otherwise.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind test app");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new().fallback(record).with_state(inner.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            port,
            inner,
            _shutdown: Arc::new(tx),
        }
    }

    /// Answers `method path` with these statuses in turn (the last repeats).
    pub fn respond(&self, method: Method, path: &str, statuses: &[u16]) {
        self.inner
            .lock()
            .statuses
            .insert((method, path.to_owned()), statuses.to_vec());
    }

    /// Makes every later POST take this long to answer.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.inner.lock().delay = delay;
    }

    /// How many requests the app is answering right now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().requests.clone()
    }

    pub fn requests_to(&self, method: &Method, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// The POSTs to `path` once there are `n` of them, or (after `timeout`) those there are.
    pub async fn posts_within(
        &self,
        path: &str,
        n: usize,
        timeout: std::time::Duration,
    ) -> Vec<Recorded> {
        crate::eventually(timeout, || async {
            let posts = self.requests_to(&Method::POST, path);
            (posts.len() >= n).then_some(posts)
        })
        .await
        .unwrap_or_else(|| self.requests_to(&Method::POST, path))
    }
}

async fn record(State(inner): State<Arc<Mutex<Inner>>>, request: Request) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let delay = if parts.method == Method::POST {
        inner.lock().delay
    } else {
        std::time::Duration::ZERO
    };
    if !delay.is_zero() {
        inner.lock().in_flight += 1;
        tokio::time::sleep(delay).await;
        inner.lock().in_flight -= 1;
    }
    let mut inner = inner.lock();
    let key = (parts.method.clone(), parts.uri.path().to_owned());
    let status = match inner.statuses.get_mut(&key) {
        Some(list) if list.len() > 1 => list.remove(0),
        Some(list) => list.first().copied().unwrap_or(200),
        None => 200,
    };
    inner.requests.push(Recorded {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}
