//! The Prometheus endpoint (`--metrics-port`): the runtime's [`MetricsSnapshot`] in the text
//! exposition format, under daprd's names and tags for the four binding metrics (as its
//! OpenCensus exporter writes them: tags sorted by name, counts as counters, latencies as
//! histograms in milliseconds) and `bindery_`-prefixed names for the rest.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bindery_runtime::Telemetry;
use bindery_runtime::telemetry::{HistogramSnapshot, LATENCY_BUCKETS_MS, MetricsSnapshot};

/// What a Prometheus scraper expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the metrics on `/` and `/metrics`.
pub fn router(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/", get(scrape))
        .route("/metrics", get(scrape))
        .with_state(telemetry)
}

async fn scrape(State(telemetry): State<Arc<Telemetry>>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&telemetry.snapshot()),
    )
        .into_response()
}

/// A metric's labels, kept sorted by name as daprd's exporter writes them.
struct Labels(Vec<(&'static str, String)>);

impl Labels {
    fn new(snapshot: &MetricsSnapshot, extra: &[(&'static str, &str)]) -> Self {
        let mut labels = vec![
            ("app_id", snapshot.app_id.clone()),
            ("namespace", snapshot.namespace.clone()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        labels.sort_by_key(|(k, _)| *k);
        Self(labels)
    }

    fn render(&self, le: Option<&str>) -> String {
        let mut out = String::from("{");
        let all = self
            .0
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(le.map(|le| ("le", le)));
        for (i, (key, value)) in all.enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &Labels, h: &HistogramSnapshot) {
    for (bound, count) in LATENCY_BUCKETS_MS.iter().zip(&h.cumulative) {
        let _ = writeln!(
            out,
            "{name}_bucket{} {count}",
            labels.render(Some(&bound.to_string()))
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{} {}",
        labels.render(Some("+Inf")),
        h.count
    );
    let _ = writeln!(out, "{name}_sum{} {}", labels.render(None), h.sum_ms);
    let _ = writeln!(out, "{name}_count{} {}", labels.render(None), h.count);
}

/// A family of single-valued samples; nothing is written when it has none.
fn family<T: std::fmt::Display>(
    out: &mut String,
    (name, kind, help): (&str, &str, &str),
    samples: impl IntoIterator<Item = (Labels, T)>,
) {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return;
    }
    header(out, name, kind, help);
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{} {value}", labels.render(None));
    }
}

fn success(ok: bool) -> &'static str {
    if ok { "true" } else { "false" }
}

/// The whole exposition text.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut out = String::new();
    binding_families(&mut out, s);
    delivery_families(&mut out, s);
    component_families(&mut out, s);
    out
}

/// The output binding histograms, labelled by component, operation and success.
fn output_rows(s: &MetricsSnapshot) -> Vec<(Labels, &HistogramSnapshot)> {
    s.output
        .iter()
        .map(|((component, operation, ok), h)| {
            let labels = Labels::new(
                s,
                &[
                    ("component", component),
                    ("operation", operation),
                    ("success", success(*ok)),
                ],
            );
            (labels, h)
        })
        .collect()
}

/// The input binding histograms, labelled by component and success.
fn input_rows(s: &MetricsSnapshot) -> Vec<(Labels, &HistogramSnapshot)> {
    s.input
        .iter()
        .map(|((component, ok), h)| {
            let labels = Labels::new(s, &[("component", component), ("success", success(*ok))]);
            (labels, h)
        })
        .collect()
}

/// daprd's four binding metrics: `_count` and `_latencies` for input, then for output.
fn binding_families(out: &mut String, s: &MetricsSnapshot) {
    let output = output_rows(s);
    let input = input_rows(s);
    for (base, help_count, help_latency, rows) in [
        (
            "dapr_component_input_binding",
            "The number of incoming events arriving from the input binding component.",
            "The triggered app event processing latency.",
            &input,
        ),
        (
            "dapr_component_output_binding",
            "The number of operations invoked on the output binding component.",
            "The latency of the response from the output binding component.",
            &output,
        ),
    ] {
        binding_family(out, base, (help_count, help_latency), rows);
    }
}

/// One binding direction's counter and histogram; nothing is written when it has no rows.
fn binding_family(
    out: &mut String,
    base: &str,
    (help_count, help_latency): (&str, &str),
    rows: &[(Labels, &HistogramSnapshot)],
) {
    if rows.is_empty() {
        return;
    }
    let count = format!("{base}_count");
    header(out, &count, "counter", help_count);
    for (labels, h) in rows {
        let _ = writeln!(out, "{count}{} {}", labels.render(None), h.count);
    }
    let latencies = format!("{base}_latencies");
    header(out, &latencies, "histogram", help_latency);
    for (labels, h) in rows {
        histogram(out, &latencies, labels, h);
    }
}

fn by_component(s: &MetricsSnapshot, component: &str) -> Labels {
    Labels::new(s, &[("component", component)])
}

/// Input delivery and resiliency: in flight, failures, retries and dead letters.
fn delivery_families(out: &mut String, s: &MetricsSnapshot) {
    family(
        out,
        (
            "bindery_component_input_binding_in_flight",
            "gauge",
            "Events handed to the app and not yet answered.",
        ),
        s.in_flight.iter().map(|(c, v)| (by_component(s, c), *v)),
    );
    family(
        out,
        (
            "bindery_component_input_binding_failures_total",
            "counter",
            "Events the app did not accept (error status or unreachable).",
        ),
        s.delivery_failures
            .iter()
            .map(|(c, v)| (by_component(s, c), *v)),
    );
    family(
        out,
        (
            "bindery_component_retries_total",
            "counter",
            "Retries made by resiliency policies, per component and direction.",
        ),
        s.retries.iter().map(|((c, d), v)| {
            (
                Labels::new(s, &[("component", c), ("direction", d.as_str())]),
                *v,
            )
        }),
    );
    family(
        out,
        (
            "bindery_component_dead_letters_total",
            "counter",
            "Events sent to a dead-letter target.",
        ),
        s.dead_letters.iter().map(|(c, v)| (by_component(s, c), *v)),
    );
}

/// Component health and lifecycle: reconnects, failed components and hot reloads.
fn component_families(out: &mut String, s: &MetricsSnapshot) {
    family(
        out,
        (
            "bindery_component_reconnects_total",
            "counter",
            "Connections a component re-established.",
        ),
        s.reconnects.iter().map(|(c, v)| (by_component(s, c), *v)),
    );
    family(
        out,
        (
            "bindery_component_failed",
            "gauge",
            "1 for each component that failed to initialise (ignoreErrors) or whose input stopped with an error.",
        ),
        s.failed_components.iter().map(|c| (by_component(s, c), 1)),
    );
    family(
        out,
        (
            "bindery_reloads_total",
            "counter",
            "Hot reloads: applied, rejected (a definition refused; the running component stays) or failed (the resources could not be read).",
        ),
        s.reloads
            .iter()
            .map(|(outcome, v)| (Labels::new(s, &[("outcome", outcome)]), *v)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_runtime::telemetry::{DeadLettered, Direction};

    #[test]
    fn renders_daprd_names_and_sorted_tags() {
        let t = Telemetry::new("app", "ns");
        t.delivery("tick").finish(None);
        t.retry("tick", Direction::Input);
        t.emit(DeadLettered { component: "tick" });
        let text = render(&t.snapshot());
        assert!(text.contains("# TYPE dapr_component_input_binding_count counter\n"));
        assert!(text.contains(
            "dapr_component_input_binding_count{app_id=\"app\",component=\"tick\",namespace=\"ns\",success=\"true\"} 1\n"
        ));
        assert!(text.contains("# TYPE dapr_component_input_binding_latencies histogram\n"));
        assert!(text.contains(
            "dapr_component_input_binding_latencies_bucket{app_id=\"app\",component=\"tick\",namespace=\"ns\",success=\"true\",le=\"100000\"} 1\n"
        ));
        assert!(text.contains(
            "dapr_component_input_binding_latencies_bucket{app_id=\"app\",component=\"tick\",namespace=\"ns\",success=\"true\",le=\"+Inf\"} 1\n"
        ));
        assert!(text.contains(
            "bindery_component_retries_total{app_id=\"app\",component=\"tick\",direction=\"input\",namespace=\"ns\"} 1\n"
        ));
        assert!(text.contains("bindery_component_dead_letters_total{"));
        assert!(
            !text.contains("dapr_component_output_binding"),
            "no samples, no family"
        );
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
