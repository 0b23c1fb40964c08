//! The one place where failures become Dapr's error responses.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bindery_runtime::InvokeError;
use tonic_types::{ErrorDetails, StatusExt};

use crate::headers::insert_metadata_headers;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body is not a valid request.
    #[error("failed deserializing HTTP body: {0}")]
    MalformedRequest(String),
    #[error("error invoking output binding {name}: {error}")]
    InvokeOutputBinding { name: String, error: InvokeError },
    #[error("failed getting app id either from the URL path or the header dapr-app-id")]
    DirectInvoke,
    #[error("dapr is not ready: [{0}]")]
    HealthNotReady(String),
    #[error("dapr outbound is not ready")]
    OutboundNotReady,
    #[error("dapr app-id does not match")]
    AppIdMismatch,
    #[error("failed to read request body: {0}")]
    BodyRead(String),
    #[error("invalid api token")]
    InvalidToken,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedRequest(_) => "ERR_MALFORMED_REQUEST",
            ApiError::InvokeOutputBinding { .. } => "ERR_INVOKE_OUTPUT_BINDING",
            ApiError::DirectInvoke => "ERR_DIRECT_INVOKE",
            ApiError::HealthNotReady(_) => "ERR_HEALTH_NOT_READY",
            ApiError::OutboundNotReady => "ERR_OUTBOUND_HEALTH_NOT_READY",
            ApiError::AppIdMismatch => "ERR_HEALTH_APPID_NOT_MATCH",
            ApiError::BodyRead(_) => "ERR_BODY_READ",
            ApiError::InvalidToken => "ERR_INVALID_TOKEN",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedRequest(_) | ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::DirectInvoke => StatusCode::NOT_FOUND,
            ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Metadata a component returned alongside its error; daprd sends it as headers.
    fn response_metadata(&self) -> Option<&HashMap<String, String>> {
        match self {
            ApiError::InvokeOutputBinding { error, .. } => error.response_metadata(),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::InvalidToken = self {
            // daprd answers with Go's http.Error: plain text, newline-terminated.
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "invalid api token\n",
            )
                .into_response();
        }
        let body = serde_json::json!({"errorCode": self.code(), "message": self.to_string()});
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(metadata) = self.response_metadata() {
            insert_metadata_headers(&mut headers, metadata);
        }
        (self.status(), headers, body.to_string()).into_response()
    }
}

/// The `google.rpc.ErrorInfo` domain daprd puts on its errors.
pub const ERROR_DOMAIN: &str = "dapr.io";

impl ApiError {
    /// The gRPC status for this error, as daprd's gRPC API answers it: the same message as over
    /// HTTP, a `google.rpc.ErrorInfo` detail naming the error code, and any response metadata
    /// the component returned as `metadata.<key>` response headers.
    pub fn into_grpc_status(self) -> tonic::Status {
        let code = self.grpc_code();
        let mut headers = tonic::metadata::MetadataMap::new();
        if let Some(metadata) = self.response_metadata() {
            insert_metadata_grpc(&mut headers, metadata);
        }
        let details = ErrorDetails::with_error_info(self.code(), ERROR_DOMAIN, HashMap::new());
        tonic::Status::with_error_details_and_metadata(code, self.to_string(), details, headers)
    }

    fn grpc_code(&self) -> tonic::Code {
        match self {
            ApiError::MalformedRequest(_) | ApiError::BodyRead(_) => tonic::Code::InvalidArgument,
            ApiError::DirectInvoke => tonic::Code::NotFound,
            ApiError::InvalidToken => tonic::Code::Unauthenticated,
            _ => tonic::Code::Internal,
        }
    }
}

/// daprd's gRPC answer to a missing or wrong `dapr-api-token`: `UNAUTHENTICATED`, message
/// `Unauthorized` (Go's text for HTTP 401), with the HTTP code and the reason in an ErrorInfo.
pub fn unauthenticated_status(reason: &str) -> tonic::Status {
    let details = ErrorDetails::with_error_info(
        "Unauthorized",
        ERROR_DOMAIN,
        HashMap::from([
            ("http.code".to_owned(), "401".to_owned()),
            ("http.error_message".to_owned(), reason.to_owned()),
        ]),
    );
    tonic::Status::with_error_details(tonic::Code::Unauthenticated, "Unauthorized", details)
}

/// grpc-go's answer to a request message over the receive limit (`--max-body-size`).
pub fn message_too_large_status(found: usize, limit: usize) -> tonic::Status {
    tonic::Status::resource_exhausted(format!(
        "grpc: received message larger than max ({found} vs. {limit})"
    ))
}

/// Output-binding response metadata as gRPC response headers: `metadata.<lower-cased key>`.
/// Entries that are not valid ASCII metadata are left out rather than failing the call.
pub fn insert_metadata_grpc(
    headers: &mut tonic::metadata::MetadataMap,
    metadata: &HashMap<String, String>,
) {
    use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
    for (key, value) in metadata {
        let name =
            AsciiMetadataKey::from_bytes(format!("metadata.{}", key.to_lowercase()).as_bytes());
        let value = AsciiMetadataValue::try_from(value.as_str());
        match (name, value) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => {
                tracing::debug!(key = %key, "Response metadata entry is not valid gRPC metadata; left out.")
            }
        }
    }
}
