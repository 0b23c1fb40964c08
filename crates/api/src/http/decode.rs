//! Decoding `POST /v1.0/bindings/{name}` bodies as daprd's Go decoder does.

use std::collections::HashMap;

use bindery_core::InvokeRequest;
use bindery_core::gojson::to_go_json;
use bytes::Bytes;
use serde_json::Value;

/// Decodes `{data, metadata, operation}` with Go's rules: keys matched case-insensitively,
/// only the first JSON value read, metadata values must be strings, and `data` re-encoded with
/// `encoding/json` (so a JSON string keeps its quotes and a missing `data` becomes `null`).
pub fn decode_output_request(body: &[u8]) -> Result<InvokeRequest, String> {
    let first = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next();
    let value = match first {
        None => return Err("EOF".to_owned()),
        Some(Err(e)) => return Err(e.to_string()),
        Some(Ok(v)) => v,
    };
    let object = match value {
        Value::Object(map) => map,
        Value::Null => serde_json::Map::new(),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type http.OutputBindingRequest",
                go_type_name(&other)
            ));
        }
    };
    let mut data = Value::Null;
    let mut metadata = HashMap::new();
    let mut operation = String::new();
    // Exact names win over other spellings, as in Go: apply the others first.
    let (exact, other): (Vec<_>, Vec<_>) = object
        .into_iter()
        .partition(|(k, _)| matches!(k.as_str(), "data" | "metadata" | "operation"));
    for (key, value) in other.into_iter().chain(exact) {
        if key.eq_ignore_ascii_case("data") {
            data = value;
        } else if key.eq_ignore_ascii_case("operation") {
            match value {
                Value::String(s) => operation = s,
                Value::Null => {}
                other => {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go struct field OutputBindingRequest.operation of type string",
                        go_type_name(&other)
                    ));
                }
            }
        } else if key.eq_ignore_ascii_case("metadata") {
            match value {
                Value::Null => {}
                Value::Object(map) => {
                    for (k, v) in map {
                        match v {
                            Value::String(s) => {
                                metadata.insert(k, s);
                            }
                            other => {
                                return Err(format!(
                                    "json: cannot unmarshal {} into Go struct field OutputBindingRequest.metadata of type string",
                                    go_type_name(&other)
                                ));
                            }
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go struct field OutputBindingRequest.metadata of type map[string]string",
                        go_type_name(&other)
                    ));
                }
            }
        }
    }
    Ok(InvokeRequest {
        operation,
        data: Bytes::from(to_go_json(&data)),
        metadata,
    })
}

fn go_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_reencoded_like_go() {
        let r =
            decode_output_request(br#"{"operation":"create","data":"hello","metadata":{"k":"v"}}"#)
                .unwrap();
        assert_eq!(&r.data[..], br#""hello""#);
        assert_eq!(r.operation, "create");
        assert_eq!(r.metadata["k"], "v");
        let r =
            decode_output_request(br#"{"Operation":"create","DATA":{"b":1,"a":"<&>"}}"#).unwrap();
        assert_eq!(&r.data[..], br#"{"a":"\u003c\u0026\u003e","b":1}"#);
        assert_eq!(r.operation, "create");
        let r = decode_output_request(br#"{"operation":"get"}"#).unwrap();
        assert_eq!(&r.data[..], b"null");
    }

    #[test]
    fn floats_round_trip_exactly_as_in_go() {
        let r = decode_output_request(br#"{"data":1.0734948802516081e+102}"#).unwrap();
        assert_eq!(&r.data[..], b"1.0734948802516081e+102");
    }

    #[test]
    fn trailing_bytes_after_the_first_value_are_ignored() {
        let r = decode_output_request(br#"{"operation":"get"} trailing"#).unwrap();
        assert_eq!(r.operation, "get");
    }

    #[test]
    fn bad_bodies_are_rejected() {
        assert_eq!(decode_output_request(b"").unwrap_err(), "EOF");
        assert!(decode_output_request(b"not json").is_err());
        let e = decode_output_request(br#"{"operation":"create","metadata":{"ttlInSeconds":60}}"#)
            .unwrap_err();
        assert!(e.contains("metadata of type string"), "{e}");
        assert!(decode_output_request(b"[1]").is_err());
        assert!(decode_output_request(br#"{"operation":5}"#).is_err());
    }

    #[test]
    fn null_body_is_an_empty_request() {
        let r = decode_output_request(b"null").unwrap();
        assert!(r.operation.is_empty());
    }
}
