//! Dapr's wire contract, and only here: the HTTP and gRPC APIs apps call, the JSON and protobuf
//! they speak, their errors and headers, and the app channels that deliver input events to an
//! HTTP or gRPC app. Nothing outside this crate knows a Dapr error code, header, JSON field or
//! protobuf message.
#![forbid(unsafe_code)]

pub mod app_grpc;
pub mod app_http;
pub mod error;
pub mod grpc;
pub mod headers;
pub mod http;
pub mod metadata;
pub mod metrics;
pub mod otlp;
pub mod proto;
pub mod serve;
mod state;
pub mod trace;

pub use error::ApiError;
