//! The rabbitmq binding's metadata, decoded purely from [`Properties`].

use std::time::Duration;

use bindery_core::descriptor::{Field, FieldType};
use bindery_core::duration::parse_go_duration;
use bindery_core::properties::is_truthy;
use bindery_core::{ConfigError, Properties, Sensitive};

pub const HOST: Field = Field::new(
    "host",
    FieldType::String,
    "AMQP URI of the broker: amqp://user:password@host:5672/vhost or amqps://...",
)
.required()
.sensitive()
.example("amqp://guest:guest@localhost:5672");
pub const QUEUE_NAME: Field = Field::new(
    "queueName",
    FieldType::String,
    "Queue declared by both directions; output publishes to it through the default exchange, input consumes from it.",
)
.required()
.example("myqueue");
pub const DURABLE: Field =
    Field::new("durable", FieldType::Bool, "Declare the queue durable.").default_value("false");
pub const DELETE_WHEN_UNUSED: Field = Field::new(
    "deleteWhenUnused",
    FieldType::Bool,
    "Declare the queue auto-delete (removed when its last consumer goes away).",
)
.default_value("false");
pub const EXCLUSIVE: Field = Field::new(
    "exclusive",
    FieldType::Bool,
    "Declare the queue exclusive to the declaring connection.",
)
.default_value("false");
pub const PREFETCH_COUNT: Field = Field::new(
    "prefetchCount",
    FieldType::Number,
    "Channel prefetch (basic.qos, global); 0 means no limit.",
)
.default_value("0")
.input_only();
pub const MAX_PRIORITY: Field = Field::new(
    "maxPriority",
    FieldType::Number,
    "Makes the queue a priority queue (x-max-priority, clamped to 255). Exact-case key.",
)
.exact_case()
.example("5");
pub const TTL: Field = Field::new(
    "ttl",
    FieldType::Duration,
    "Queue-level message TTL (x-message-ttl); a Go duration or integer seconds.",
)
.aliases(&["ttlInSeconds"])
.example("60s");
pub const RECONNECT_WAIT: Field = Field::new(
    "reconnectWaitInSeconds",
    FieldType::Duration,
    "Wait between reconnect attempts after the connection or channel is lost; a Go duration or integer seconds.",
)
.default_value("5");
pub const HEART_BEAT: Field = Field::new(
    "heartBeat",
    FieldType::Duration,
    "bindery extension: AMQP heartbeat asked of the broker (the lower of this and the broker's wins; 0 leaves it to the broker). A dead link is noticed after two missed heartbeats. amqp091-go, daprd's client, uses 10s.",
)
.default_value("10s");
pub const PUBLISH_TIMEOUT: Field = Field::new(
    "publishTimeout",
    FieldType::Duration,
    "bindery extension: bound on one `create`, reconnecting and the broker's confirm included; past it the call fails with a timeout error instead of waiting on a dead link.",
)
.default_value("15s")
.output_only();
pub const CA_CERT: Field = Field::new(
    "caCert",
    FieldType::String,
    "PEM CA certificate. TLS options are used only when caCert, clientCert and clientKey are all set. Exact-case key.",
)
.exact_case();
pub const CLIENT_CERT: Field = Field::new(
    "clientCert",
    FieldType::String,
    "PEM client certificate. Exact-case key.",
)
.exact_case();
pub const CLIENT_KEY: Field = Field::new(
    "clientKey",
    FieldType::String,
    "PEM client private key. Exact-case key.",
)
.exact_case()
.sensitive();
pub const EXTERNAL_SASL: Field = Field::new(
    "externalSasl",
    FieldType::Bool,
    "Authenticate with SASL EXTERNAL (the TLS client certificate) instead of user/password.",
)
.default_value("false");
pub const SASL_EXTERNAL: Field = Field::new(
    "saslExternal",
    FieldType::Bool,
    "Exact-case key that overrides externalSasl when present (daprd reads both).",
)
.exact_case();
pub const CONTENT_TYPE: Field = Field::new(
    "contentType",
    FieldType::String,
    "Listed by Dapr but not read from component metadata; set `contentType` in the request metadata instead (default text/plain).",
)
.output_only();

pub const FIELDS: &[Field] = &[
    HOST,
    QUEUE_NAME,
    DURABLE,
    DELETE_WHEN_UNUSED,
    EXCLUSIVE,
    PREFETCH_COUNT,
    MAX_PRIORITY,
    TTL,
    RECONNECT_WAIT,
    HEART_BEAT,
    PUBLISH_TIMEOUT,
    CA_CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    EXTERNAL_SASL,
    SASL_EXTERNAL,
    CONTENT_TYPE,
];

/// PEM material for a TLS connection with a client certificate.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub ca_cert: String,
    pub client_cert: String,
    pub client_key: Sensitive<String>,
}

/// The decoded component metadata.
#[derive(Debug, Clone)]
pub struct Config {
    /// The AMQP URI; redacted in `Debug`, as it usually carries a password.
    pub host: Sensitive<String>,
    pub queue_name: String,
    pub durable: bool,
    pub delete_when_unused: bool,
    pub exclusive: bool,
    pub prefetch_count: u16,
    pub max_priority: Option<u8>,
    pub queue_ttl: Option<Duration>,
    pub reconnect_wait: Duration,
    /// Heartbeat asked of the broker; zero leaves it to the broker.
    pub heartbeat: Duration,
    /// Bound on one output call.
    pub publish_timeout: Duration,
    pub tls: Option<TlsMaterial>,
    pub external_sasl: bool,
}

impl bindery_core::BindingConfig for Config {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }
}

impl Config {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let host = p.required_string(&HOST, "missing host address")?;
        let queue_name = p.required_string(&QUEUE_NAME, "missing queue Name")?;
        let max_priority = match p.raw(&MAX_PRIORITY) {
            None => None,
            Some(v) => {
                let parsed: u64 = v.trim().parse().map_err(|_| {
                    ConfigError::new(
                        MAX_PRIORITY.name,
                        format!("rabbitMQ binding error: can't parse maxPriority field: {v}"),
                    )
                })?;
                Some(parsed.min(255) as u8)
            }
        };
        let queue_ttl = match p.raw(&TTL) {
            None => None,
            Some(v) => parse_ttl(v).map_err(|e| ConfigError::new(TTL.name, e))?,
        };
        let tls = match (
            p.raw(&CA_CERT).filter(|v| !v.is_empty()),
            p.raw(&CLIENT_CERT).filter(|v| !v.is_empty()),
            p.raw(&CLIENT_KEY).filter(|v| !v.is_empty()),
        ) {
            (Some(ca), Some(cert), Some(key)) => {
                validate_pem(ca, cert, key)?;
                Some(TlsMaterial {
                    ca_cert: ca.to_owned(),
                    client_cert: cert.to_owned(),
                    client_key: Sensitive::new(key.to_owned()),
                })
            }
            _ => None,
        };
        let mut external_sasl = p.bool(&EXTERNAL_SASL);
        if let Some(v) = p.raw(&SASL_EXTERNAL) {
            external_sasl = is_truthy(v);
        }
        Ok(Self {
            host: Sensitive::new(host),
            queue_name,
            durable: p.bool(&DURABLE),
            delete_when_unused: p.bool(&DELETE_WHEN_UNUSED),
            exclusive: p.bool(&EXCLUSIVE),
            prefetch_count: p.number(&PREFETCH_COUNT)?.unwrap_or(0),
            max_priority,
            queue_ttl,
            reconnect_wait: p
                .duration(&RECONNECT_WAIT)?
                .unwrap_or(Duration::from_secs(5)),
            heartbeat: p.duration(&HEART_BEAT)?.unwrap_or(Duration::from_secs(10)),
            publish_timeout: p
                .duration(&PUBLISH_TIMEOUT)?
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(15)),
            tls,
            external_sasl,
        })
    }
}

/// Checks that the three PEM blocks parse, as daprd does at Init. Never echoes their content.
fn validate_pem(ca: &str, cert: &str, key: &str) -> Result<(), ConfigError> {
    let certs = |field: &str, pem: &str| {
        if crate::common::tls::has_certificates(pem) {
            Ok(())
        } else {
            Err(ConfigError::new(
                field,
                format!("invalid {field}: no valid PEM certificate found"),
            ))
        }
    };
    certs(CA_CERT.name, ca)?;
    certs(CLIENT_CERT.name, cert)?;
    if !crate::common::tls::has_private_key(key) {
        return Err(ConfigError::new(
            CLIENT_KEY.name,
            "invalid clientKey: no valid PEM private key found",
        ));
    }
    Ok(())
}

/// dapr/kit's `TryGetTTL` value rules: integer seconds (must be > 0) or a Go duration (a
/// negative one counts as 0). `Ok(None)` for an empty value.
pub fn parse_ttl(value: &str) -> Result<Option<Duration>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if let Ok(seconds) = v.parse::<i64>() {
        if seconds <= 0 {
            return Err(format!(
                "value must be higher than zero: actual is {seconds}"
            ));
        }
        return Ok(Some(Duration::from_secs(seconds as u64)));
    }
    if v.starts_with('-') && parse_go_duration(&v[1..]).is_ok() {
        return Ok(Some(Duration::ZERO));
    }
    parse_go_duration(v)
        .map(Some)
        .map_err(|_| format!("incorrect value for metadata ttl: {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::manifest::{Component, parse_documents};
    use bindery_core::testing::corpus_components;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn required_fields_use_daprd_texts() {
        let err = Config::from_properties(&props(&[("queueName", "q")])).unwrap_err();
        assert_eq!(err.message, "missing host address");
        let err = Config::from_properties(&props(&[("host", "amqp://x")])).unwrap_err();
        assert_eq!(err.message, "missing queue Name");
    }

    #[test]
    fn defaults() {
        let c =
            Config::from_properties(&props(&[("host", "amqp://x"), ("queueName", "q")])).unwrap();
        assert!(!c.durable && !c.delete_when_unused && !c.exclusive && !c.external_sasl);
        assert_eq!(c.prefetch_count, 0);
        assert_eq!(c.max_priority, None);
        assert_eq!(c.queue_ttl, None);
        assert_eq!(c.reconnect_wait, Duration::from_secs(5));
        assert!(c.tls.is_none());
    }

    #[test]
    fn fields_decode() {
        let c = Config::from_properties(&props(&[
            ("HOST", "amqp://x"),
            ("queuename", "q"),
            ("durable", "yes"),
            ("deleteWhenUnused", "1"),
            ("exclusive", "true"),
            ("prefetchCount", "7"),
            ("maxPriority", "300"),
            ("ttlInSeconds", "60"),
            ("reconnectWaitInSeconds", "250ms"),
        ]))
        .unwrap();
        assert!(c.durable && c.delete_when_unused && c.exclusive);
        assert_eq!(c.prefetch_count, 7);
        assert_eq!(c.max_priority, Some(255));
        assert_eq!(c.queue_ttl, Some(Duration::from_secs(60)));
        assert_eq!(c.reconnect_wait, Duration::from_millis(250));
        let c = Config::from_properties(&props(&[
            ("host", "amqp://x"),
            ("queueName", "q"),
            ("ttl", "2m"),
            ("ttlInSeconds", "5"),
            ("reconnectWaitInSeconds", "3"),
        ]))
        .unwrap();
        assert_eq!(c.queue_ttl, Some(Duration::from_secs(120)));
        assert_eq!(c.reconnect_wait, Duration::from_secs(3));
    }

    #[test]
    fn exact_case_keys() {
        let c = Config::from_properties(&props(&[
            ("host", "amqp://x"),
            ("queueName", "q"),
            ("maxpriority", "5"),
            ("externalSasl", "true"),
        ]))
        .unwrap();
        assert_eq!(c.max_priority, None, "maxPriority is exact-case");
        assert!(c.external_sasl);
        let c = Config::from_properties(&props(&[
            ("host", "amqp://x"),
            ("queueName", "q"),
            ("externalsasl", "true"),
            ("saslExternal", "false"),
        ]))
        .unwrap();
        assert!(!c.external_sasl, "saslExternal overrides");
        let err = Config::from_properties(&props(&[
            ("host", "amqp://x"),
            ("queueName", "q"),
            ("maxPriority", "high"),
        ]))
        .unwrap_err();
        assert!(err.message.contains("can't parse maxPriority"), "{err}");
    }

    #[test]
    fn tls_only_with_all_three() {
        let c = Config::from_properties(&props(&[
            ("host", "amqp://x"),
            ("queueName", "q"),
            ("caCert", "garbage"),
        ]))
        .unwrap();
        assert!(c.tls.is_none());
        let err = Config::from_properties(&props(&[
            ("host", "amqp://x"),
            ("queueName", "q"),
            ("caCert", "garbage"),
            ("clientCert", "garbage"),
            ("clientKey", "garbage"),
        ]))
        .unwrap_err();
        assert!(!err.message.contains("garbage"), "{err}");
    }

    #[test]
    fn ttl_rules() {
        assert_eq!(parse_ttl("60").unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(
            parse_ttl("1500ms").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_ttl("-5s").unwrap(), Some(Duration::ZERO));
        assert_eq!(parse_ttl("").unwrap(), None);
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("-3").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    /// `tests/config/bindings/rabbitmq/bindings.yml` from components-contrib (conformance).
    const CORPUS: &str = r#"apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: binding-topic
  namespace: default
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - name: queueName
    value: queue1
  - name: host
    value: "amqp://localhost:5672"
  - name: durable
    value: true
  - name: deleteWhenUnused
    value: false
  - name: ttlInSeconds
    value: 60
  - name: prefetchCount
    value: 0
  - name: exclusive
    value: false
  - name: maxPriority
    value: 5
  - name: contentType
    value: "text/plain"
"#;

    #[test]
    fn corpus_file_decodes() {
        let doc = parse_documents("bindings.yml", CORPUS).remove(0).unwrap();
        let mut components = vec![Component::from_document(&doc).unwrap().unwrap()];
        let corpus = corpus_components(
            &crate::rabbitmq::DESCRIPTOR,
            &["config/bindings/rabbitmq/bindings.yml"],
        );
        components.extend(corpus.unwrap_or_default().into_iter().map(|c| c.component));
        for component in components {
            assert_eq!(component.spec_type, "bindings.rabbitmq");
            let p = Properties::from_pairs(
                component
                    .metadata
                    .iter()
                    .map(|i| (i.name.as_str(), i.value.as_str())),
            );
            let c = Config::from_properties(&p).unwrap();
            assert_eq!(c.queue_name, "queue1");
            assert!(c.durable && !c.exclusive && !c.delete_when_unused);
            assert_eq!(c.queue_ttl, Some(Duration::from_secs(60)));
            assert_eq!(c.max_priority, Some(5));
            assert_eq!(c.prefetch_count, 0);
        }
    }

    #[test]
    fn debug_hides_the_uri() {
        let c = Config::from_properties(&props(&[
            ("host", "amqp://guest:hunter2@localhost:5672"),
            ("queueName", "q"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("queue_name"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
