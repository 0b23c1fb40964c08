//! Serving a router on a listener with graceful shutdown. HTTP/1 response headers are written
//! in canonical case (`Metadata.statuscode`), as Go's server writes them.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::normalize_path::NormalizePath;

/// Serves until `shutdown` fires, then lets in-flight requests finish within `drain`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    drain: Duration,
) {
    // daprd strips a trailing slash when that matches a route.
    let service = NormalizePath::trim_trailing_slash(router);
    let mut builder = Builder::new(TokioExecutor::new());
    // A client gets 10 s to send its request head (Go's servers bound this the same way).
    builder
        .http1()
        .title_case_headers(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "Accepting a connection failed.");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service
            .clone()
            .map_request(|req: Request<Incoming>| req.map(axum::body::Body::new));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "Connection ended with an error.");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("Some HTTP connections were still open when the drain time ran out.");
    }
}
