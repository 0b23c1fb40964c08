//! Twilio's two bindings: `bindings.twilio.sms` (Programmable Messaging, feature `twilio-sms`)
//! and `bindings.twilio.sendgrid` (SendGrid's v3 mail API, feature `twilio-sendgrid`).
//!
//! Both are HTTP clients of a vendor API. daprd hard-codes the vendor hosts; bindery adds one
//! option to each, `endpoint` (the base URL, vendor host by default), so the binding can go
//! through a proxy or a local stand-in. Everything else follows daprd.

#[cfg(feature = "twilio-sendgrid")]
pub mod sendgrid;
#[cfg(feature = "twilio-sms")]
pub mod sms;

use bindery_core::ConfigError;
use bytes::Bytes;

/// The message text daprd sends: the data unquoted when it is one JSON/Go string literal
/// (what daprd's HTTP API makes of `"data": "text"`), else the raw bytes as text.
#[cfg(feature = "twilio-sendgrid")]
pub(crate) fn body_text(data: &Bytes) -> String {
    crate::common::unquote(data).unwrap_or_else(|| String::from_utf8_lossy(data).into_owned())
}

/// components-contrib's `utils.Unquote`, which the sms binding uses: data that is one JSON
/// string, number, bool or null becomes its text (`null` is empty, numbers in Go's `'f'`
/// format); anything else is the raw bytes as text.
#[cfg(feature = "twilio-sms")]
pub(crate) fn json_scalar_text(data: &Bytes) -> String {
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Bool(b)) => b.to_string(),
        Ok(serde_json::Value::Null) => String::new(),
        Ok(serde_json::Value::Number(n)) => {
            n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    }
}

/// Checks a bindery-only `endpoint` base URL (pure: parsing only) and strips trailing slashes.
pub(crate) fn parse_endpoint(field: &str, value: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(value)
        .map_err(|e| ConfigError::new(field, format!("invalid endpoint {value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            field,
            format!("invalid endpoint {value:?}: an http or https URL is required"),
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// Go's `*url.Error` text for a failed POST: `Post "<url>": <cause>`.
pub(crate) fn post_error(url: &str, e: &reqwest::Error) -> String {
    let cause = if e.is_timeout() {
        "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".to_owned()
    } else {
        root_cause(e)
    };
    format!("Post \"{url}\": {cause}")
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// How the runtime should treat a vendor's non-2xx answer: 429 and 5xx may pass, other 4xx
/// will not.
pub(crate) fn status_kind(status: reqwest::StatusCode) -> bindery_core::ErrorKind {
    use bindery_core::ErrorKind;
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        ErrorKind::Unavailable
    } else if status.is_client_error() {
        ErrorKind::InvalidRequest
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("endpoint", "http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_endpoint("endpoint", "ftp://x").is_err());
        assert!(parse_endpoint("endpoint", "not a url").is_err());
    }

    #[cfg(feature = "twilio-sendgrid")]
    #[test]
    fn sendgrid_bodies_unquote_like_daprd() {
        assert_eq!(
            body_text(&Bytes::from_static(b"\"hi \\\"you\\\"\"")),
            "hi \"you\""
        );
        assert_eq!(body_text(&Bytes::from_static(b"plain")), "plain");
    }

    #[cfg(feature = "twilio-sms")]
    #[test]
    fn sms_bodies_unquote_like_daprd() {
        let t = |d: &'static [u8]| json_scalar_text(&Bytes::from_static(d));
        assert_eq!(t(b"\"text\""), "text");
        assert_eq!(t(b"1e3"), "1000");
        assert_eq!(t(b"2.5"), "2.5");
        assert_eq!(t(b"true"), "true");
        assert_eq!(t(b"null"), "");
        assert_eq!(t(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(t(b"not json"), "not json");
    }
}
