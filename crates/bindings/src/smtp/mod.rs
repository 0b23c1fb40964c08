//! `bindings.smtp`: sends one email per `create` over SMTP.
//!
//! As daprd (gomail): `host` and `port` are required; port 465 means implicit TLS, any other
//! port upgrades with STARTTLS when the server offers it; `user`/`password` go together and
//! authenticate when the server offers AUTH (PLAIN, else LOGIN); `skipTLSVerify` turns off
//! certificate checks. `emailFrom`, `emailTo`, `emailCC`, `emailBCC`, `subject` and `priority`
//! are defaults that the same request metadata keys (exact case) override; address lists are
//! `;`-separated; the data (unquoted when it is a string literal) is the `text/html` body;
//! `priority` (1..5, default 3) is sent as `X-priority`; Bcc addresses get the message but no
//! header. A missing sender, recipient or subject fails with daprd's text.
//!
//! Deviations:
//! - daprd merges request overrides into its own configuration, so one request's
//!   `emailTo` or `subject` leaks into every later request (and races under concurrency).
//!   bindery merges into a copy per request: an override applies to its own request only.
//! - bindery only (documented options, request metadata): `attachment:<file name>` holds a
//!   base64 file to attach (`attachmentContentType:<file name>` sets its type, default
//!   `application/octet-stream`), and `bodyText` adds a plain-text alternative to the HTML body.
//! - PLAIN/LOGIN credentials are never sent over an unencrypted connection to a host other
//!   than loopback (`unencrypted connection`, as Go's `smtp.PlainAuth` refuses); CRAM-MD5 is
//!   not offered (gomail prefers it when the server does).
//! - Errors after daprd's prefix `error from smtp binding, sending email failed: ` carry
//!   lettre's wording, not gomail's.

mod message;
mod session;

use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties, Sensitive,
    decode_as,
};

pub use message::{Envelope, SmtpError};

pub const HOST: Field = Field::new("host", FieldType::String, "The SMTP server host")
    .required()
    .example("smtp.gmail.com");
pub const PORT: Field = Field::new(
    "port",
    FieldType::Number,
    "The SMTP server port. 465 uses implicit TLS; any other port upgrades with STARTTLS when \
     the server offers it",
)
.required()
.example("587");
pub const USER: Field = Field::new(
    "user",
    FieldType::String,
    "The SMTP username (with password); no authentication when both are empty",
)
.example("user@gmail.com");
pub const PASSWORD: Field = Field::new("password", FieldType::String, "The SMTP password")
    .sensitive()
    .example("password");
pub const SKIP_TLS_VERIFY: Field = Field::new(
    "skipTLSVerify",
    FieldType::Bool,
    "Accept any server certificate (insecure)",
)
.default_value("false")
.example("false");
pub const EMAIL_FROM: Field = Field::new(
    "emailFrom",
    FieldType::String,
    "The sender address; request metadata `emailFrom` overrides it",
)
.example("sender@example.com");
pub const EMAIL_TO: Field = Field::new(
    "emailTo",
    FieldType::String,
    "The recipient addresses, `;`-separated; request metadata `emailTo` overrides them",
)
.example("recipient@example.com;other@example.com");
pub const EMAIL_CC: Field = Field::new(
    "emailCC",
    FieldType::String,
    "CC addresses, `;`-separated; request metadata `emailCC` overrides them",
)
.example("cc@example.com");
pub const EMAIL_BCC: Field = Field::new(
    "emailBCC",
    FieldType::String,
    "BCC addresses, `;`-separated; request metadata `emailBCC` overrides them",
)
.example("bcc@example.com");
pub const SUBJECT: Field = Field::new(
    "subject",
    FieldType::String,
    "The subject; request metadata `subject` overrides it",
)
.example("Hello from Dapr");
pub const PRIORITY: Field = Field::new(
    "priority",
    FieldType::Number,
    "1 (highest) to 5 (lowest), sent as the X-priority header (exact-case key); request \
     metadata `priority` overrides it",
)
.default_value("3")
.example("3")
.exact_case();

pub const FIELDS: &[Field] = &[
    HOST,
    PORT,
    USER,
    PASSWORD,
    SKIP_TLS_VERIFY,
    EMAIL_FROM,
    EMAIL_TO,
    EMAIL_CC,
    EMAIL_BCC,
    SUBJECT,
    PRIORITY,
];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Send an email; the data is its HTML body. Request metadata `emailFrom`, \
                  `emailTo`, `emailCC`, `emailBCC`, `subject` and `priority` override the \
                  component's values for this email only. bindery only: `bodyText` adds a \
                  plain-text alternative; `attachment:<file name>` attaches a file given in \
                  base64, typed by `attachmentContentType:<file name>` (default \
                  application/octet-stream)",
}];

/// The port that means TLS from the first byte (gomail's rule).
pub const IMPLICIT_TLS_PORT: u16 = 465;
/// gomail's dial timeout.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// User and password, when both are set.
    pub credentials: Option<(String, Sensitive<String>)>,
    pub skip_tls_verify: bool,
    /// The component's defaults; each request works on its own copy.
    pub defaults: Envelope,
}

impl BindingConfig for SmtpConfig {
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let non_empty = |f: &Field| p.string(f).filter(|v| !v.is_empty());
        let required = "smtp binding error: host and port fields are required in metadata";
        let port: u16 = p
            .number::<u16>(&PORT)
            .map_err(|_| {
                ConfigError::new(
                    PORT.name,
                    format!(
                        "smtp binding error: invalid port {:?}",
                        p.raw(&PORT).unwrap_or("")
                    ),
                )
            })?
            .unwrap_or(0);
        let host = non_empty(&HOST).filter(|_| port != 0);
        let host = host.ok_or_else(|| ConfigError::new(HOST.name, required))?;
        let credentials = match (non_empty(&USER), non_empty(&PASSWORD)) {
            (Some(user), Some(password)) => Some((user, Sensitive::new(password))),
            // daprd logs a warning here; a relay without AUTH is a deliberate setup, so bindery
            // says nothing (a warning would fail `bindery validate --strict`).
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    USER.name,
                    "smtp binding error: both user and password fields are required in metadata",
                ));
            }
        };
        let skip_tls_verify = p.bool(&SKIP_TLS_VERIFY);
        if skip_tls_verify {
            warnings.push(ConfigWarning::new(
                SKIP_TLS_VERIFY.name,
                "smtp binding warning: Skip TLS Verification is enabled. This is insecure and \
                 is NOT recommended for production scenarios.",
            ));
        }
        let priority = message::parse_priority(p.raw(&PRIORITY).unwrap_or(""))
            .map_err(|e| ConfigError::new(PRIORITY.name, e.to_string()))?;
        Ok(Self {
            host,
            port,
            credentials,
            skip_tls_verify,
            defaults: Envelope {
                from: non_empty(&EMAIL_FROM),
                to: non_empty(&EMAIL_TO),
                cc: non_empty(&EMAIL_CC),
                bcc: non_empty(&EMAIL_BCC),
                subject: non_empty(&SUBJECT),
                priority,
            },
        })
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.smtp",
    aliases: &[],
    status: "alpha",
    summary: "Sends email over SMTP",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<SmtpConfig>,
    build_input: None,
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let config = cx.config::<SmtpConfig>()?;
    Ok(Box::new(SmtpBinding::new(config)))
}

/// The binding: its configuration. Each `create` opens its own SMTP session, as daprd does.
pub struct SmtpBinding {
    config: SmtpConfig,
}

impl SmtpBinding {
    pub fn new(config: SmtpConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl OutputBinding for SmtpBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let envelope = self.config.defaults.merged_with(&request.metadata)?;
        let email = message::compose(&envelope, &request)?;
        session::send(&self.config, &email).await?;
        tracing::debug!("smtp binding: sent email successfully");
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pairs: &[(&str, &str)]) -> Result<(SmtpConfig, Vec<ConfigWarning>), ConfigError> {
        let mut w = Vec::new();
        SmtpConfig::decode(&Properties::from_pairs(pairs.iter().copied()), &mut w).map(|c| (c, w))
    }

    #[test]
    fn host_and_port_are_required() {
        let msg = "smtp binding error: host and port fields are required in metadata";
        assert_eq!(decode(&[]).unwrap_err().message, msg);
        assert_eq!(decode(&[("host", "h")]).unwrap_err().message, msg);
        assert_eq!(decode(&[("port", "25")]).unwrap_err().message, msg);
        assert!(decode(&[("host", "h"), ("port", "x")]).is_err());
        let (c, w) = decode(&[("HOST", "h"), ("Port", "2525")]).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("h", 2525));
        assert!(w.is_empty(), "no credentials is a valid setup: {w:?}");
    }

    #[test]
    fn user_and_password_go_together() {
        let base = [("host", "h"), ("port", "25")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            decode(&v)
        };
        let msg = "smtp binding error: both user and password fields are required in metadata";
        assert_eq!(with(&[("user", "u")]).unwrap_err().message, msg);
        assert_eq!(with(&[("password", "p")]).unwrap_err().message, msg);
        let (c, w) = with(&[("user", "u"), ("password", "hunter2")]).unwrap();
        assert!(w.is_empty());
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn priority_is_read_exactly_and_checked() {
        let base = [("host", "h"), ("port", "25")];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = base.to_vec();
            v.push(extra);
            decode(&v)
        };
        assert_eq!(with(("priority", "1")).unwrap().0.defaults.priority, 1);
        assert_eq!(with(("Priority", "1")).unwrap().0.defaults.priority, 3);
        assert_eq!(
            with(("priority", "6")).unwrap_err().message,
            "smtp binding error:  priority value must be between 1 (highest) and 5 (lowest)"
        );
        assert_eq!(
            with(("priority", "high")).unwrap_err().message,
            "strconv.Atoi: parsing \"high\": invalid syntax"
        );
    }

    #[test]
    fn skip_tls_verify_warns() {
        let (c, w) = decode(&[("host", "h"), ("port", "25"), ("skipTLSVerify", "true")]).unwrap();
        assert!(c.skip_tls_verify);
        assert!(w.iter().any(|w| w.field == "skipTLSVerify"));
    }

    #[test]
    fn corpus_and_example_components_decode() {
        if crate::common::corpus_tests_dir().is_none() {
            eprintln!("SKIP: components-contrib corpus not found");
        }
        // Dapr's corpus holds no bindings.smtp component today; any that appears must decode.
        for (file, p) in crate::common::corpus_components(&["bindings.smtp"]) {
            SmtpConfig::decode(&p, &mut Vec::new()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let p = crate::common::example_properties(&DESCRIPTOR);
        SmtpConfig::decode(&p, &mut Vec::new()).expect("the documented example decodes");
    }
}
