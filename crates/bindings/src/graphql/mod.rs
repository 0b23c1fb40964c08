//! `bindings.graphql`: runs GraphQL queries and mutations against one endpoint (JSON POST).
//!
//! As daprd (machinebox/graphql): operations `query` and `mutation` (not `create`, whatever
//! metadata.yaml says); the document is request metadata `query` or `mutation`, and after
//! trimming it must begin with that keyword (`GraphQL Error: command is not a query`);
//! component keys `header:<Name>` (exact prefix) add a header to every request, request keys
//! `header:<Name>` add one to that request, and request keys `variable:<name>` add a string
//! variable. The body is `{"query": …, "variables": …}` (`null` variables when there are none);
//! the answer's `data` comes back as Go would re-encode it (keys sorted, `<>&` escaped) with
//! metadata `operation`, `start-time`, `end-time` (RFC 3339 with nanoseconds, local time) and
//! `duration` (Go's format). A GraphQL error is `GraphQL Error: graphql: <first message>`; a
//! non-JSON answer is `GraphQL Error: graphql: server returned a non-200 status code: <code>`
//! or, with status 200, `GraphQL Error: decoding response: …`.
//!
//! Deviations: connections time out after 30 s (daprd's client never gives up connecting);
//! the `decoding response` detail is serde_json's wording, not Go's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::duration::format_go_duration;
use bindery_core::gojson::to_go_json;
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    ErrorKind, Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties,
    decode_as,
};
use bytes::Bytes;
use serde_json::Value;

pub const ENDPOINT: Field = Field::new("endpoint", FieldType::String, "The GraphQL endpoint URL")
    .required()
    .example("https://api.example.com/graphql");
/// Documentation only: the decoder takes every key with this exact prefix.
pub const HEADER: Field = Field::new(
    "header:<Name>",
    FieldType::String,
    "Any key starting with `header:` (exact case) adds that header to every request; request \
     metadata `header:<Name>` adds one to a single request",
);

pub const FIELDS: &[Field] = &[ENDPOINT, HEADER];

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "query",
        description: "Run the query in request metadata `query` (it must start with `query`); \
                      `variable:<name>` keys add string variables, `header:<Name>` keys add headers",
    },
    Operation {
        name: "mutation",
        description: "Run the mutation in request metadata `mutation` (it must start with \
                      `mutation`); `variable:<name>` and `header:<Name>` keys as for query",
    },
];

pub const HEADER_PREFIX: &str = "header:";
pub const VARIABLE_PREFIX: &str = "variable:";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const JSON_UTF8: &str = "application/json; charset=utf-8";

#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    pub endpoint: String,
    /// `header:<Name>` component keys, prefix removed.
    pub headers: Vec<(String, String)>,
}

impl BindingConfig for GraphqlConfig {
    fn decode(p: &Properties, _warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let endpoint = p
            .string(&ENDPOINT)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::new(ENDPOINT.name, "GraphQL Error: Missing GraphQL URL"))?;
        let mut headers: Vec<(String, String)> = p
            .as_map()
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(HEADER_PREFIX)?.to_owned(), v.clone())))
            .collect();
        headers.sort();
        for (name, value) in &headers {
            check_header(name, value)
                .map_err(|m| ConfigError::new(format!("{HEADER_PREFIX}{name}"), m))?;
        }
        Ok(Self { endpoint, headers })
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header field name {name:?}"))?;
    reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| format!("invalid header field value for {name:?}"))?;
    Ok(())
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.graphql",
    aliases: &[],
    status: "alpha",
    summary: "Runs GraphQL queries and mutations",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<GraphqlConfig>,
    build_input: None,
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let config = cx.config::<GraphqlConfig>()?;
    Ok(Box::new(GraphqlBinding::new(config)?))
}

pub struct GraphqlBinding {
    config: GraphqlConfig,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
enum GraphqlError {
    #[error("GraphQL Error: invalid operation type: {0}. Expected query or mutation")]
    Operation(String),
    #[error("GraphQL Error: required {0:?} not set")]
    Missing(&'static str),
    #[error("GraphQL Error: command is not a {0}")]
    NotA(&'static str),
    #[error("GraphQL Error: {0}")]
    Header(String),
    #[error("GraphQL Error: {0}")]
    Transport(String),
    #[error("GraphQL Error: graphql: server returned a non-200 status code: {}", .0.as_u16())]
    Status(reqwest::StatusCode),
    #[error("GraphQL Error: decoding response: {0}")]
    Decode(String),
    #[error("GraphQL Error: graphql: {0}")]
    Graphql(String),
}

impl From<GraphqlError> for BindingError {
    fn from(e: GraphqlError) -> Self {
        let message = e.to_string();
        let kind = match &e {
            GraphqlError::Transport(_) => ErrorKind::Unavailable,
            GraphqlError::Status(s) if s.is_server_error() => ErrorKind::Unavailable,
            GraphqlError::Graphql(_) | GraphqlError::Decode(_) => ErrorKind::Other,
            _ => ErrorKind::InvalidRequest,
        };
        BindingError::new(kind, message)
    }
}

/// Whether `document`, trimmed, starts with `keyword` as a whole word (daprd's
/// `(?m)keyword\b` whose first match must sit at 0).
fn starts_with_keyword(document: &str, keyword: &str) -> bool {
    document.trim().strip_prefix(keyword).is_some_and(|rest| {
        !rest
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// `time.Now().Format(time.RFC3339Nano)` in local time: trailing zeros of the fraction dropped,
/// `Z` for UTC.
fn rfc3339_nano(t: chrono::DateTime<chrono::Local>) -> String {
    use chrono::{Offset, Timelike};
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = t.offset().fix().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60));
    }
    out
}

impl GraphqlBinding {
    pub fn new(config: GraphqlConfig) -> Result<Self, BindingError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| BindingError::invalid(format!("failed to create HTTP client: {e}")))?;
        Ok(Self { config, client })
    }

    fn request_parts(
        &self,
        keyword: &'static str,
        md: &HashMap<String, String>,
    ) -> Result<(String, reqwest::header::HeaderMap, Value), GraphqlError> {
        let document = md
            .get(keyword)
            .filter(|d| !d.is_empty())
            .ok_or(GraphqlError::Missing(keyword))?;
        if !starts_with_keyword(document, keyword) {
            return Err(GraphqlError::NotA(keyword));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let mut set = |name: &str, value: &str| -> Result<(), GraphqlError> {
            check_header(name, value).map_err(GraphqlError::Header)?;
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("checked");
            headers.insert(name, value.parse().expect("checked"));
            Ok(())
        };
        set("Content-Type", JSON_UTF8)?;
        set("Accept", JSON_UTF8)?;
        for (name, value) in &self.config.headers {
            set(name, value)?;
        }
        let mut variables = serde_json::Map::new();
        let mut keys: Vec<&String> = md.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(name) = key.strip_prefix(HEADER_PREFIX) {
                set(name, &md[key])?;
            } else if let Some(name) = key.strip_prefix(VARIABLE_PREFIX) {
                variables.insert(name.to_owned(), Value::String(md[key].clone()));
            }
        }
        let variables = if variables.is_empty() {
            Value::Null
        } else {
            Value::Object(variables)
        };
        let body = serde_json::json!({"query": document.trim(), "variables": variables});
        Ok((document.clone(), headers, body))
    }

    async fn run(&self, keyword: &'static str, req: &InvokeRequest) -> Result<Bytes, GraphqlError> {
        let (_, headers, body) = self.request_parts(keyword, &req.metadata)?;
        let url = &self.config.endpoint;
        let response = self
            .client
            .post(url)
            .headers(headers)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| GraphqlError::Transport(format!("Post \"{url}\": {}", root_cause(&e))))?;
        let status = response.status();
        let text = response
            .bytes()
            .await
            .map_err(|e| GraphqlError::Transport(format!("reading body {}", root_cause(&e))))?;
        let answer: Value = match serde_json::from_slice(&text) {
            Ok(v) => v,
            Err(_) if status != reqwest::StatusCode::OK => {
                return Err(GraphqlError::Status(status));
            }
            Err(e) => return Err(GraphqlError::Decode(e.to_string())),
        };
        if let Some(first) = answer
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            let message = first.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(GraphqlError::Graphql(message.to_owned()));
        }
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        Ok(Bytes::from(to_go_json(&data)))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[async_trait]
impl OutputBinding for GraphqlBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let keyword = match request.operation.as_str() {
            "query" => "query",
            "mutation" => "mutation",
            other => return Err(GraphqlError::Operation(other.to_owned()).into()),
        };
        let started_at = chrono::Local::now();
        let started = Instant::now();
        let data = self.run(keyword, &request).await?;
        let elapsed = started.elapsed();
        let ended_at = started_at + chrono::Duration::from_std(elapsed).unwrap_or_default();
        let metadata = HashMap::from([
            ("operation".to_owned(), request.operation.clone()),
            ("start-time".to_owned(), rfc3339_nano(started_at)),
            ("end-time".to_owned(), rfc3339_nano(ended_at)),
            ("duration".to_owned(), format_go_duration(elapsed)),
        ]);
        Ok(Some(InvokeResponse { data, metadata }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pairs: &[(&str, &str)]) -> Result<GraphqlConfig, ConfigError> {
        GraphqlConfig::decode(
            &Properties::from_pairs(pairs.iter().copied()),
            &mut Vec::new(),
        )
    }

    #[test]
    fn endpoint_and_header_keys() {
        assert_eq!(
            decode(&[]).unwrap_err().message,
            "GraphQL Error: Missing GraphQL URL"
        );
        let c = decode(&[
            ("ENDPOINT", "http://h/graphql"),
            ("header:X-Api-Key", "k"),
            ("Header:Ignored", "x"),
            ("other", "ignored as daprd does"),
        ])
        .unwrap();
        assert_eq!(c.endpoint, "http://h/graphql");
        assert_eq!(c.headers, vec![("X-Api-Key".to_owned(), "k".to_owned())]);
        assert!(decode(&[("endpoint", "e"), ("header:bad name", "v")]).is_err());
    }

    #[test]
    fn documents_must_start_with_their_keyword() {
        assert!(starts_with_keyword("  query { a }", "query"));
        assert!(starts_with_keyword("query($id: ID!) { a }", "query"));
        assert!(starts_with_keyword("mutation{a}", "mutation"));
        assert!(!starts_with_keyword("{ a }", "query"));
        assert!(!starts_with_keyword("queryX { a }", "query"));
        assert!(!starts_with_keyword("mutation { a }", "query"));
    }

    #[test]
    fn request_body_and_headers() {
        let b =
            GraphqlBinding::new(decode(&[("endpoint", "http://h"), ("header:X-A", "1")]).unwrap())
                .unwrap();
        let md: HashMap<String, String> = [
            ("query", "query($n: String) { hello(name: $n) }"),
            ("variable:n", "bob"),
            ("header:X-A", "2"),
            ("header:X-B", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (_, headers, body) = b.request_parts("query", &md).unwrap();
        assert_eq!(body["variables"], serde_json::json!({"n": "bob"}));
        assert_eq!(
            headers["x-a"], "2",
            "request headers override the component's"
        );
        assert_eq!(headers["x-b"], "3");
        assert_eq!(headers["content-type"], JSON_UTF8);
        let md: HashMap<String, String> = [("query".to_owned(), "query { a }".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(
            b.request_parts("query", &md).unwrap().2["variables"],
            Value::Null
        );
        let md: HashMap<String, String> = [("query".to_owned(), "{ a }".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(
            b.request_parts("query", &md).unwrap_err().to_string(),
            "GraphQL Error: command is not a query"
        );
        assert_eq!(
            b.request_parts("mutation", &md).unwrap_err().to_string(),
            "GraphQL Error: required \"mutation\" not set"
        );
    }

    #[test]
    fn times_read_as_go_prints_them() {
        use chrono::TimeZone;
        let t = chrono::Local
            .timestamp_opt(1_700_000_000, 120_000_000)
            .unwrap();
        let s = rfc3339_nano(t);
        assert!(s.contains(".12"), "{s}");
        assert!(!s.contains(".120"), "{s}");
        let whole = chrono::Local.timestamp_opt(1_700_000_000, 0).unwrap();
        assert!(!rfc3339_nano(whole).contains('.'));
    }

    #[test]
    fn corpus_and_example_components_decode() {
        if crate::common::corpus_tests_dir().is_none() {
            eprintln!("SKIP: components-contrib corpus not found");
        }
        // Dapr's corpus holds no bindings.graphql component today; any that appears must decode.
        for (file, p) in crate::common::corpus_components(&["bindings.graphql"]) {
            GraphqlConfig::decode(&p, &mut Vec::new()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let p = crate::common::example_properties(&DESCRIPTOR);
        GraphqlConfig::decode(&p, &mut Vec::new()).expect("the documented example decodes");
    }
}
