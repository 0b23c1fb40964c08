//! W3C trace context on the wire, and the two spans the sidecar makes: one per output-binding
//! call (`bindings/<name>`, a server span under the caller's `traceparent`) and one per input
//! event delivered to the app (`bindings/<name>`, a client span under the `traceparent` the
//! event's metadata carried, e.g. a message header).
//!
//! The runtime never sees a span: the context travels as the `traceparent`/`tracestate` entries
//! of the request or event metadata, which is what components copy onto their own wire.
//!
//! Sampling is daprd's: parent-based, otherwise `spec.tracing.samplingRate` applied to the trace
//! id (OpenTelemetry's `TraceIDRatioBased`). A span is exported only when sampled and an OTLP
//! endpoint is configured; the context is propagated either way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindery_core::{InvokeRequest, InvokeResponse, Metadata};
use bindery_runtime::{InvokeError, Runtime};
use rand::RngCore;

use crate::otlp::{self, Exporter, KeyValue, OtlpSettings};

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// One span's identity as W3C `traceparent`/`tracestate` carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
    pub state: Option<String>,
}

impl TraceContext {
    /// Parses a `traceparent` (and its `tracestate`); `None` when it is not valid W3C.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let value = traceparent.trim();
        let version = u8::from_str_radix(value.get(0..2)?, 16).ok()?;
        if version == 0xff || value.len() < 55 || (version == 0 && value.len() != 55) {
            return None;
        }
        if value.len() > 55 && value.as_bytes()[55] != b'-' {
            return None;
        }
        let bytes = value.as_bytes();
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_id: [u8; 16] = hex_decode(&value[3..35])?.try_into().ok()?;
        let span_id: [u8; 8] = hex_decode(&value[36..52])?.try_into().ok()?;
        let flags = hex_decode(&value[53..55])?[0];
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        let state = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Some(Self {
            trace_id,
            span_id,
            flags,
            state,
        })
    }

    /// The context found in metadata (any case of `traceparent`), if valid.
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Option<Self> {
        let find = |name: &str| {
            metadata
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Self::parse(find(TRACEPARENT)?, find(TRACESTATE))
    }

    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Replaces any `traceparent`/`tracestate` entries (whatever their case) with this context.
    pub fn inject(&self, metadata: &mut HashMap<String, String>) {
        metadata.retain(|k, _| {
            !k.eq_ignore_ascii_case(TRACEPARENT) && !k.eq_ignore_ascii_case(TRACESTATE)
        });
        metadata.insert(TRACEPARENT.to_owned(), self.traceparent());
        if let Some(state) = &self.state {
            metadata.insert(TRACESTATE.to_owned(), state.clone());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // W3C requires lower case.
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Tracing settings from the `--config` Configuration.
#[derive(Debug, Clone, Default)]
pub struct TraceSettings {
    /// `spec.tracing.samplingRate`; 0 (or absent) starts no new traces.
    pub sampling_rate: f64,
    pub otlp: Option<OtlpSettings>,
    /// `service.name` of exported spans: the app id.
    pub service_name: String,
}

struct Inner {
    sampling_rate: f64,
    exporter: Option<Exporter>,
}

/// Starts spans and hands the sampled ones to the exporter. Cheap to clone.
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

impl Default for Tracer {
    /// Propagates incoming contexts, starts no traces, exports nothing.
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                sampling_rate: 0.0,
                exporter: None,
            }),
        }
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("sampling_rate", &self.inner.sampling_rate)
            .field("exporting", &self.inner.exporter.is_some())
            .finish()
    }
}

/// Which kind of span, as OTLP numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// An output-binding call served by the APIs.
    Server,
    /// An event the sidecar sends to the app.
    Client,
}

impl Tracer {
    /// Must be called within a tokio runtime when `otlp` is set.
    pub fn new(settings: TraceSettings) -> Result<Self, String> {
        let exporter = settings
            .otlp
            .as_ref()
            .map(|o| Exporter::start(o, &settings.service_name))
            .transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                sampling_rate: settings.sampling_rate.clamp(0.0, 1.0),
                exporter,
            }),
        })
    }

    /// A span under `parent`, or the root of a new trace when there is none and sampling is on;
    /// `None` when there is neither (nothing to propagate).
    pub fn start(
        &self,
        name: String,
        kind: SpanKind,
        parent: Option<TraceContext>,
    ) -> Option<Span> {
        let mut rng = rand::rng();
        let mut span_id = [0u8; 8];
        while span_id == [0; 8] {
            rng.fill_bytes(&mut span_id);
        }
        let (context, parent_span_id) = match parent {
            Some(parent) => (
                TraceContext {
                    trace_id: parent.trace_id,
                    span_id,
                    flags: parent.flags,
                    state: parent.state,
                },
                Some(parent.span_id),
            ),
            None if self.inner.sampling_rate > 0.0 => {
                let mut trace_id = [0u8; 16];
                while trace_id == [0; 16] {
                    rng.fill_bytes(&mut trace_id);
                }
                let sampled = ratio_sampled(&trace_id, self.inner.sampling_rate);
                (
                    TraceContext {
                        trace_id,
                        span_id,
                        flags: u8::from(sampled),
                        state: None,
                    },
                    None,
                )
            }
            None => return None,
        };
        Some(Span {
            context,
            parent_span_id,
            name,
            kind,
            start: SystemTime::now(),
            attributes: Vec::new(),
            tracer: self.clone(),
        })
    }

    /// Performs one output-binding call inside a `bindings/<name>` span: the parent is
    /// `parent` (the caller's `traceparent` header) or else the request metadata's
    /// `traceparent`; the component sees the new span's context in its metadata.
    pub async fn invoke_output(
        &self,
        runtime: &Runtime,
        name: &str,
        mut request: InvokeRequest,
        parent: Option<TraceContext>,
        api: &'static str,
    ) -> Result<Option<InvokeResponse>, InvokeError> {
        let parent = parent.or_else(|| TraceContext::from_metadata(&request.metadata));
        let span = self
            .start(format!("bindings/{name}"), SpanKind::Server, parent)
            .map(|span| {
                span.attribute("db.system", "bindings")
                    .attribute("db.name", name)
                    .attribute("db.operation", &request.operation)
                    .attribute("dapr.api", api)
            });
        if let Some(span) = &span {
            span.context().inject(&mut request.metadata);
        }
        let result = runtime.invoke(name, request).await;
        if let Some(span) = span {
            span.end(result.as_ref().err().map(ToString::to_string));
        }
        result
    }

    /// The `bindings/<name>` client span of one delivery to the app, under the event's own
    /// `traceparent` when it carries one.
    pub fn start_delivery(&self, binding: &str, event_metadata: &Metadata) -> Option<Span> {
        let parent = TraceContext::from_metadata(event_metadata);
        self.start(format!("bindings/{binding}"), SpanKind::Client, parent)
            .map(|s| {
                s.attribute("db.system", "bindings")
                    .attribute("db.name", binding)
            })
    }

    /// Flushes and stops the exporter.
    pub async fn shutdown(&self, deadline: Duration) {
        if let Some(exporter) = &self.inner.exporter {
            exporter.shutdown(deadline).await;
        }
    }
}

/// OpenTelemetry's `TraceIDRatioBased`: the trace id's last 8 bytes against the rate.
fn ratio_sampled(trace_id: &[u8; 16], rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let x = u64::from_be_bytes(low) >> 1;
    // 2^63 as f64 is exact; the product fits a u64.
    x < (rate * 9_223_372_036_854_775_808.0) as u64
}

/// A span in progress. Ending it exports it when sampled.
pub struct Span {
    context: TraceContext,
    parent_span_id: Option<[u8; 8]>,
    name: String,
    kind: SpanKind,
    start: SystemTime,
    attributes: Vec<(&'static str, String)>,
    tracer: Tracer,
}

impl Span {
    pub fn context(&self) -> &TraceContext {
        &self.context
    }

    pub fn attribute(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }

    /// Ends the span; `error` marks it failed with that message.
    pub fn end(self, error: Option<String>) {
        let Some(exporter) = &self.tracer.inner.exporter else {
            return;
        };
        if !self.context.sampled() {
            return;
        }
        let nanos = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or_default()
        };
        let status = match error {
            Some(message) => otlp::Status {
                message,
                code: otlp::STATUS_CODE_ERROR,
            },
            None => otlp::Status {
                message: String::new(),
                code: otlp::STATUS_CODE_OK,
            },
        };
        exporter.send(otlp::Span {
            trace_id: self.context.trace_id.to_vec(),
            span_id: self.context.span_id.to_vec(),
            trace_state: self.context.state.clone().unwrap_or_default(),
            parent_span_id: self.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            name: self.name,
            kind: match self.kind {
                SpanKind::Server => otlp::SPAN_KIND_SERVER,
                SpanKind::Client => otlp::SPAN_KIND_CLIENT,
            },
            start_time_unix_nano: nanos(self.start),
            end_time_unix_nano: nanos(SystemTime::now()),
            attributes: self
                .attributes
                .into_iter()
                .map(|(k, v)| KeyValue::string(k, v))
                .collect(),
            status: Some(status),
            flags: u32::from(self.context.flags),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_parses_and_formats() {
        let c = TraceContext::parse(TP, Some(" a=1 ")).unwrap();
        assert_eq!(c.traceparent(), TP);
        assert!(c.sampled());
        assert_eq!(c.state.as_deref(), Some("a=1"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceContext::parse(bad, None).is_none(), "{bad}");
        }
        // A later version may append fields.
        assert!(
            TraceContext::parse(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                None
            )
            .is_some()
        );
    }

    #[test]
    fn children_keep_the_trace_and_flags_with_a_new_span_id() {
        let tracer = Tracer::default();
        let parent = TraceContext::parse(TP, Some("a=1")).unwrap();
        let span = tracer
            .start("x".into(), SpanKind::Server, Some(parent.clone()))
            .unwrap();
        assert_eq!(span.context().trace_id, parent.trace_id);
        assert_ne!(span.context().span_id, parent.span_id);
        assert_eq!(span.context().flags, 1);
        assert_eq!(span.context().state.as_deref(), Some("a=1"));
        assert!(
            tracer.start("x".into(), SpanKind::Server, None).is_none(),
            "no sampling, no parent: nothing"
        );
        let sampled = Tracer::new(TraceSettings {
            sampling_rate: 1.0,
            ..TraceSettings::default()
        })
        .unwrap();
        let root = sampled.start("x".into(), SpanKind::Client, None).unwrap();
        assert!(root.context().sampled());
        assert!(root.parent_span_id.is_none());
    }

    #[test]
    fn injection_replaces_any_case() {
        let mut metadata = HashMap::from([
            ("Traceparent".to_owned(), "junk".to_owned()),
            ("k".to_owned(), "v".to_owned()),
        ]);
        let c = TraceContext::parse(TP, None).unwrap();
        c.inject(&mut metadata);
        assert_eq!(metadata.len(), 2);
        assert_eq!(metadata["traceparent"], TP);
        assert_eq!(TraceContext::from_metadata(&metadata), Some(c));
    }

    #[test]
    fn ratio_sampling_follows_the_trace_id() {
        let mut id = [0u8; 16];
        id[8] = 0x10;
        assert!(ratio_sampled(&id, 0.5));
        id[8] = 0xf0;
        assert!(!ratio_sampled(&id, 0.5));
        assert!(ratio_sampled(&id, 1.0));
        assert!(!ratio_sampled(&id, 0.0));
    }
}
