//! How Dapr metadata maps to HTTP headers, in both directions.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Output-binding response metadata: one `metadata.<key>` header per entry. Entries that are
/// not valid header text are left out rather than failing the call.
pub fn insert_metadata_headers(headers: &mut HeaderMap, metadata: &HashMap<String, String>) {
    for (key, value) in metadata {
        let name = HeaderName::from_bytes(format!("metadata.{key}").as_bytes());
        let value = HeaderValue::from_str(value);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => {
                tracing::debug!(key = %key, "Response metadata entry is not a valid header; left out.")
            }
        }
    }
}

const DROPPED: &[&str] = &[
    "content-type",
    "content-length",
    "destination-app-id",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Input-event metadata as request headers to an HTTP app, per daprd's
/// `InternalMetadataToHTTPHeader`: keys lower-cased (HTTP/1 writes them canonically), a few
/// dropped, gRPC-reserved names prefixed with `dapr-`.
pub fn event_headers(metadata: &HashMap<String, String>) -> Vec<(HeaderName, HeaderValue)> {
    let nominated: Vec<String> = metadata
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_lowercase()))
        .collect();
    let mut out = Vec::with_capacity(metadata.len());
    for (key, value) in metadata {
        let mut key = key.to_lowercase();
        if DROPPED.contains(&key.as_str()) || key.ends_with("-bin") || nominated.contains(&key) {
            continue;
        }
        if let Some(stripped) = key.strip_prefix(':') {
            key = format!("dapr-{stripped}");
        } else if key.starts_with("grpc-") {
            key = format!("dapr-{key}");
        }
        match (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => out.push((name, value)),
            _ => {
                tracing::debug!(key = %key, "Event metadata entry is not a valid header; left out.")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_headers_follow_daprd_mapping() {
        let metadata = HashMap::from([
            ("timeZone".to_owned(), "Local".to_owned()),
            ("Content-Type".to_owned(), "text/plain".to_owned()),
            ("x-bin".to_owned(), "zz".to_owned()),
            ("grpc-timeout".to_owned(), "1s".to_owned()),
            (":authority".to_owned(), "h".to_owned()),
            ("bad header".to_owned(), "v".to_owned()),
        ]);
        let mut got: Vec<(String, String)> = event_headers(&metadata)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("dapr-authority".to_owned(), "h".to_owned()),
                ("dapr-grpc-timeout".to_owned(), "1s".to_owned()),
                ("timezone".to_owned(), "Local".to_owned()),
            ]
        );
    }
}
