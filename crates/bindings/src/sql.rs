//! What the SQL bindings (`postgres`, `mysql`) share: daprd's request metadata (`sql`,
//! `params`) and response metadata (`operation`, `sql`, `start-time`, `end-time`, `duration`,
//! `rows-affected`).

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use bindery_core::duration::format_go_duration;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse};
use serde_json::Value;

/// What one statement produced.
pub(crate) enum SqlOutcome {
    Exec { rows_affected: u64 },
    Query { data: Vec<u8> },
}

/// The `sql` (required) and `params` (optional JSON array) of a request.
pub(crate) fn statement(request: &InvokeRequest) -> Result<(String, Vec<Value>), BindingError> {
    let sql = match request.metadata.get("sql") {
        Some(s) if !s.is_empty() => s.clone(),
        _ => return Err(BindingError::invalid("required metadata not set: sql")),
    };
    Ok((sql, parse_params(&request.metadata)?))
}

/// `params`: optional JSON array, with Go's error wording when it is something else.
fn parse_params(metadata: &HashMap<String, String>) -> Result<Vec<Value>, BindingError> {
    let Some(text) = metadata.get("params").filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let err = |detail: String| {
        BindingError::invalid(format!(
            "invalid metadata property params: failed to unserialize into an array: {detail}"
        ))
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(other) => {
            let kind = match other {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                _ => "object",
            };
            Err(err(format!(
                "json: cannot unmarshal {kind} into Go value of type []interface {{}}"
            )))
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Runs `work` and answers with daprd's timing metadata around it.
pub(crate) async fn timed<F>(
    operation: &str,
    sql: &str,
    work: F,
) -> Result<Option<InvokeResponse>, BindingError>
where
    F: Future<Output = Result<SqlOutcome, BindingError>>,
{
    let start = chrono::Utc::now();
    let clock = Instant::now();
    let mut metadata = HashMap::from([
        ("operation".to_owned(), operation.to_owned()),
        ("sql".to_owned(), sql.to_owned()),
        ("start-time".to_owned(), rfc3339_nano(&start)),
    ]);
    let data = match work.await? {
        SqlOutcome::Exec { rows_affected } => {
            metadata.insert("rows-affected".to_owned(), rows_affected.to_string());
            Vec::new()
        }
        SqlOutcome::Query { data } => data,
    };
    let elapsed = clock.elapsed();
    let end = start + chrono::Duration::from_std(elapsed).unwrap_or_default();
    metadata.insert("end-time".to_owned(), rfc3339_nano(&end));
    metadata.insert("duration".to_owned(), format_go_duration(elapsed));
    Ok(Some(InvokeResponse {
        data: data.into(),
        metadata,
    }))
}

/// The error for an operation neither binding knows (daprd rejects it before this).
pub(crate) fn unknown_operation(operation: &str) -> BindingError {
    BindingError::invalid(format!(
        "invalid operation type: {operation}. Expected exec, query, or close"
    ))
}

/// Go's `time.RFC3339Nano` in UTC: trailing zeros of the fraction trimmed.
pub fn rfc3339_nano(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike as _;
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        s.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&str, &str)]) -> InvokeRequest {
        InvokeRequest {
            operation: "exec".into(),
            metadata: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..InvokeRequest::default()
        }
    }

    #[test]
    fn statement_requires_sql_and_an_array_of_params() {
        assert_eq!(
            statement(&request(&[])).unwrap_err().message(),
            "required metadata not set: sql"
        );
        let (sql, params) =
            statement(&request(&[("sql", "select $1"), ("params", "[1,\"a\"]")])).unwrap();
        assert_eq!((sql.as_str(), params.len()), ("select $1", 2));
        let e = statement(&request(&[("sql", "x"), ("params", "5")])).unwrap_err();
        assert_eq!(
            e.message(),
            "invalid metadata property params: failed to unserialize into an array: json: cannot unmarshal number into Go value of type []interface {}"
        );
        let e = statement(&request(&[("sql", "x"), ("params", "{\"a\":1}")])).unwrap_err();
        assert!(
            e.message()
                .ends_with("cannot unmarshal object into Go value of type []interface {}")
        );
        let e = statement(&request(&[("sql", "x"), ("params", "[1,")])).unwrap_err();
        assert!(e.message().starts_with(
            "invalid metadata property params: failed to unserialize into an array: "
        ));
        assert!(
            statement(&request(&[("sql", "x"), ("params", "null")]))
                .unwrap()
                .1
                .is_empty()
        );
    }

    #[test]
    fn timestamps_are_rfc3339_nano() {
        let t = chrono::DateTime::parse_from_rfc3339("2020-09-24T11:45:05.120Z")
            .unwrap()
            .to_utc();
        assert_eq!(rfc3339_nano(&t), "2020-09-24T11:45:05.12Z");
        let t = chrono::DateTime::parse_from_rfc3339("2020-09-24T11:45:05Z")
            .unwrap()
            .to_utc();
        assert_eq!(rfc3339_nano(&t), "2020-09-24T11:45:05Z");
    }
}
