//! The HTTP API's `POST /v1.0/bindings/{name}` body decoder (Go's decoder rules and the `data`
//! re-encoding). Nothing panics; what it accepts re-encodes to JSON that decodes to the same
//! request again.
#![no_main]

use bindery_api::http::decode_output_request;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|body: &[u8]| {
    let request = match decode_output_request(body) {
        Ok(request) => request,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    // `data` is Go's re-encoding of one JSON value: valid JSON, and a fixed point.
    let data: Value = serde_json::from_slice(&request.data)
        .unwrap_or_else(|e| panic!("data is not JSON ({e}): {:?}", request.data));
    let again = json!({"data": data, "metadata": request.metadata, "operation": request.operation});
    let again = decode_output_request(again.to_string().as_bytes()).expect("re-encoded request");
    assert_eq!(again.data, request.data);
    assert_eq!(again.metadata, request.metadata);
    assert_eq!(again.operation, request.operation);
});
