//! Errors shared by every component. Components define their own typed errors and convert them
//! into [`BindingError`], which carries the one thing the runtime must know to act on it: its
//! [`ErrorKind`]. Only the API crate turns these into Dapr's wire errors.

use std::collections::HashMap;
use std::fmt;

/// How the runtime should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (bad metadata, SQL syntax, a 4xx upstream). Retrying cannot help.
    InvalidRequest,
    /// The external system is unreachable or failed transiently; a retry may succeed.
    Unavailable,
    /// The binding was closed (for example by the `close` operation or a shutdown).
    Closed,
    /// Anything else; treated as retriable by default, like daprd.
    Other,
}

impl ErrorKind {
    /// Whether a resiliency retry policy may try the call again.
    pub fn is_retriable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Other)
    }
}

/// A failure reported by a binding, with the text daprd would show after
/// `error invoking output binding <name>: `.
#[derive(Debug)]
pub struct BindingError {
    kind: ErrorKind,
    message: String,
    /// Response metadata a component returns alongside its error (the http binding's
    /// `statusCode`); daprd forwards these as `metadata.*` headers even on failure.
    response_metadata: HashMap<String, String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BindingError {
    /// Passwords in URLs inside `message` are masked (see [`crate::redact`]).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: crate::redact::redact_credentials(&message.into()),
            response_metadata: HashMap::new(),
            source: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Closed, message)
    }

    /// Keeps the underlying error for `source()` chains without changing the message.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn with_response_metadata(mut self, metadata: HashMap<String, String>) -> Self {
        self.response_metadata = metadata;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn response_metadata(&self) -> &HashMap<String, String> {
        &self.response_metadata
    }
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Something about a field that daprd accepts but that is probably not what the user meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {message}")]
pub struct ConfigWarning {
    pub field: String,
    pub message: String,
}

impl ConfigWarning {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A metadata field that does not validate. The runtime adds the file and component name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
