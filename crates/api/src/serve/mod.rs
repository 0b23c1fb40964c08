//! Serving a router on a listener with graceful shutdown. HTTP/1 response headers are written
//! in canonical case (`Metadata.statuscode`), as Go's server writes them. Idle keep-alive
//! connections stay open, as daprd's do; a client that stops mid-request is cut off (`stall`).

mod stall;

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

use stall::{Activity, HeadTimer, StallGuard, WatchedIo};

/// daprd's `ReadHeaderTimeout`: a request head must be in within this of its first byte (the
/// first request's, of the accept). Idle time between requests does not count.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body whose client sends nothing for this long is cut off (daprd has no bound).
const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` fires, then lets in-flight requests finish within `drain`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    drain: Duration,
) {
    // daprd strips a trailing slash when that matches a route.
    let service = NormalizePath::trim_trailing_slash(router);
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
        let activity = Activity::new(HEAD_TIMEOUT);
        let cut = activity.cut().clone();
        let service = service.clone().map_request(move |req: Request<Incoming>| {
            // An HTTP/2 stream that stalls fails alone; HTTP/1 has no other way to end it.
            let cut = (req.version() < http::Version::HTTP_2).then(|| cut.clone());
            req.map(|body| axum::body::Body::new(StallGuard::new(body, BODY_STALL_TIMEOUT, cut)))
        });
        // One builder per connection: the head timer is the connection's own.
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .title_case_headers(true)
            .timer(HeadTimer(activity.clone()))
            .header_read_timeout(HEAD_TIMEOUT);
        let io = TokioIo::new(WatchedIo::new(stream, activity.clone()));
        let connection = builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = activity.cut().cancelled() => {
                    tracing::debug!("Closed a connection whose client stopped sending its request body.");
                }
                ended = connection => if let Err(e) = ended {
                    tracing::trace!(error = %e, "Connection ended with an error.");
                },
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
