//! How the gRPC headers of an `InvokeBinding` call reach the component's metadata, as grpc-go
//! hands them to daprd and daprd renames them.

use std::collections::{HashMap, HashSet};

use tonic::metadata::{KeyAndValueRef, MetadataMap};

/// Headers grpc-go keeps to itself rather than putting in the incoming metadata.
const TRANSPORT_HEADERS: &[&str] = &[
    "te",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-message-type",
    "grpc-message",
    "grpc-status",
    "grpc-status-details-bin",
    "content-length",
];

/// Adds the call's headers to `metadata` without overwriting what the request already set
/// (except `traceparent`/`tracestate`, which headers may override). Names are renamed as daprd
/// does (`:authority` → `dapr-authority`, `grpc-*` → `dapr-grpc-*`); only a header's first
/// value counts, except `baggage`, whose values are joined with `,`.
pub fn merge_headers(
    metadata: &mut HashMap<String, String>,
    headers: &MetadataMap,
    authority: Option<&str>,
) {
    let mut applied: HashSet<String> = HashSet::new();
    let mut apply = |key: String, value: String| {
        // A repeated header yields several entries; only its first value counts.
        if !applied.insert(key.clone()) {
            return;
        }
        if is_trace_key(&key) {
            metadata.insert(key, value);
        } else {
            metadata.entry(key).or_insert(value);
        }
    };
    if let Some(authority) = authority {
        apply("dapr-authority".to_owned(), authority.to_owned());
    }
    let mut baggage: Vec<String> = Vec::new();
    for entry in headers.iter() {
        let (key, value) = match entry {
            KeyAndValueRef::Ascii(key, value) => match value.to_str() {
                Ok(v) => (key.as_str(), v.to_owned()),
                Err(_) => continue,
            },
            KeyAndValueRef::Binary(key, value) => match value.to_bytes() {
                Ok(bytes) => match String::from_utf8(bytes.to_vec()) {
                    Ok(v) => (key.as_str(), v),
                    Err(_) => continue,
                },
                Err(_) => continue,
            },
        };
        if TRANSPORT_HEADERS.contains(&key) {
            continue;
        }
        if key == "baggage" {
            baggage.push(value);
            continue;
        }
        apply(dapr_name(key), value);
    }
    if !baggage.is_empty() {
        metadata.insert("baggage".to_owned(), baggage.join(","));
    }
}

fn is_trace_key(key: &str) -> bool {
    key == "traceparent" || key == "tracestate"
}

/// daprd's `ReservedGRPCMetadataToDaprPrefixHeader`.
fn dapr_name(key: &str) -> String {
    if let Some(rest) = key.strip_prefix(':') {
        format!("dapr-{rest}")
    } else if key.starts_with("grpc-") {
        format!("dapr-{key}")
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    #[test]
    fn headers_are_renamed_and_never_overwrite_request_metadata() {
        let mut headers = MetadataMap::new();
        headers.insert(
            "content-type",
            MetadataValue::from_static("application/grpc"),
        );
        headers.insert("user-agent", MetadataValue::from_static("grpc-python/1.0"));
        headers.insert(
            "grpc-accept-encoding",
            MetadataValue::from_static("identity"),
        );
        headers.insert("grpc-timeout", MetadataValue::from_static("5S"));
        headers.insert("te", MetadataValue::from_static("trailers"));
        headers.insert("filename", MetadataValue::from_static("from-header"));
        headers.append("x-multi", MetadataValue::from_static("first"));
        headers.append("x-multi", MetadataValue::from_static("second"));
        headers.insert("traceparent", MetadataValue::from_static("00-header"));
        headers.append("baggage", MetadataValue::from_static("a=1"));
        headers.append("baggage", MetadataValue::from_static("b=2"));
        let mut metadata = HashMap::from([
            ("filename".to_owned(), "from-request".to_owned()),
            ("traceparent".to_owned(), "00-request".to_owned()),
        ]);
        merge_headers(&mut metadata, &headers, Some("127.0.0.1:50001"));
        let expected: HashMap<String, String> = [
            ("filename", "from-request"),
            ("traceparent", "00-header"),
            ("content-type", "application/grpc"),
            ("user-agent", "grpc-python/1.0"),
            ("dapr-grpc-accept-encoding", "identity"),
            ("x-multi", "first"),
            ("baggage", "a=1,b=2"),
            ("dapr-authority", "127.0.0.1:50001"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(metadata, expected);
    }
}
