//! `bindings.http`: calls an HTTP endpoint, one request per invocation.
//!
//! Reproduces daprd's component: the operation is the method (`create` is POST), request
//! metadata keys starting with `A`–`Z` become headers, `path` is appended to `url`, the answer
//! carries `statusCode`, `status` and every response header, and a non-2xx status is an error
//! unless `errorIfNot2XX` is false. The response body is silently cut at `maxResponseBodySize`.
//!
//! Deviations: rustls cannot renegotiate, so `MTLSRenegotiation` values other than
//! `RenegotiateNever` are accepted and logged as having no effect; a `responseTimeout` of zero
//! means "no timeout" (daprd would fail every request at once).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::properties::is_truthy;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, ConfigError, ErrorKind, Field, FieldType,
    InvokeRequest, InvokeResponse, OutputBinding, Properties, Sensitive,
};
use bytes::BytesMut;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::common::tls::contains_pem_block;

pub const URL: Field = Field::new(
    "url",
    FieldType::String,
    "The base URL of the HTTP endpoint to invoke. Not checked at start-up: an empty or \
     malformed URL fails each request",
)
.required()
.example("http://myservice:8000/customer")
.output_only();
pub const RESPONSE_TIMEOUT: Field = Field::new(
    "responseTimeout",
    FieldType::Duration,
    "How long a request may take, response body included. No timeout when absent",
)
.example("10s")
.output_only();
pub const MAX_RESPONSE_BODY_SIZE: Field = Field::new(
    "maxResponseBodySize",
    FieldType::ByteSize,
    "The most response-body bytes to read, as a resource quantity; the rest is silently \
     dropped. A value <= 0 means no limit",
)
.default_value("100Mi")
.example("10Ki")
.output_only();
pub const MTLS_ROOT_CA: Field = Field::new(
    "MTLSRootCA",
    FieldType::String,
    "CA certificate(s) to trust instead of the system roots: PEM text, or a path to a PEM file",
)
.example("/path/to/ca.pem")
.output_only();
pub const MTLS_CLIENT_CERT: Field = Field::new(
    "MTLSClientCert",
    FieldType::String,
    "Client certificate for mTLS (used with MTLSClientKey): PEM text, or a path to a PEM file",
)
.example("/path/to/client.pem")
.output_only();
pub const MTLS_CLIENT_KEY: Field = Field::new(
    "MTLSClientKey",
    FieldType::String,
    "Client private key for mTLS (used with MTLSClientCert): PEM text, or a path to a PEM file",
)
.example("/path/to/client.key")
.sensitive()
.output_only();
pub const MTLS_RENEGOTIATION: Field = Field::new(
    "MTLSRenegotiation",
    FieldType::String,
    "TLS renegotiation: RenegotiateNever, RenegotiateOnceAsClient or RenegotiateFreelyAsClient. \
     bindery's TLS stack never renegotiates; the last two are accepted and have no effect",
)
.example("RenegotiateNever")
.output_only();
pub const SECURITY_TOKEN: Field = Field::new(
    "securityToken",
    FieldType::String,
    "A token sent on every request in the header named by securityTokenHeader",
)
.example("this-value-is-preferably-injected-from-a-secret-store")
.sensitive()
.output_only();
pub const SECURITY_TOKEN_HEADER: Field = Field::new(
    "securityTokenHeader",
    FieldType::String,
    "The header that carries securityToken",
)
.example("X-Security-Token")
.output_only();
pub const ERROR_IF_NOT_2XX: Field = Field::new(
    "errorIfNot2XX",
    FieldType::Bool,
    "Whether a non-2xx response is an error (exact-case key). Request metadata \
     `errorIfNot2XX` overrides it per call",
)
.default_value("true")
.exact_case()
.output_only();

pub const FIELDS: &[Field] = &[
    URL,
    RESPONSE_TIMEOUT,
    MAX_RESPONSE_BODY_SIZE,
    MTLS_ROOT_CA,
    MTLS_CLIENT_CERT,
    MTLS_CLIENT_KEY,
    MTLS_RENEGOTIATION,
    SECURITY_TOKEN,
    SECURITY_TOKEN_HEADER,
    ERROR_IF_NOT_2XX,
];

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create",
        description: "Alias for \"post\", for backwards-compatibility",
    },
    Operation {
        name: "get",
        description: "Read data/records",
    },
    Operation {
        name: "head",
        description: "Identical to get except that the server does not return a response body",
    },
    Operation {
        name: "post",
        description: "Typically used to create records or send commands",
    },
    Operation {
        name: "put",
        description: "Update data/records",
    },
    Operation {
        name: "patch",
        description: "Sometimes used to update a subset of fields of a record",
    },
    Operation {
        name: "delete",
        description: "Delete data/record",
    },
    Operation {
        name: "options",
        description: "Requests for information about the communication options available",
    },
    Operation {
        name: "trace",
        description: "Invokes a remote, application-layer loop-back of the request message",
    },
];

const DEFAULT_CONTENT_TYPE: &str = "application/json; charset=utf-8";
const DEFAULT_ACCEPT: &str = "application/json; charset=utf-8";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const TRACE_KEYS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// PEM text given inline, or a file to read it from. Decided at decode time, without I/O: a
/// value that contains a PEM block is PEM, anything else is a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// Inline PEM text; redacted in `Debug`, since a private key may be given this way.
    Inline(Sensitive<String>),
    File(PathBuf),
}

impl PemSource {
    fn from_value(value: &str) -> Self {
        if contains_pem_block(value) {
            PemSource::Inline(Sensitive::new(value.to_owned()))
        } else {
            PemSource::File(PathBuf::from(value))
        }
    }

    async fn load(&self, field: &str) -> Result<Vec<u8>, BindingError> {
        match self {
            PemSource::Inline(text) => Ok(text.expose().as_bytes().to_vec()),
            PemSource::File(path) => tokio::fs::read(path).await.map_err(|e| {
                BindingError::invalid(format!(
                    "provided {field:?} value is neither a valid file path or nor a valid pem \
                     encoded string: open {}: {}",
                    path.display(),
                    io_text(&e)
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renegotiation {
    Never,
    OnceAsClient,
    FreelyAsClient,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub url: String,
    pub response_timeout: Option<Duration>,
    /// `None` means unlimited.
    pub max_response_body_size: Option<u64>,
    pub root_ca: Option<PemSource>,
    /// Client certificate and key; only used as a pair.
    pub client_identity: Option<(PemSource, PemSource)>,
    pub renegotiation: Option<Renegotiation>,
    /// `(header, token)` when both are set.
    pub security_token: Option<(String, Sensitive<String>)>,
    pub error_if_not_2xx: bool,
}

impl bindery_core::BindingConfig for HttpConfig {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }
}

impl HttpConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let non_empty = |field: &Field| p.string(field).filter(|v| !v.is_empty());
        let url = p.string(&URL).unwrap_or_default();
        let response_timeout = p.duration(&RESPONSE_TIMEOUT)?.filter(|d| !d.is_zero());
        let max = p.bytesize(&MAX_RESPONSE_BODY_SIZE).map_err(|e| {
            ConfigError::new(
                e.field,
                format!("invalid value for maxResponseBodySize: {}", e.message),
            )
        })?;
        let max_response_body_size = max.filter(|n| *n > 0).map(|n| n as u64);
        let root_ca = non_empty(&MTLS_ROOT_CA).map(|v| PemSource::from_value(&v));
        let client_identity = match (non_empty(&MTLS_CLIENT_CERT), non_empty(&MTLS_CLIENT_KEY)) {
            (Some(cert), Some(key)) => {
                Some((PemSource::from_value(&cert), PemSource::from_value(&key)))
            }
            _ => None,
        };
        let renegotiation = match non_empty(&MTLS_RENEGOTIATION).as_deref() {
            None => None,
            Some("RenegotiateNever") => Some(Renegotiation::Never),
            Some("RenegotiateOnceAsClient") => Some(Renegotiation::OnceAsClient),
            Some("RenegotiateFreelyAsClient") => Some(Renegotiation::FreelyAsClient),
            Some(other) => {
                return Err(ConfigError::new(
                    MTLS_RENEGOTIATION.name,
                    format!("invalid renegotiation value: {other}"),
                ));
            }
        };
        let security_token = match (
            non_empty(&SECURITY_TOKEN_HEADER),
            non_empty(&SECURITY_TOKEN),
        ) {
            (Some(header), Some(token)) => Some((header, Sensitive::new(token))),
            _ => None,
        };
        Ok(Self {
            url,
            response_timeout,
            max_response_body_size,
            root_ca,
            client_identity,
            renegotiation,
            security_token,
            error_if_not_2xx: p.bool(&ERROR_IF_NOT_2XX),
        })
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.http",
    aliases: &[],
    status: "stable",
    summary: "Invokes an HTTP endpoint",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<HttpConfig>,
    build_input: None,
    build_output: Some(build_output),
};

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<HttpConfig>()?;
        let binding = HttpBinding::new(cx.name, config).await?;
        Ok(Box::new(binding) as Box<dyn OutputBinding>)
    })
}

/// The binding: a configured client.
pub struct HttpBinding {
    name: String,
    config: HttpConfig,
    /// `url` parsed once (the profile showed the per-call parse at 2.7-3.5 % of the sidecar's
    /// CPU); a malformed URL is kept as its parse error, since daprd fails each request then.
    base_url: Result<reqwest::Url, String>,
    client: reqwest::Client,
}

impl HttpBinding {
    /// Builds the client, reading certificate files named in the config.
    pub async fn new(name: String, config: HttpConfig) -> Result<Self, BindingError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .http1_title_case_headers();
        if let Some(ca) = &config.root_ca {
            let pem = ca.load(MTLS_ROOT_CA.name).await?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    BindingError::invalid("failed to add root certificate to certpool")
                })?;
            // Certificates are only parsed when a client is built: check them on their own so a
            // bad CA gets daprd's message rather than a generic client error.
            reqwest::Client::builder()
                .tls_certs_only(certs.clone())
                .build()
                .map_err(|_| BindingError::invalid("failed to add root certificate to certpool"))?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some((cert, key)) = &config.client_identity {
            let mut pem = cert.load(MTLS_CLIENT_CERT.name).await?;
            let key = key.load(MTLS_CLIENT_KEY.name).await?;
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                BindingError::invalid(format!(
                    "failed to load client certificate: {}",
                    root_cause(&e)
                ))
            })?;
            // The key is only parsed when a client is built: check the pair on its own.
            reqwest::Client::builder()
                .identity(identity.clone())
                .build()
                .map_err(|e| {
                    BindingError::invalid(format!(
                        "failed to load client certificate: {}",
                        root_cause(&e)
                    ))
                })?;
            builder = builder.identity(identity);
        }
        match config.renegotiation {
            None | Some(Renegotiation::Never) => {}
            Some(other) => tracing::info!(
                component = %name,
                value = ?other,
                "MTLSRenegotiation is accepted but has no effect: TLS renegotiation is never performed."
            ),
        }
        let client = builder.build().map_err(|e| {
            BindingError::invalid(format!("failed to create HTTP client: {}", root_cause(&e)))
        })?;
        Ok(Self {
            name,
            base_url: parse_url(&config.url),
            config,
            client,
        })
    }

    /// The request's URL as text (for error messages) and parsed: the component's `url`, with
    /// the request metadata's `path` appended when given.
    fn target_url(
        &self,
        metadata: &HashMap<String, String>,
    ) -> (Cow<'_, str>, Result<reqwest::Url, String>) {
        match metadata.get("path").filter(|p| !p.is_empty()) {
            Some(path) => {
                let url = format!(
                    "{}/{}",
                    self.config.url.trim_end_matches('/'),
                    path.trim_start_matches('/')
                );
                let parsed = parse_url(&url);
                (Cow::Owned(url), parsed)
            }
            None => (Cow::Borrowed(&self.config.url), self.base_url.clone()),
        }
    }

    fn headers(&self, req: &InvokeRequest, has_body: bool) -> Result<HeaderMap, HttpError> {
        let mut headers = HeaderMap::new();
        let mut set = |name: &str, value: &str| -> Result<(), HttpError> {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpError::InvalidHeader(format!("invalid header field name {name:?}"))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                HttpError::InvalidHeader(format!("invalid header field value for {name:?}"))
            })?;
            headers.insert(header, value);
            Ok(())
        };
        if has_body && !req.metadata.contains_key("Content-Type") {
            set("Content-Type", DEFAULT_CONTENT_TYPE)?;
        }
        if !req.metadata.contains_key("Accept") {
            set("Accept", DEFAULT_ACCEPT)?;
        }
        if let Some((header, token)) = &self.config.security_token {
            set(header, token.expose())?;
        }
        for (key, value) in &req.metadata {
            if key.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
                // Go's request writer ignores these in the header map.
                let canonical = canonical_header_key(key);
                if matches!(
                    canonical.as_str(),
                    "Host" | "Content-Length" | "Transfer-Encoding" | "Trailer"
                ) {
                    continue;
                }
                set(key, value)?;
            }
        }
        for key in TRACE_KEYS {
            if let Some(value) = req.metadata.get(key).filter(|v| !v.is_empty()) {
                if req
                    .metadata
                    .keys()
                    .any(|k| k != key && k.eq_ignore_ascii_case(key))
                {
                    tracing::warn!(
                        component = %self.name,
                        header = key,
                        "Tracing is enabled. A custom {key} request header cannot be specified and is ignored."
                    );
                }
                set(key, value)?;
            }
        }
        Ok(headers)
    }

    async fn call(&self, req: &InvokeRequest) -> Result<InvokeResponse, HttpError> {
        let error_if_not_2xx = match req.metadata.get("errorIfNot2XX").filter(|v| !v.is_empty()) {
            Some(v) => is_truthy(v),
            None => self.config.error_if_not_2xx,
        };
        let method = method_of(&req.operation)
            .ok_or_else(|| HttpError::InvalidOperation(req.operation.clone()))?;
        let (url, parsed) = self.target_url(&req.metadata);
        // Go's `*url.Error` text, built only when a request fails.
        let request_error = |cause: String| HttpError::Request {
            op: go_url_error_op(method.as_str()),
            url: url.clone().into_owned(),
            cause,
        };
        let has_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
        let headers = self
            .headers(req, has_body)
            .map_err(|e| e.in_request(&go_url_error_op(method.as_str()), &url))?;
        let parsed = parsed.map_err(&request_error)?;
        let mut builder = self.client.request(method.clone(), parsed).headers(headers);
        if has_body {
            builder = builder.body(req.data.clone());
        }
        let exchange = async {
            let mut response = builder
                .send()
                .await
                .map_err(|e| request_error(root_cause(&e)))?;
            let status = response.status();
            let reason = response
                .extensions()
                .get::<hyper::ext::ReasonPhrase>()
                .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
            let metadata = response_metadata(status, reason.as_deref(), response.headers());
            let mut body = BytesMut::new();
            let limit = self.config.max_response_body_size;
            loop {
                if limit.is_some_and(|max| body.len() as u64 >= max) {
                    break;
                }
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => return Err(HttpError::Body(root_cause(&e))),
                }
            }
            if let Some(max) = limit {
                body.truncate(max.min(usize::MAX as u64) as usize);
            }
            Ok((status, metadata, body.freeze()))
        };
        let (status, metadata, data) = match self.config.response_timeout {
            Some(timeout) => match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result?,
                Err(_) => return Err(request_error("context deadline exceeded".to_owned())),
            },
            None => exchange.await?,
        };
        if error_if_not_2xx && !status.is_success() {
            return Err(HttpError::Status { status, metadata });
        }
        Ok(InvokeResponse { data, metadata })
    }
}

#[async_trait]
impl OutputBinding for HttpBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        self.call(&request)
            .await
            .map(Some)
            .map_err(BindingError::from)
    }
}

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    #[error("{0}")]
    InvalidHeader(String),
    /// Go's `*url.Error`: `Post "http://x": <cause>`.
    #[error("{op} \"{url}\": {cause}")]
    Request {
        op: String,
        url: String,
        cause: String,
    },
    #[error("{0}")]
    Body(String),
    #[error("received status code {}", status.as_u16())]
    Status {
        status: StatusCode,
        metadata: HashMap<String, String>,
    },
}

impl HttpError {
    fn in_request(self, op: &str, url: &str) -> Self {
        match self {
            HttpError::InvalidHeader(cause) => HttpError::Request {
                op: op.to_owned(),
                url: url.to_owned(),
                cause: format!("net/http: {cause}"),
            },
            other => other,
        }
    }
}

impl From<HttpError> for BindingError {
    fn from(e: HttpError) -> Self {
        let message = e.to_string();
        match e {
            HttpError::InvalidOperation(_) | HttpError::InvalidHeader(_) => {
                BindingError::invalid(message)
            }
            HttpError::Request { ref cause, .. }
                if cause.starts_with("net/http: invalid header")
                    || cause.contains("protocol scheme") =>
            {
                BindingError::invalid(message)
            }
            HttpError::Request { .. } | HttpError::Body(_) => BindingError::unavailable(message),
            HttpError::Status { status, metadata } => {
                let kind = if status.is_client_error() {
                    ErrorKind::InvalidRequest
                } else if status.is_server_error() {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Other
                };
                BindingError::new(kind, message).with_response_metadata(metadata)
            }
        }
    }
}

/// `statusCode`, `status` (Go's `resp.Status`: `404 Not Found`) and every header under its
/// canonical Go name, values joined by `", "`.
fn response_metadata(
    status: StatusCode,
    reason: Option<&str>,
    headers: &HeaderMap,
) -> HashMap<String, String> {
    let mut out = HashMap::with_capacity(headers.keys_len() + 2);
    out.insert("statusCode".to_owned(), status.as_u16().to_string());
    let reason = reason
        .map(str::to_owned)
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    out.insert("status".to_owned(), format!("{} {reason}", status.as_u16()));
    for name in headers.keys() {
        let canonical = canonical_header_key(name.as_str());
        // Go moves Transfer-Encoding out of the header map.
        if canonical == "Transfer-Encoding" {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(canonical, values.join(", "));
    }
    out
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`. Keys with bytes
/// that are not token characters are returned unchanged.
pub fn canonical_header_key(key: &str) -> String {
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !key.bytes().all(is_token) {
        return key.to_owned();
    }
    let mut upper = true;
    key.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// The request method of an operation (`create` is POST), in any letter case.
fn method_of(operation: &str) -> Option<Method> {
    const METHODS: [(&str, Method); 9] = [
        ("create", Method::POST),
        ("post", Method::POST),
        ("put", Method::PUT),
        ("patch", Method::PATCH),
        ("get", Method::GET),
        ("head", Method::HEAD),
        ("delete", Method::DELETE),
        ("options", Method::OPTIONS),
        ("trace", Method::TRACE),
    ];
    METHODS
        .into_iter()
        .find(|(name, _)| operation.eq_ignore_ascii_case(name))
        .map(|(_, method)| method)
}

/// `url` parsed, or the cause Go's client gives for it (an empty URL has no scheme).
fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(url).map_err(|e| {
        if url.is_empty() {
            "unsupported protocol scheme \"\"".to_owned()
        } else {
            e.to_string()
        }
    })
}

/// Go's `urlErrorOp`: `POST` → `Post`.
fn go_url_error_op(method: &str) -> String {
    let mut chars = method.chars();
    match chars.next() {
        Some(first) => first.to_string() + &chars.as_str().to_ascii_lowercase(),
        None => String::new(),
    }
}

/// The innermost cause of an error chain: the part that says what actually went wrong.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::testing::corpus_components;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn defaults() {
        let c = HttpConfig::from_properties(&props(&[("url", "http://x")])).unwrap();
        assert_eq!(c.url, "http://x");
        assert_eq!(c.response_timeout, None);
        assert_eq!(c.max_response_body_size, Some(100 * 1024 * 1024));
        assert!(c.root_ca.is_none() && c.client_identity.is_none() && c.renegotiation.is_none());
        assert!(c.security_token.is_none());
        assert!(c.error_if_not_2xx);
        // daprd does not require url at start-up.
        assert!(HttpConfig::from_properties(&props(&[])).is_ok());
    }

    #[test]
    fn every_field_decodes() {
        let c = HttpConfig::from_properties(&props(&[
            ("URL", "https://h/"),
            ("responseTimeout", "1500ms"),
            ("maxResponseBodySize", "10Ki"),
            ("mtlsRootCA", PEM),
            ("MTLSClientCert", "/etc/cert.pem"),
            ("MTLSClientKey", "/etc/key.pem"),
            ("MTLSRenegotiation", "RenegotiateOnceAsClient"),
            ("securityToken", "s3cret"),
            ("SecurityTokenHeader", "X-Token"),
            ("errorIfNot2XX", "false"),
        ]))
        .unwrap();
        assert_eq!(c.response_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.max_response_body_size, Some(10 * 1024));
        assert_eq!(c.root_ca, Some(PemSource::Inline(PEM.to_owned().into())));
        assert_eq!(
            c.client_identity,
            Some((
                PemSource::File("/etc/cert.pem".into()),
                PemSource::File("/etc/key.pem".into())
            ))
        );
        assert_eq!(c.renegotiation, Some(Renegotiation::OnceAsClient));
        assert_eq!(
            c.security_token,
            Some(("X-Token".to_owned(), "s3cret".to_owned().into()))
        );
        assert!(!c.error_if_not_2xx);
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn seconds_and_unlimited_sizes() {
        let c = HttpConfig::from_properties(&props(&[
            ("responseTimeout", "30"),
            ("maxResponseBodySize", "0"),
        ]))
        .unwrap();
        assert_eq!(c.response_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.max_response_body_size, None);
        let c = HttpConfig::from_properties(&props(&[("maxResponseBodySize", "-1")])).unwrap();
        assert_eq!(c.max_response_body_size, None);
        let err =
            HttpConfig::from_properties(&props(&[("maxResponseBodySize", "lots")])).unwrap_err();
        assert!(
            err.message
                .starts_with("invalid value for maxResponseBodySize"),
            "{err}"
        );
        let err = HttpConfig::from_properties(&props(&[("responseTimeout", "soon")])).unwrap_err();
        assert_eq!(err.field, "responseTimeout");
    }

    #[test]
    fn error_if_not_2xx_is_exact_case() {
        let c = HttpConfig::from_properties(&props(&[("errorifnot2xx", "false")])).unwrap();
        assert!(c.error_if_not_2xx);
        let c = HttpConfig::from_properties(&props(&[("errorIfNot2XX", "")])).unwrap();
        assert!(c.error_if_not_2xx);
        let c = HttpConfig::from_properties(&props(&[("errorIfNot2XX", "no")])).unwrap();
        assert!(!c.error_if_not_2xx);
    }

    #[test]
    fn renegotiation_values_are_checked() {
        let err =
            HttpConfig::from_properties(&props(&[("MTLSRenegotiation", "Sometimes")])).unwrap_err();
        assert_eq!(err.message, "invalid renegotiation value: Sometimes");
        let c = HttpConfig::from_properties(&props(&[("MTLSRenegotiation", "RenegotiateNever")]))
            .unwrap();
        assert_eq!(c.renegotiation, Some(Renegotiation::Never));
    }

    #[test]
    fn client_cert_needs_its_key_and_token_needs_its_header() {
        let c = HttpConfig::from_properties(&props(&[("MTLSClientCert", PEM)])).unwrap();
        assert!(c.client_identity.is_none());
        let c = HttpConfig::from_properties(&props(&[("securityToken", "t")])).unwrap();
        assert!(c.security_token.is_none());
    }

    #[test]
    fn pem_or_path() {
        assert!(contains_pem_block(PEM));
        assert!(contains_pem_block(&format!("junk before\n{PEM}")));
        assert!(!contains_pem_block("/path/to/ca.pem"));
        assert!(!contains_pem_block("-----BEGIN CERTIFICATE-----\nMIIB\n"));
        assert!(!contains_pem_block("-----BEGIN A-----\nx\n-----END B-----"));
    }

    #[test]
    fn canonical_keys() {
        assert_eq!(canonical_header_key("content-type"), "Content-Type");
        assert_eq!(canonical_header_key("x-FOO-bar"), "X-Foo-Bar");
        assert_eq!(canonical_header_key("etag"), "Etag");
        assert_eq!(canonical_header_key("bad key"), "bad key");
        assert_eq!(go_url_error_op("POST"), "Post");
        assert_eq!(go_url_error_op("OPTIONS"), "Options");
    }

    #[test]
    fn operations_map_to_methods_in_any_case() {
        assert_eq!(method_of("create"), Some(Method::POST));
        assert_eq!(method_of("POST"), Some(Method::POST));
        assert_eq!(method_of("Get"), Some(Method::GET));
        assert_eq!(method_of("tRaCe"), Some(Method::TRACE));
        assert_eq!(method_of("fetch"), None);
        assert_eq!(method_of(""), None);
    }

    #[test]
    fn urls_parse_as_per_request() {
        assert_eq!(
            parse_url("http://h:8000/a").map(String::from),
            Ok("http://h:8000/a".to_owned())
        );
        assert_eq!(
            parse_url("").unwrap_err(),
            "unsupported protocol scheme \"\""
        );
        assert_eq!(
            parse_url("http://[bad").unwrap_err(),
            reqwest::Url::parse("http://[bad").unwrap_err().to_string()
        );
    }

    #[test]
    fn status_line() {
        let m = response_metadata(StatusCode::NOT_FOUND, None, &HeaderMap::new());
        assert_eq!(m["statusCode"], "404");
        assert_eq!(m["status"], "404 Not Found");
        let m = response_metadata(StatusCode::OK, Some("Fine"), &HeaderMap::new());
        assert_eq!(m["status"], "200 Fine");
    }

    #[test]
    fn descriptor_shape() {
        assert!(DESCRIPTOR.has_output() && !DESCRIPTOR.has_input());
        for op in [
            "create", "get", "head", "post", "put", "patch", "delete", "options", "trace",
        ] {
            assert!(DESCRIPTOR.supports_operation(op), "{op}");
        }
    }

    #[test]
    fn corpus_components_decode() {
        let Some(components) =
            corpus_components(&DESCRIPTOR, &["config/bindings/http/bindings.yml"])
        else {
            return;
        };
        let mut decoded = 0;
        for c in &components {
            let cfg = HttpConfig::from_properties(&c.properties()).unwrap();
            assert_eq!(cfg.url, "http://localhost:22222/call");
            decoded += 1;
        }
        assert_eq!(decoded, 1);
    }
}
