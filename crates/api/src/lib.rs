//! Dapr's wire contract, and only here: the HTTP API apps call, the JSON it speaks, its error
//! bodies and headers, and the app channel that delivers input events to an HTTP app. Nothing
//! outside this crate knows a Dapr error code, header or JSON field.
#![forbid(unsafe_code)]

pub mod app_http;
pub mod error;
pub mod headers;
pub mod http;
pub mod serve;

pub use error::ApiError;
