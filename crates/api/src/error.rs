//! The one place where failures become Dapr's error responses.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bindery_runtime::InvokeError;

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
    HealthNotReady(&'static str),
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
