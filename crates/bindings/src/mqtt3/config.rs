//! The mqtt3 binding's metadata. Where Dapr's `metadata.yaml` and its code disagree, the code
//! wins: `consumerID` is required, `cleanSession` defaults to false, `backOffMaxRetries` to 0.

use std::time::Duration;

use bindery_core::descriptor::{Field, FieldType};
use bindery_core::{ConfigError, Properties, Sensitive};

use crate::common::escape::percent_decode_lossy;
use crate::common::tls::{has_certificates, has_private_key};

pub const URL: Field = Field::new(
    "url",
    FieldType::String,
    "Broker address tcp://[user][:password]@host[:port]. Schemes tcp and mqtt are plain; ssl, tls, mqtts and tcps use TLS.",
)
.required()
.sensitive()
.example("tcp://localhost:1883");
pub const TOPIC: Field = Field::new(
    "topic",
    FieldType::String,
    "Topic filter to subscribe to (wildcards allowed) and default topic to publish to.",
)
.required()
.example("mytopic");
pub const CONSUMER_ID: Field = Field::new(
    "consumerID",
    FieldType::String,
    "Client ID base; the connections use <consumerID>-consumer and <consumerID>-producer. Use {uuid} for replicas.",
)
.required()
.example("myapp");
pub const RETAIN: Field = Field::new(
    "retain",
    FieldType::Bool,
    "Retain flag of published messages. bindery extension: a request metadata `retain` overrides it per message.",
)
.default_value("false");
pub const CLEAN_SESSION: Field = Field::new(
    "cleanSession",
    FieldType::Bool,
    "MQTT clean-session flag. With false the broker keeps the subscription and redelivers unacknowledged messages on reconnect.",
)
.default_value("false");
pub const BACKOFF_MAX_RETRIES: Field = Field::new(
    "backOffMaxRetries",
    FieldType::Number,
    "How often a message the app refused is handed again before it is left unacknowledged; -1 retries forever.",
)
.default_value("0")
.input_only();
pub const BACKOFF_INTERVAL: Field = Field::new(
    "backOffInterval",
    FieldType::Duration,
    "bindery extension: wait between those retries (daprd always waits 5s).",
)
.default_value("5s")
.input_only();
pub const KEEP_ALIVE: Field = Field::new(
    "keepAlive",
    FieldType::Duration,
    "bindery extension: MQTT keep-alive. A ping goes out this often and a connection whose ping is not answered by the next one is dropped and reconnected, so a dead link is noticed within twice this; the broker drops a client silent for 1.5 times this. Whole seconds, at least 1s (0 turns keep-alive off). daprd's paho client uses 30s plus a 10s ping timeout.",
)
.default_value("10s");
pub const CA_CERT: Field = Field::new("caCert", FieldType::String, "PEM CA certificate for TLS.");
pub const CLIENT_CERT: Field = Field::new(
    "clientCert",
    FieldType::String,
    "PEM client certificate for TLS client authentication.",
);
pub const CLIENT_KEY: Field = Field::new(
    "clientKey",
    FieldType::String,
    "PEM private key of the client certificate.",
)
.sensitive();
pub const QOS: Field = Field::new(
    "qos",
    FieldType::Number,
    "Deprecated and ignored (a warning is logged): QoS is always 1.",
)
.exact_case();

pub const FIELDS: &[Field] = &[
    URL,
    TOPIC,
    CONSUMER_ID,
    RETAIN,
    CLEAN_SESSION,
    BACKOFF_MAX_RETRIES,
    BACKOFF_INTERVAL,
    KEEP_ALIVE,
    CA_CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    QOS,
];

/// Where and how to connect, taken from `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<Sensitive<String>>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub broker: Broker,
    pub topic: String,
    pub consumer_id: String,
    pub retain: bool,
    pub clean_session: bool,
    /// `None` retries forever.
    pub max_retries: Option<u64>,
    pub retry_interval: Duration,
    /// Whole seconds, zero or at least one (rumqttc refuses less).
    pub keep_alive: Duration,
    pub ca_cert: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<Sensitive<String>>,
    /// `qos` was given: log the deprecation when building.
    pub qos_given: bool,
}

fn non_empty<'a>(p: &'a Properties, field: &Field) -> Option<&'a str> {
    p.raw(field).filter(|v| !v.is_empty())
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
        let url = p.required_string(&URL, "missing url")?;
        let topic = p.required_string(&TOPIC, "missing topic")?;
        let consumer_id = p.required_string(&CONSUMER_ID, "missing consumerID")?;
        let ca_cert = non_empty(p, &CA_CERT).map(str::to_owned);
        if let Some(ca) = &ca_cert
            && !has_certificates(ca)
        {
            return Err(ConfigError::new(CA_CERT.name, "invalid ca certificate"));
        }
        let client_cert = non_empty(p, &CLIENT_CERT).map(str::to_owned);
        if let Some(cert) = &client_cert
            && !has_certificates(cert)
        {
            return Err(ConfigError::new(
                CLIENT_CERT.name,
                "invalid client certificate",
            ));
        }
        let client_key = non_empty(p, &CLIENT_KEY).map(str::to_owned);
        if let Some(key) = &client_key
            && !has_private_key(key)
        {
            return Err(ConfigError::new(
                CLIENT_KEY.name,
                "invalid client certificate key",
            ));
        }
        let retries: i64 = p.number(&BACKOFF_MAX_RETRIES)?.unwrap_or(0);
        Ok(Self {
            broker: parse_url(&url).map_err(|e| ConfigError::new(URL.name, e))?,
            topic,
            consumer_id,
            retain: p.bool(&RETAIN),
            clean_session: p.bool(&CLEAN_SESSION),
            max_retries: if retries < 0 {
                None
            } else {
                Some(retries as u64)
            },
            retry_interval: p
                .duration(&BACKOFF_INTERVAL)?
                .unwrap_or(Duration::from_secs(5)),
            keep_alive: keep_alive(p)?,
            ca_cert,
            client_cert,
            client_key: client_key.map(Sensitive::new),
            qos_given: non_empty(p, &QOS).is_some(),
        })
    }
}

/// `keepAlive` in whole seconds: zero, or at least one second.
fn keep_alive(p: &Properties) -> Result<Duration, ConfigError> {
    let Some(d) = p.duration(&KEEP_ALIVE)? else {
        return Ok(Duration::from_secs(10));
    };
    if !d.is_zero() && d < Duration::from_secs(1) {
        return Err(ConfigError::new(
            KEEP_ALIVE.name,
            "invalid keepAlive: must be 0 or at least 1s",
        ));
    }
    Ok(Duration::from_secs(d.as_secs()))
}

/// Parses the broker URL the way daprd's paho client reads it. Errors never quote the URL,
/// which may hold a password.
pub fn parse_url(raw: &str) -> Result<Broker, String> {
    let parsed = url::Url::parse(raw).map_err(|e| format!("invalid url: {e}"))?;
    let tls = match parsed.scheme() {
        "tcp" | "mqtt" => false,
        "ssl" | "tls" | "mqtts" | "tcps" => true,
        other => return Err(format!("unsupported url scheme {other:?}")),
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "invalid url: missing host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
    let username = Some(percent_decode_lossy(parsed.username())).filter(|u| !u.is_empty());
    let password = parsed
        .password()
        .map(percent_decode_lossy)
        .map(Sensitive::new);
    Ok(Broker {
        host,
        port,
        tls,
        username,
        password,
    })
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
        let err =
            Config::from_properties(&props(&[("topic", "t"), ("consumerID", "c")])).unwrap_err();
        assert_eq!(err.message, "missing url");
        let err = Config::from_properties(&props(&[("url", "tcp://h:1"), ("consumerID", "c")]))
            .unwrap_err();
        assert_eq!(err.message, "missing topic");
        let err =
            Config::from_properties(&props(&[("url", "tcp://h:1"), ("topic", "t")])).unwrap_err();
        assert_eq!(err.message, "missing consumerID");
    }

    #[test]
    fn defaults_follow_the_code() {
        let c = Config::from_properties(&props(&[
            ("url", "tcp://h"),
            ("topic", "t"),
            ("consumerid", "c"),
        ]))
        .unwrap();
        assert!(!c.retain && !c.clean_session && !c.qos_given);
        assert_eq!(c.max_retries, Some(0));
        assert_eq!(c.retry_interval, Duration::from_secs(5));
        assert_eq!(c.broker.port, 1883);
        assert!(!c.broker.tls);
    }

    #[test]
    fn fields_decode() {
        let c = Config::from_properties(&props(&[
            ("URL", "mqtts://us%40er:p%3Aw@broker.example:8884"),
            ("topic", "a/+/b"),
            ("consumerID", "c"),
            ("retain", "true"),
            ("cleanSession", "yes"),
            ("backOffMaxRetries", "-1"),
            ("backOffInterval", "100ms"),
            ("qos", "2"),
        ]))
        .unwrap();
        assert!(c.retain && c.clean_session && c.qos_given);
        assert_eq!(c.max_retries, None);
        assert_eq!(c.retry_interval, Duration::from_millis(100));
        assert_eq!(
            c.broker,
            Broker {
                host: "broker.example".into(),
                port: 8884,
                tls: true,
                username: Some("us@er".into()),
                password: Some(Sensitive::new("p:w".into())),
            }
        );
        assert!(!format!("{c:?}").contains("p:w"));
    }

    #[test]
    fn schemes() {
        for (url, tls) in [
            ("tcp://h", false),
            ("mqtt://h", false),
            ("ssl://h", true),
            ("tls://h", true),
            ("tcps://h", true),
        ] {
            assert_eq!(parse_url(url).unwrap().tls, tls, "{url}");
        }
        assert_eq!(parse_url("ssl://h").unwrap().port, 8883);
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn bad_pem_is_refused() {
        let err = Config::from_properties(&props(&[
            ("url", "tcp://h"),
            ("topic", "t"),
            ("consumerID", "c"),
            ("caCert", "nope"),
        ]))
        .unwrap_err();
        assert_eq!(err.message, "invalid ca certificate");
    }

    const MOSQUITTO: &str = r#"apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: binding-mqtt-mosquitto
spec:
  type: bindings.mqtt3
  version: v1
  metadata:
  - name: url
    value: "tcp://localhost:1883"
  - name: consumerID
    value: "testBindingConsumer"
  - name: topic
    value: "testBindingTopic"
  - name: retain
    value: false
  - name: qos
    value: 1
  - name: cleanSession
    value: false
  - name: backOffMaxRetries
    value: 5
"#;

    #[test]
    fn corpus_files_decode() {
        let doc = parse_documents("bindings.yml", MOSQUITTO)
            .remove(0)
            .unwrap();
        let mut components = vec![Component::from_document(&doc).unwrap().unwrap()];
        let corpus = corpus_components(
            &crate::mqtt3::DESCRIPTOR,
            &[
                "config/bindings/mqtt3/mosquitto/bindings.yml",
                "config/bindings/mqtt3/emqx/bindings.yml",
                "config/bindings/mqtt3/vernemq/bindings.yml",
            ],
        );
        components.extend(corpus.unwrap_or_default().into_iter().map(|c| c.component));
        for component in components {
            assert_eq!(component.spec_type, "bindings.mqtt3");
            let p = Properties::from_pairs(
                component
                    .metadata
                    .iter()
                    .map(|i| (i.name.as_str(), i.value.as_str())),
            );
            let c = Config::from_properties(&p).unwrap();
            assert_eq!(c.topic, "testBindingTopic");
            assert_eq!(c.consumer_id, "testBindingConsumer");
            assert_eq!(c.max_retries, Some(5));
            assert!(!c.clean_session && !c.retain && c.qos_given);
        }
    }
}
