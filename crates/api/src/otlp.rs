//! OTLP trace export: the few OpenTelemetry protobuf messages a span export needs (field numbers
//! from `opentelemetry/proto/{collector/trace/v1,trace/v1,common/v1,resource/v1}`), and a
//! batching exporter that sends them over OTLP/HTTP (protobuf, `POST <endpoint>/v1/traces`) or
//! OTLP/gRPC (`TraceService/Export`). Hand-written rather than the `opentelemetry` SDK: the
//! sidecar needs spans for two call sites, not a tracing framework, and this keeps the binary and
//! the dependency tree small.

use std::time::Duration;

use prost::Message;
use std::sync::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceResponse {}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub trace_state: String,
    /// Empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub name: String,
    /// `SpanKind`: 2 server, 3 client.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
    /// W3C trace flags in the low byte.
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
}

pub const SPAN_KIND_SERVER: i32 = 2;
pub const SPAN_KIND_CLIENT: i32 = 3;
pub const STATUS_CODE_OK: i32 = 1;
pub const STATUS_CODE_ERROR: i32 = 2;

#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(int32, tag = "3")]
    pub code: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
    }
}

impl KeyValue {
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
        }
    }

    /// The value when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }
}

/// `spec.tracing.otel.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Http,
    Grpc,
}

/// Where finished spans go.
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// `host:port`, or a URL with a scheme.
    pub endpoint: String,
    pub secure: bool,
    pub protocol: OtlpProtocol,
}

const QUEUE: usize = 2048;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(500);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
const GRPC_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

enum Transport {
    Http {
        client: reqwest::Client,
        url: String,
    },
    Grpc {
        channel: tonic::transport::Channel,
    },
}

/// Batches spans and sends them from a background task. Spans that do not fit the queue are
/// dropped (and counted in a debug log) rather than slowing a request down.
pub struct Exporter {
    queue: mpsc::Sender<Span>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Exporter {
    /// Must be called within a tokio runtime. Connects lazily.
    pub fn start(settings: &OtlpSettings, service_name: &str) -> Result<Self, String> {
        let transport = transport(settings)?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let resource = Resource {
            attributes: vec![KeyValue::string("service.name", service_name)],
        };
        let task = tokio::spawn(run(transport, rx, stop.clone(), resource));
        Ok(Self {
            queue,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    pub fn send(&self, span: Span) {
        if self.queue.try_send(span).is_err() {
            tracing::debug!("The span export queue is full; a span was dropped.");
        }
    }

    /// Sends what is queued, then stops.
    pub async fn shutdown(&self, deadline: Duration) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && tokio::time::timeout(deadline, task).await.is_err()
        {
            tracing::warn!("Exporting the last spans did not finish in time.");
        }
    }
}

fn base_url(settings: &OtlpSettings) -> String {
    let endpoint = settings.endpoint.trim().trim_end_matches('/');
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else if settings.secure {
        format!("https://{endpoint}")
    } else {
        format!("http://{endpoint}")
    }
}

fn transport(settings: &OtlpSettings) -> Result<Transport, String> {
    let base = base_url(settings);
    match settings.protocol {
        OtlpProtocol::Http => {
            let client = reqwest::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|e| format!("cannot build the OTLP client: {e}"))?;
            let url = if base.ends_with("/v1/traces") {
                base
            } else {
                format!("{base}/v1/traces")
            };
            Ok(Transport::Http { client, url })
        }
        OtlpProtocol::Grpc => {
            if base.starts_with("https://") {
                return Err(
                    "OTLP over gRPC with TLS (isSecure: true) is not supported; use protocol: http"
                        .to_owned(),
                );
            }
            let channel = tonic::transport::Endpoint::from_shared(base.clone())
                .map_err(|e| format!("invalid OTLP endpoint {base:?}: {e}"))?
                .timeout(EXPORT_TIMEOUT)
                .connect_lazy();
            Ok(Transport::Grpc { channel })
        }
    }
}

async fn run(
    transport: Transport,
    mut rx: mpsc::Receiver<Span>,
    stop: CancellationToken,
    resource: Resource,
) {
    let mut batch: Vec<Span> = Vec::new();
    // When the oldest span in `batch` must be sent at the latest.
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut failing = false;
    loop {
        let flush_at = deadline;
        let stopping = tokio::select! {
            span = rx.recv() => match span {
                Some(span) => {
                    if batch.is_empty() {
                        deadline = Some(tokio::time::Instant::now() + FLUSH_EVERY);
                    }
                    batch.push(span);
                    false
                }
                None => true,
            },
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => false,
            _ = stop.cancelled() => true,
        };
        if stopping {
            while let Ok(span) = rx.try_recv() {
                batch.push(span);
            }
        }
        let due = stopping
            || batch.len() >= BATCH
            || deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        if due && !batch.is_empty() {
            deadline = None;
            let spans = std::mem::take(&mut batch);
            let count = spans.len();
            match export(&transport, &resource, spans).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("Span export works again.");
                    }
                    failing = false;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(cause = %e, spans = count, "Exporting spans failed; they are dropped.");
                    }
                    failing = true;
                }
            }
        }
        if stopping {
            return;
        }
    }
}

async fn export(
    transport: &Transport,
    resource: &Resource,
    spans: Vec<Span>,
) -> Result<(), String> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "bindery".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                }),
                spans,
            }],
        }],
    };
    match transport {
        Transport::Http { client, url } => {
            let response = client
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(request.encode_to_vec())
                .send()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("POST {url}: status {}", response.status().as_u16()))
            }
        }
        Transport::Grpc { channel } => {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready()
                .await
                .map_err(|e| format!("OTLP gRPC endpoint not ready: {e}"))?;
            let codec = tonic_prost::ProstCodec::<
                ExportTraceServiceRequest,
                ExportTraceServiceResponse,
            >::default();
            grpc.unary(
                tonic::Request::new(request),
                http::uri::PathAndQuery::from_static(GRPC_EXPORT_PATH),
                codec,
            )
            .await
            .map(|_| ())
            .map_err(|status| format!("OTLP gRPC export: {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_a_scheme_and_the_traces_path() {
        let s = |endpoint: &str, secure| OtlpSettings {
            endpoint: endpoint.to_owned(),
            secure,
            protocol: OtlpProtocol::Http,
        };
        assert_eq!(
            base_url(&s("localhost:4318", false)),
            "http://localhost:4318"
        );
        assert_eq!(
            base_url(&s("collector:4318/", true)),
            "https://collector:4318"
        );
        assert_eq!(base_url(&s("http://c:1", true)), "http://c:1");
        match transport(&s("localhost:4318", false)).unwrap() {
            Transport::Http { url, .. } => assert_eq!(url, "http://localhost:4318/v1/traces"),
            Transport::Grpc { .. } => panic!("http expected"),
        }
    }

    #[test]
    fn spans_round_trip_through_protobuf() {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "bindings/x".to_owned(),
            kind: SPAN_KIND_SERVER,
            attributes: vec![KeyValue::string("k", "v")],
            flags: 1,
            ..Default::default()
        };
        let bytes = span.encode_to_vec();
        let back = Span::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, span);
        assert_eq!(back.attributes[0].as_str(), Some("v"));
    }
}
