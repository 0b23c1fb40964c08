//! One email: the component's defaults merged with a request's overrides (into a copy), and
//! the MIME message built from them.

use base64::Engine as _;
use bindery_core::{BindingError, InvokeRequest, Metadata};
use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

const DEFAULT_PRIORITY: u8 = 3;
const LOWEST_PRIORITY: u8 = 1;
const HIGHEST_PRIORITY: u8 = 5;
const SEPARATOR: char = ';';
/// Request metadata prefix of a base64 attachment (bindery only).
pub const ATTACHMENT_PREFIX: &str = "attachment:";
/// Request metadata prefix naming an attachment's content type (bindery only).
pub const ATTACHMENT_TYPE_PREFIX: &str = "attachmentContentType:";
/// Request metadata key of a plain-text alternative body (bindery only).
pub const BODY_TEXT: &str = "bodyText";

/// Who gets the message, from whom, under which subject and priority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub bcc: Option<String>,
    pub subject: Option<String>,
    pub priority: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("smtp binding error: {0} property not supplied in configuration- or request-metadata")]
    Missing(&'static str),
    #[error(
        "smtp binding error:  priority value must be between {LOWEST_PRIORITY} (highest) and {HIGHEST_PRIORITY} (lowest)"
    )]
    PriorityRange,
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    PriorityNumber(String),
    #[error("error from smtp binding, sending email failed: invalid address {address:?}: {cause}")]
    Address { address: String, cause: String },
    #[error("smtp binding error: attachment {name:?}: {cause}")]
    Attachment { name: String, cause: String },
    #[error("error from smtp binding, sending email failed: {0}")]
    Compose(String),
    /// The server could not be reached or dropped the session.
    #[error("error from smtp binding, sending email failed: {0}")]
    Connection(String),
    /// The server (or the TLS handshake) refused the message or the credentials.
    #[error("error from smtp binding, sending email failed: {0}")]
    Refused(String),
}

impl From<SmtpError> for BindingError {
    fn from(e: SmtpError) -> Self {
        let message = e.to_string();
        match e {
            SmtpError::Connection(_) => BindingError::unavailable(message),
            _ => BindingError::invalid(message),
        }
    }
}

/// daprd's `parsePriority`: empty means the default, else 1..=5.
pub fn parse_priority(text: &str) -> Result<u8, SmtpError> {
    if text.is_empty() {
        return Ok(DEFAULT_PRIORITY);
    }
    let n: i64 = text
        .parse()
        .map_err(|_| SmtpError::PriorityNumber(text.to_owned()))?;
    if !(i64::from(LOWEST_PRIORITY)..=i64::from(HIGHEST_PRIORITY)).contains(&n) {
        return Err(SmtpError::PriorityRange);
    }
    Ok(n as u8)
}

impl Envelope {
    /// A copy with this request's non-empty overrides applied; `self` never changes.
    pub fn merged_with(&self, md: &Metadata) -> Result<Envelope, SmtpError> {
        let given = |key: &str| md.get(key).filter(|v| !v.is_empty()).cloned();
        let mut merged = self.clone();
        if let Some(v) = given("emailFrom") {
            merged.from = Some(v);
        }
        if let Some(v) = given("emailTo") {
            merged.to = Some(v);
        }
        if let Some(v) = given("emailCC") {
            merged.cc = Some(v);
        }
        if let Some(v) = given("emailBCC") {
            merged.bcc = Some(v);
        }
        if let Some(v) = given("subject") {
            merged.subject = Some(v);
        }
        if let Some(v) = given("priority") {
            merged.priority = parse_priority(&v)?;
        }
        Ok(merged)
    }
}

/// `X-priority`, spelled as gomail sends it.
#[derive(Debug, Clone)]
struct XPriority(u8);

impl Header for XPriority {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-priority")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim().parse()?))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.to_string())
    }
}

fn mailbox(address: &str) -> Result<Mailbox, SmtpError> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| SmtpError::Address {
            address: address.to_owned(),
            cause: e.to_string(),
        })
}

fn mailboxes(list: &str) -> Result<Vec<Mailbox>, SmtpError> {
    list.split(SEPARATOR).map(mailbox).collect()
}

/// Builds the message daprd would send for `envelope` and `req`, plus bindery's extras.
pub fn compose(envelope: &Envelope, req: &InvokeRequest) -> Result<Message, SmtpError> {
    let from = envelope
        .from
        .as_deref()
        .ok_or(SmtpError::Missing("emailFrom"))?;
    let to = envelope
        .to
        .as_deref()
        .ok_or(SmtpError::Missing("emailTo"))?;
    let subject = envelope
        .subject
        .as_deref()
        .ok_or(SmtpError::Missing("subject"))?;
    let mut builder = Message::builder().from(mailbox(from)?);
    for m in mailboxes(to)? {
        builder = builder.to(m);
    }
    if let Some(cc) = &envelope.cc {
        for m in mailboxes(cc)? {
            builder = builder.cc(m);
        }
    }
    if let Some(bcc) = &envelope.bcc {
        for m in mailboxes(bcc)? {
            builder = builder.bcc(m);
        }
    }
    builder = builder
        .subject(subject)
        .header(XPriority(envelope.priority));
    let html = crate::common::unquote(&req.data)
        .unwrap_or_else(|| String::from_utf8_lossy(&req.data).into_owned());
    let text = req.metadata.get(BODY_TEXT).filter(|t| !t.is_empty());
    let attachments = attachments(&req.metadata)?;
    let result = match (text, attachments.is_empty()) {
        (None, true) => builder.singlepart(SinglePart::html(html)),
        (Some(text), true) => {
            builder.multipart(MultiPart::alternative_plain_html(text.clone(), html))
        }
        (text, false) => {
            let mut mixed = match text {
                Some(text) => MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(text.clone(), html)),
                None => MultiPart::mixed().singlepart(SinglePart::html(html)),
            };
            for part in attachments {
                mixed = mixed.singlepart(part);
            }
            builder.multipart(mixed)
        }
    };
    result.map_err(|e| SmtpError::Compose(e.to_string()))
}

/// The request's `attachment:<name>` parts, in file-name order.
fn attachments(md: &Metadata) -> Result<Vec<SinglePart>, SmtpError> {
    let mut names: Vec<&str> = md
        .keys()
        .filter_map(|k| k.strip_prefix(ATTACHMENT_PREFIX))
        .collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| {
            let fail = |cause: String| SmtpError::Attachment {
                name: name.to_owned(),
                cause,
            };
            if name.is_empty() {
                return Err(fail(
                    "a file name is required after \"attachment:\"".to_owned(),
                ));
            }
            let encoded = &md[&format!("{ATTACHMENT_PREFIX}{name}")];
            let content = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| fail(format!("invalid base64: {e}")))?;
            let content_type = md
                .get(&format!("{ATTACHMENT_TYPE_PREFIX}{name}"))
                .map_or("application/octet-stream", String::as_str);
            let content_type = ContentType::parse(content_type)
                .map_err(|e| fail(format!("invalid content type {content_type:?}: {e}")))?;
            Ok(Attachment::new(name.to_owned()).body(content, content_type))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn defaults() -> Envelope {
        Envelope {
            from: Some("from@example.com".into()),
            to: Some("to@example.com".into()),
            subject: Some("default subject".into()),
            priority: 3,
            ..Envelope::default()
        }
    }

    #[test]
    fn overrides_apply_to_a_copy() {
        let d = defaults();
        let merged = d
            .merged_with(&md(&[
                ("emailTo", "x@example.com"),
                ("subject", ""),
                ("priority", "1"),
            ]))
            .unwrap();
        assert_eq!(merged.to.as_deref(), Some("x@example.com"));
        assert_eq!(merged.subject.as_deref(), Some("default subject"));
        assert_eq!(merged.priority, 1);
        assert_eq!(d, defaults(), "the defaults are untouched");
        assert!(matches!(
            d.merged_with(&md(&[("priority", "9")])),
            Err(SmtpError::PriorityRange)
        ));
    }

    #[test]
    fn missing_parts_in_daprd_order() {
        let req = InvokeRequest::default();
        let e = compose(&Envelope::default(), &req).unwrap_err();
        assert_eq!(
            e.to_string(),
            "smtp binding error: emailFrom property not supplied in configuration- or request-metadata"
        );
        let mut env = defaults();
        env.subject = None;
        assert!(
            compose(&env, &req)
                .unwrap_err()
                .to_string()
                .contains(" subject property")
        );
    }

    #[test]
    fn headers_lists_and_bcc() {
        let mut env = defaults();
        env.to = Some("a@example.com; B <b@example.com>".into());
        env.cc = Some("c@example.com".into());
        env.bcc = Some("d@example.com;e@example.com".into());
        let req = InvokeRequest {
            data: Bytes::from_static(b"\"<p>hi</p>\""),
            ..InvokeRequest::default()
        };
        let m = compose(&env, &req).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("X-priority: 3"), "{text}");
        assert!(
            text.contains("To: a@example.com, B <b@example.com>"),
            "{text}"
        );
        assert!(text.contains("Cc: c@example.com"), "{text}");
        assert!(!text.contains("Bcc:"), "{text}");
        assert!(text.contains("text/html"), "{text}");
        assert!(text.contains("<p>hi</p>"), "{text}");
        assert_eq!(m.envelope().to().len(), 5);
        let bad = Envelope {
            to: Some("not-an-address".into()),
            ..defaults()
        };
        assert!(matches!(
            compose(&bad, &req),
            Err(SmtpError::Address { .. })
        ));
    }

    #[test]
    fn attachments_and_text_alternative() {
        let req = InvokeRequest {
            data: Bytes::from_static(b"<p>html</p>"),
            metadata: md(&[
                ("attachment:report.csv", "YSxiCjEsMgo="),
                ("attachmentContentType:report.csv", "text/csv"),
                ("bodyText", "plain version"),
            ]),
            ..InvokeRequest::default()
        };
        let text = String::from_utf8(compose(&defaults(), &req).unwrap().formatted()).unwrap();
        assert!(text.contains("multipart/mixed"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("filename=\"report.csv\""), "{text}");
        assert!(text.contains("plain version"), "{text}");
        let bad = InvokeRequest {
            metadata: md(&[("attachment:x.bin", "***")]),
            ..InvokeRequest::default()
        };
        assert!(matches!(
            compose(&defaults(), &bad),
            Err(SmtpError::Attachment { .. })
        ));
    }
}
