//! The gRPC API's `InvokeBinding` request: the protobuf decoding (prost), then what the handler
//! makes of it: the call's headers merged into the metadata (here, the request's own metadata
//! entries sent again as headers), the trace context read from it, and the metadata written
//! back as gRPC and HTTP headers. Nothing panics, and request metadata is overridden only where
//! daprd overrides it (the trace keys, `baggage`).
#![no_main]

use bindery_api::error::insert_metadata_grpc;
use bindery_api::grpc::merge_headers;
use bindery_api::headers::{event_headers, insert_metadata_headers};
use bindery_api::proto::runtime::InvokeBindingRequest;
use bindery_api::trace::TraceContext;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Ok(call) = InvokeBindingRequest::decode(bytes) else {
        return;
    };
    let again = InvokeBindingRequest::decode(&call.encode_to_vec()[..]).expect("re-encoded");
    assert_eq!(again, call);

    let mut headers = http::HeaderMap::new();
    for (key, value) in &call.metadata {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let headers = tonic::metadata::MetadataMap::from_headers(headers);
    let mut metadata = call.metadata.clone();
    merge_headers(&mut metadata, &headers, Some(&call.name));
    // daprd's rules: the trace keys may come from the headers, and `baggage` is every baggage
    // header joined with `,` (replacing the request's own); nothing else is overridden.
    for (key, value) in &call.metadata {
        if key != "traceparent" && key != "tracestate" && key != "baggage" {
            assert_eq!(
                metadata.get(key),
                Some(value),
                "request metadata {key} overridden"
            );
        }
    }
    let baggage: Vec<&str> = headers
        .get_all("baggage")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let expected = if baggage.is_empty() {
        call.metadata.get("baggage").cloned()
    } else {
        Some(baggage.join(","))
    };
    assert_eq!(metadata.get("baggage"), expected.as_ref(), "baggage");
    if let Some(context) = TraceContext::from_metadata(&metadata) {
        let _ = context.traceparent();
    }
    let mut grpc = tonic::metadata::MetadataMap::new();
    insert_metadata_grpc(&mut grpc, &metadata);
    let mut http_headers = http::HeaderMap::new();
    insert_metadata_headers(&mut http_headers, &metadata);
    let _ = event_headers(&metadata);
});
