//! `list`'s response: daprd returns `json.Marshal` of aws-sdk-go-v2's `ListObjectsOutput`, so
//! the fields are PascalCase, absent values are `null`, times are RFC 3339 and the
//! (unexported) `ResultMetadata` prints as `{}`. Keys are written in Go's field order, which
//! for these generated types is alphabetical, as `to_go_json` writes them.

use aws_sdk_s3::operation::list_objects::ListObjectsOutput;
use aws_sdk_s3::types::Object;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::{Value, json};

fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

fn time(t: Option<&DateTime>) -> Value {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
        .map_or(Value::Null, Value::String)
}

fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

fn object(o: &Object) -> Value {
    json!({
        "ChecksumAlgorithm": list_or_null(o.checksum_algorithm().iter().map(|c| json!(c.as_str())).collect()),
        "ChecksumType": o.checksum_type().map_or("", |c| c.as_str()),
        "ETag": opt(o.e_tag()),
        "Key": opt(o.key()),
        "LastModified": time(o.last_modified()),
        "Owner": o.owner().map_or(Value::Null, |w| json!({
            "DisplayName": opt(w.display_name()),
            "ID": opt(w.id()),
        })),
        "RestoreStatus": o.restore_status().map_or(Value::Null, |r| json!({
            "IsRestoreInProgress": r.is_restore_in_progress(),
            "RestoreExpiryDate": time(r.restore_expiry_date()),
        })),
        "Size": o.size(),
        "StorageClass": o.storage_class().map_or("", |c| c.as_str()),
    })
}

/// The Go JSON value of a `ListObjects` answer.
pub fn to_go(out: &ListObjectsOutput) -> Value {
    json!({
        "CommonPrefixes": list_or_null(out.common_prefixes().iter().map(|p| json!({"Prefix": opt(p.prefix())})).collect()),
        "Contents": list_or_null(out.contents().iter().map(object).collect()),
        "Delimiter": opt(out.delimiter()),
        "EncodingType": out.encoding_type().map_or("", |e| e.as_str()),
        "IsTruncated": out.is_truncated(),
        "Marker": opt(out.marker()),
        "MaxKeys": out.max_keys(),
        "Name": opt(out.name()),
        "NextMarker": opt(out.next_marker()),
        "Prefix": opt(out.prefix()),
        "RequestCharged": out.request_charged().map_or("", |r| r.as_str()),
        "ResultMetadata": {},
    })
}
