//! The trivial HTTP server both paths talk to: the target of the `http` output binding, and the
//! app that input bindings deliver to. It runs in its own process (`bindery-bench server`) so
//! its CPU is not counted as the load generator's.
//!
//! Every request is answered `200` with an empty body after its body is read. `POST`s whose
//! path starts with `/in` are counted (`/in-slow` answers after 5 ms, an app that works) with the time of the first and of the latest one;
//! `GET /__count` answers `{"count":..,"span_us":..}` and `POST /__reset` clears them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use tokio::net::TcpListener;

/// How long `/in-slow` takes per event.
const SLOW_APP: std::time::Duration = std::time::Duration::from_millis(5);

#[derive(Default)]
struct Counter {
    count: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Serves forever on `listener`.
pub async fn serve(listener: TcpListener) {
    let counter = Arc::new(Mutex::new(Counter::default()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let counter = counter.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, counter.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    counter: Arc<Mutex<Counter>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let _ = request.into_body().collect().await;
    let body = match (&method, path.as_str()) {
        (&Method::GET, "/__count") => {
            let c = counter.lock().unwrap_or_else(|e| e.into_inner());
            let span_us = match (c.first, c.last) {
                (Some(f), Some(l)) => l.duration_since(f).as_micros() as u64,
                _ => 0,
            };
            Bytes::from(format!(r#"{{"count":{},"span_us":{span_us}}}"#, c.count))
        }
        (&Method::POST, "/__reset") => {
            *counter.lock().unwrap_or_else(|e| e.into_inner()) = Counter::default();
            Bytes::new()
        }
        (&Method::POST, p) if p.starts_with("/in") => {
            if p == "/in-slow" {
                // An app that works 5 ms per event.
                tokio::time::sleep(SLOW_APP).await;
            }
            let now = Instant::now();
            let mut c = counter.lock().unwrap_or_else(|e| e.into_inner());
            c.count += 1;
            c.first.get_or_insert(now);
            c.last = Some(now);
            Bytes::new()
        }
        _ => Bytes::new(),
    };
    Ok(Response::new(Full::new(body)))
}

/// Binds `127.0.0.1:port` (0 = any free port).
pub async fn bind(port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
