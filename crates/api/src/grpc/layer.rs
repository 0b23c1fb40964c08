//! What daprd's gRPC interceptors do around every call: the `dapr-api-token` check (removing
//! the header once checked), the call's `:authority` kept for the binding metadata, and
//! grpc-go's status for a request message over the size limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use subtle::ConstantTimeEq;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::error::{message_too_large_status, unauthenticated_status};

/// The `:authority` the call was made to; grpc-go passes it on as incoming metadata.
#[derive(Debug, Clone)]
pub struct Authority(pub String);

#[derive(Clone)]
pub struct ApiLayer {
    token: Option<Arc<str>>,
}

impl ApiLayer {
    pub fn new(token: Option<String>) -> Self {
        Self {
            token: token.map(Arc::from),
        }
    }
}

impl<S> Layer<S> for ApiLayer {
    type Service = ApiService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiService {
            inner,
            token: self.token.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ApiService<S> {
    inner: S,
    token: Option<Arc<str>>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<http::Request<B>> for ApiService<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(expected) = &self.token {
            let verdict = match request.headers().get("dapr-api-token") {
                None => Err("missing api token in request metadata"),
                Some(given) if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
                Some(_) => Err("authentication error: api token mismatch"),
            };
            if let Err(reason) = verdict {
                let response = unauthenticated_status(reason).into_http();
                return Box::pin(async move { Ok(response) });
            }
            request.headers_mut().remove("dapr-api-token");
        }
        if let Some(authority) = request.uri().authority() {
            let authority = Authority(authority.to_string());
            request.extensions_mut().insert(authority);
        }
        // The service that was polled ready handles this call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(rewrite_oversized(response))
        })
    }
}

/// tonic answers an over-limit request message with OUT_OF_RANGE; grpc-go (and so daprd and
/// the SDKs' expectations) uses RESOURCE_EXHAUSTED.
fn rewrite_oversized(response: http::Response<Body>) -> http::Response<Body> {
    let is_out_of_range = response
        .headers()
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == b"11");
    if !is_out_of_range {
        return response;
    }
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    match parse_too_large(status.message()) {
        Some((found, limit)) => message_too_large_status(found, limit).into_http(),
        None => response,
    }
}

/// Reads tonic's "decoded message length too large: found N bytes, the limit is: M bytes".
fn parse_too_large(message: &str) -> Option<(usize, usize)> {
    let rest = message.strip_prefix("Error, decoded message length too large: found ")?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    Some((found.parse().ok()?, limit.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_size_message_is_understood() {
        assert_eq!(
            parse_too_large(
                "Error, decoded message length too large: found 5000 bytes, the limit is: 1024 bytes"
            ),
            Some((5000, 1024))
        );
        assert_eq!(parse_too_large("something else"), None);
    }
}
