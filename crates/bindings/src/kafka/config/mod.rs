//! The metadata of `bindings.kafka`, decoded the way daprd's shared Kafka code does it
//! (`common/component/kafka/metadata.go`): mapstructure names matched case-insensitively, with
//! a handful of keys daprd reads with an exact-case map lookup, and the legacy `authRequired`
//! flag upgraded to `authType` first.
//!
//! The decoder runs in daprd's order, so the same metadata fails with the same error: the
//! legacy auth upgrade, the typed (mapstructure) pass, then the checks of [`auth`], [`tls`],
//! [`consumer`] and [`producer`] interleaved as `metadata.go` makes them.

use std::time::Duration;

use bindery_core::{ConfigError, ConfigWarning, Field, Properties, Sensitive};
use regex::Regex;

mod auth;
mod consumer;
mod fields;
mod parse;
mod producer;
mod tls;

pub use auth::{AuthType, SaslMechanism};
pub use consumer::{
    BackOff, BackOffConfig, BackOffPolicy, InitialOffset, OnAppFailure, RebalanceStrategy,
};
pub use fields::*;
pub use producer::{Compression, RequiredAcks};
pub use tls::TlsConfig;

use parse::{err, go_atoi, valid_kafka_version};

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: Vec<String>,
    pub topics: Vec<String>,
    pub publish_topic: Option<String>,
    pub consumer_group: String,
    pub client_id: String,
    pub auth_type: AuthType,
    pub sasl_username: String,
    pub sasl_password: Sensitive<String>,
    pub sasl_mechanism: SaslMechanism,
    pub initial_offset: InitialOffset,
    pub max_message_bytes: usize,
    pub on_app_failure: OnAppFailure,
    pub consume_retry_interval: Duration,
    pub backoff: BackOffConfig,
    pub heartbeat_interval: Duration,
    pub session_timeout: Duration,
    pub version: Option<String>,
    pub compression: Compression,
    pub required_acks: RequiredAcks,
    pub producer_retry_max: u32,
    pub dial_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub metadata_refresh_interval: Duration,
    pub keep_alive: Duration,
    pub rebalance_strategy: RebalanceStrategy,
    /// The value given when it was not one daprd knows (daprd warns and uses range).
    pub unknown_rebalance_strategy: Option<String>,
    pub escape_headers: bool,
    pub exclude_header_meta_regex: Option<Regex>,
    pub tls: TlsConfig,
    pub consumer_fetch_min: i32,
    pub consumer_fetch_default: i32,
    /// The runtime's `maxConcurrentDeliveries` (bindery only): records in delivery at once.
    /// `None`: one at a time per partition, partitions in parallel (daprd's way).
    pub max_concurrent_deliveries: Option<usize>,
}

/// What `encoding/pem.Decode` would find a block in (a BEGIN line followed by its END line).
pub use crate::common::tls::contains_pem_block as looks_like_pem;

fn duration_or(p: &Properties, field: &Field, fallback: Duration) -> Result<Duration, ConfigError> {
    Ok(p.duration(field)?.unwrap_or(fallback))
}

/// The typed (mapstructure) pass daprd makes first, so its errors win.
struct Typed {
    max_message_bytes: i64,
    consume_retry_enabled: bool,
    consume_retry_interval: Duration,
    heartbeat_interval: Duration,
    session_timeout: Duration,
    escape_headers: bool,
    tls_disable: bool,
    skip_verify: bool,
    metadata_refresh_interval: Duration,
    keep_alive: Duration,
    dial_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    producer_retry_max: i64,
}

impl Typed {
    fn decode(p: &Properties) -> Result<Self, ConfigError> {
        let typed = Self {
            max_message_bytes: p.number::<i64>(&MAX_MESSAGE_BYTES)?.unwrap_or(0),
            consume_retry_enabled: p.bool(&CONSUME_RETRY_ENABLED),
            consume_retry_interval: duration_or(
                p,
                &CONSUME_RETRY_INTERVAL,
                Duration::from_millis(100),
            )?,
            heartbeat_interval: duration_or(p, &HEARTBEAT_INTERVAL, Duration::from_secs(3))?,
            session_timeout: duration_or(p, &SESSION_TIMEOUT, Duration::from_secs(10))?,
            escape_headers: p.bool(&ESCAPE_HEADERS),
            tls_disable: p.bool(&DISABLE_TLS),
            skip_verify: p.bool(&SKIP_VERIFY),
            metadata_refresh_interval: duration_or(
                p,
                &TOPIC_METADATA_REFRESH,
                Duration::from_secs(8 * 60),
            )?,
            keep_alive: duration_or(p, &KEEP_ALIVE, Duration::ZERO)?,
            dial_timeout: duration_or(p, &DIAL_TIMEOUT, Duration::from_secs(30))?,
            read_timeout: duration_or(p, &READ_TIMEOUT, Duration::from_secs(30))?,
            write_timeout: duration_or(p, &WRITE_TIMEOUT, Duration::from_secs(30))?,
            producer_retry_max: {
                let _metadata_timeout = duration_or(p, &METADATA_TIMEOUT, Duration::ZERO)?;
                p.number::<i64>(&PRODUCER_RETRY_MAX)?.unwrap_or(5)
            },
        };
        let _ = p.bool(&SCHEMA_CACHING_ENABLED);
        let _ = p.bool(&USE_AVRO_JSON);
        let _ = p.duration(&SCHEMA_LATEST_VERSION_CACHE_TTL)?;
        Ok(typed)
    }

    /// Zero durations fall back to sarama's defaults.
    fn apply_defaults(&mut self) {
        if self.metadata_refresh_interval.is_zero() {
            self.metadata_refresh_interval = Duration::from_secs(8 * 60);
        }
        for d in [
            &mut self.dial_timeout,
            &mut self.read_timeout,
            &mut self.write_timeout,
        ] {
            if d.is_zero() {
                *d = Duration::from_secs(30);
            }
        }
    }
}

fn brokers(p: &Properties) -> Result<Vec<String>, ConfigError> {
    let brokers_raw = p.get(BROKERS.name).unwrap_or("");
    if brokers_raw.is_empty() {
        return Err(err(
            BROKERS.name,
            "kafka error: missing 'brokers' attribute",
        ));
    }
    Ok(brokers_raw.split(',').map(str::to_owned).collect())
}

fn version(p: &Properties) -> Result<Option<String>, ConfigError> {
    match p.get(VERSION.name).filter(|v| !v.is_empty()) {
        Some(v) if !valid_kafka_version(v) => {
            Err(err(VERSION.name, "kafka error: invalid kafka version"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// Accepted for compatibility (sarama's channel size): only checked to be a number.
fn check_channel_buffer_size(p: &Properties) -> Result<(), ConfigError> {
    if let Some(v) = p.exact(CHANNEL_BUFFER_SIZE.name).filter(|v| !v.is_empty()) {
        go_atoi::<i64>(v, "Atoi").map_err(|e| err(CHANNEL_BUFFER_SIZE.name, e))?;
    }
    Ok(())
}

/// daprd compiles this with MustCompile (a bad pattern panics daprd); we refuse it.
fn exclude_header_meta_regex(p: &Properties) -> Result<Option<Regex>, ConfigError> {
    let pattern = p
        .exact(EXCLUDE_HEADER_META_REGEX.name)
        .or_else(|| p.get(EXCLUDE_HEADER_META_REGEX.name))
        .filter(|v| !v.is_empty());
    pattern
        .map(|pattern| {
            Regex::new(pattern).map_err(|e| {
                err(
                    EXCLUDE_HEADER_META_REGEX.name,
                    format!("kafka error: invalid excludeHeaderMetaRegex: {e}"),
                )
            })
        })
        .transpose()
}

fn client_id(p: &Properties) -> String {
    match p.get(CLIENT_ID.name).or_else(|| p.get("clientId")) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "sarama".to_owned(),
    }
}

impl bindery_core::BindingConfig for KafkaConfig {
    /// Refuses the authentication types bindery cannot use, so `validate` says so too.
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let config = Self::decode_with(p, warnings)?;
        config.ensure_supported()?;
        Ok(config)
    }

    fn build_error(e: ConfigError) -> bindery_core::BindingError {
        super::error::KafkaBindingError::Config(e).into()
    }
}

impl KafkaConfig {
    /// Decodes and validates the metadata like daprd's `Init` (no I/O), returning daprd's error
    /// texts. Authentication types bindery cannot use still decode; see
    /// [`KafkaConfig::ensure_supported`].
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        Self::decode_with(p, &mut Vec::new())
    }

    /// Every check in daprd's order: the first failing one gives the error.
    fn decode_with(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let auth_type_raw = auth::raw_auth_type(p, warnings)?;
        let mut typed = Typed::decode(p)?;
        let consumer_group = consumer::consumer_group(p);
        let initial_offset = consumer::initial_offset(p)?;
        let brokers = brokers(p)?;
        let ca_cert = tls::ca_cert(p)?;
        let auth = auth::decode(p, &auth_type_raw, ca_cert.is_some())?;
        tls::warn_skip_verify(typed.skip_verify, warnings);
        let consume_retry_interval =
            consumer::consume_retry_interval(p, typed.consume_retry_interval)?;
        let version = version(p)?;
        let compression = producer::compression(p)?;
        check_channel_buffer_size(p)?;
        let (consumer_fetch_min, consumer_fetch_default) = consumer::fetch_sizes(p)?;
        typed.apply_defaults();
        let required_acks = producer::required_acks(p, warnings)?;
        let producer_retry_max = producer::retry_max(typed.producer_retry_max)?;
        auth::check_after_metadata(p, auth.auth_type, typed.tls_disable)?;
        let (rebalance_strategy, unknown_rebalance_strategy) = consumer::rebalance_strategy(p);
        let backoff = consumer::decode_backoff(p)?;
        let on_app_failure = consumer::on_app_failure(p, typed.consume_retry_enabled)?;
        let exclude_header_meta_regex = exclude_header_meta_regex(p)?;
        let tls = tls::config(&auth, ca_cert, typed.tls_disable, typed.skip_verify);
        let max_concurrent_deliveries = p
            .number::<usize>(&bindery_core::resiliency::MAX_CONCURRENT_DELIVERIES)?
            .filter(|n| *n > 0);
        Ok(Self {
            brokers,
            topics: consumer::topics(p),
            publish_topic: p
                .exact(PUBLISH_TOPIC.name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            consumer_group,
            client_id: client_id(p),
            auth_type: auth.auth_type,
            sasl_username: auth.sasl_username,
            sasl_password: auth.sasl_password,
            sasl_mechanism: auth::sasl_mechanism(p),
            initial_offset,
            max_message_bytes: usize::try_from(typed.max_message_bytes).unwrap_or(0),
            on_app_failure,
            consume_retry_interval,
            backoff,
            heartbeat_interval: typed.heartbeat_interval,
            session_timeout: typed.session_timeout,
            version,
            compression,
            required_acks,
            producer_retry_max,
            dial_timeout: typed.dial_timeout,
            read_timeout: typed.read_timeout,
            write_timeout: typed.write_timeout,
            metadata_refresh_interval: typed.metadata_refresh_interval,
            keep_alive: typed.keep_alive,
            rebalance_strategy,
            unknown_rebalance_strategy,
            escape_headers: typed.escape_headers,
            exclude_header_meta_regex,
            tls,
            consumer_fetch_min,
            consumer_fetch_default,
            max_concurrent_deliveries,
        })
    }

    /// Refuses what daprd accepts but bindery cannot do.
    pub fn ensure_supported(&self) -> Result<(), ConfigError> {
        if !self.auth_type.is_supported() {
            return Err(err(
                AUTH_TYPE.name,
                format!(
                    "kafka error: authType '{}' is not supported by bindery (supported: none, \
                     password, mtls, certificate)",
                    self.auth_type.as_str()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::manifest::{Component, parse_documents};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("brokers", "localhost:9092"), ("authType", "none")]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Properties {
        let mut v = base();
        v.extend_from_slice(extra);
        props(&v)
    }

    fn error_of(p: &Properties) -> String {
        KafkaConfig::from_properties(p).unwrap_err().message
    }

    #[test]
    fn defaults_follow_the_code() {
        let c = KafkaConfig::from_properties(&with(&[])).unwrap();
        assert_eq!(c.brokers, vec!["localhost:9092"]);
        assert!(c.topics.is_empty());
        assert_eq!(c.publish_topic, None);
        assert_eq!(c.client_id, "sarama");
        assert_eq!(c.initial_offset, InitialOffset::Newest);
        assert_eq!(c.max_message_bytes, 0);
        assert_eq!(c.on_app_failure, OnAppFailure::Skip);
        assert_eq!(c.consume_retry_interval, Duration::from_millis(100));
        assert_eq!(c.backoff, BackOffConfig::default());
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.session_timeout, Duration::from_secs(10));
        assert_eq!(c.metadata_refresh_interval, Duration::from_secs(480));
        assert_eq!(c.required_acks, RequiredAcks::All);
        assert_eq!(c.producer_retry_max, 5);
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.rebalance_strategy, RebalanceStrategy::Range);
        assert!(!c.tls.enabled, "authType none never uses TLS");
        assert_eq!(c.sasl_mechanism, SaslMechanism::Plain);
    }

    #[test]
    fn required_fields_and_their_daprd_errors() {
        assert_eq!(
            error_of(&props(&[("authType", "none")])),
            "kafka error: missing 'brokers' attribute"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1")])),
            "kafka error: 'authType' attribute was missing or empty"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "kerberos")])),
            "kafka error: invalid value for 'authType' attribute"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "password")])),
            "kafka error: missing SASL Username for authType 'password'"
        );
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "password"),
                ("saslUsername", "u")
            ])),
            "kafka error: missing SASL Password for authType 'password'"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "certificate")])),
            "missing CA certificate property 'caCert' for authType 'certificate'"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "oidc")])),
            "kafka error: missing OIDC Token Endpoint for authType 'oidc'"
        );
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authType", "awsiam")])),
            "failed to validate AWS IAM authentication fields: metadata property AWSRegion is missing"
        );
    }

    #[test]
    fn legacy_auth_required_upgrades_to_auth_type() {
        let c =
            KafkaConfig::from_properties(&props(&[("brokers", "a:1"), ("authRequired", "false")]))
                .unwrap();
        assert_eq!(c.auth_type, AuthType::None);
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authRequired", "true"),
            ("saslUsername", "u"),
            ("saslPassword", "p"),
        ]))
        .unwrap();
        assert_eq!(c.auth_type, AuthType::Password);
        assert!(c.tls.enabled, "password auth uses TLS unless disableTls");
        assert_eq!(
            error_of(&props(&[("brokers", "a:1"), ("authRequired", "yes")])),
            "kafka error: invalid value for 'authRequired' attribute"
        );
        // authRequired true without a password means mTLS.
        let c = KafkaConfig::from_properties(&props(&[("brokers", "a:1"), ("authRequired", "1")]))
            .unwrap();
        assert_eq!(c.auth_type, AuthType::Mtls);
        // An explicit authType wins.
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "NONE"),
            ("authRequired", "true"),
        ]))
        .unwrap();
        assert_eq!(c.auth_type, AuthType::None);
    }

    #[test]
    fn exact_case_keys() {
        let c = KafkaConfig::from_properties(&with(&[
            ("PublishTopic", "ignored"),
            ("Topics", "ignored"),
            ("InitialOffset", "bogus"),
        ]))
        .unwrap();
        assert_eq!(c.publish_topic, None);
        assert!(c.topics.is_empty());
        assert_eq!(c.initial_offset, InitialOffset::Newest);
        let c = KafkaConfig::from_properties(&with(&[
            ("publishTopic", "out"),
            ("topics", "a, b"),
            ("initialOffset", "OLDEST"),
        ]))
        .unwrap();
        assert_eq!(c.publish_topic.as_deref(), Some("out"));
        assert_eq!(c.topics, vec!["a", " b"], "no trimming, as in daprd");
        assert_eq!(c.initial_offset, InitialOffset::Oldest);
        assert_eq!(
            error_of(&with(&[("initialOffset", "latest")])),
            "kafka error: invalid initialOffset: latest"
        );
    }

    #[test]
    fn consumer_group_falls_back_to_consumer_id() {
        let c = KafkaConfig::from_properties(&with(&[("CONSUMERID", "cid")])).unwrap();
        assert_eq!(c.consumer_group, "cid");
        let c =
            KafkaConfig::from_properties(&with(&[("consumerGroup", ""), ("consumerID", "cid")]))
                .unwrap();
        assert_eq!(c.consumer_group, "cid");
        let c =
            KafkaConfig::from_properties(&with(&[("consumergroup", "g"), ("consumerID", "cid")]))
                .unwrap();
        assert_eq!(c.consumer_group, "g");
    }

    #[test]
    fn retry_settings() {
        let c = KafkaConfig::from_properties(&with(&[("consumeRetryEnabled", "true")])).unwrap();
        assert_eq!(c.on_app_failure, OnAppFailure::Retry);
        let c = KafkaConfig::from_properties(&with(&[
            ("consumeRetryEnabled", "true"),
            ("onAppFailure", "skip"),
        ]))
        .unwrap();
        assert_eq!(c.on_app_failure, OnAppFailure::Skip);
        let c = KafkaConfig::from_properties(&with(&[("onappfailure", "Retry")])).unwrap();
        assert_eq!(c.on_app_failure, OnAppFailure::Retry);
        assert!(error_of(&with(&[("onAppFailure", "drop")])).contains("onAppFailure"));
        // consumeRetryInterval: exact key + bare number = ms; other spellings = seconds.
        let c = KafkaConfig::from_properties(&with(&[("consumeRetryInterval", "200")])).unwrap();
        assert_eq!(c.consume_retry_interval, Duration::from_millis(200));
        let c = KafkaConfig::from_properties(&with(&[("consumeretryinterval", "2")])).unwrap();
        assert_eq!(c.consume_retry_interval, Duration::from_secs(2));
        let c = KafkaConfig::from_properties(&with(&[("consumeRetryInterval", "1s")])).unwrap();
        assert_eq!(c.consume_retry_interval, Duration::from_secs(1));
        // backOff*: exact prefix, case-insensitive rest, bare numbers are ms.
        let c = KafkaConfig::from_properties(&with(&[
            ("backOffDuration", "50"),
            ("backOffMAXRETRIES", "3"),
            ("backOffPolicy", "Exponential"),
            ("backoffMultiplier", "9"),
        ]))
        .unwrap();
        assert_eq!(c.backoff.duration, Duration::from_millis(50));
        assert_eq!(c.backoff.max_retries, 3);
        assert_eq!(c.backoff.policy, BackOffPolicy::Exponential);
        assert_eq!(c.backoff.multiplier, 1.5, "wrong-case prefix is ignored");
        assert!(
            error_of(&with(&[("backOffPolicy", "linear")]))
                .contains("unexpected back off policy type: linear")
        );
    }

    #[test]
    fn backoff_sequences() {
        let mut b = BackOffConfig {
            max_retries: 2,
            duration: Duration::from_millis(7),
            ..Default::default()
        }
        .start();
        assert_eq!(b.next_delay(), Some(Duration::from_millis(7)));
        assert_eq!(b.next_delay(), Some(Duration::from_millis(7)));
        assert_eq!(b.next_delay(), None);
        let mut b = BackOffConfig::default().start();
        for _ in 0..100 {
            assert_eq!(
                b.next_delay(),
                Some(Duration::from_secs(5)),
                "default retries forever"
            );
        }
        let mut b = BackOffConfig {
            policy: BackOffPolicy::Exponential,
            initial_interval: Duration::from_millis(100),
            randomization_factor: 0.0,
            multiplier: 2.0,
            max_interval: Duration::from_millis(300),
            ..Default::default()
        }
        .start();
        let delays: Vec<_> = (0..4)
            .map(|_| b.next_delay().unwrap().as_millis())
            .collect();
        assert_eq!(delays, vec![100, 200, 300, 300]);
    }

    #[test]
    fn other_validations() {
        assert_eq!(
            error_of(&with(&[("version", "2.0.0.0")])),
            "kafka error: invalid kafka version"
        );
        assert!(KafkaConfig::from_properties(&with(&[("version", "0.10.2.0")])).is_ok());
        assert!(KafkaConfig::from_properties(&with(&[("version", "3.6.0")])).is_ok());
        assert_eq!(
            error_of(&with(&[("compression", "brotli")])),
            "kafka error: invalid compression: brotli"
        );
        assert_eq!(
            error_of(&with(&[("producerRequiredAcks", "some")])),
            r#"kafka error: invalid value for 'producerRequiredAcks': "some" (must be "all", "local", or "none")"#
        );
        assert_eq!(
            error_of(&with(&[("producerRetryMax", "-1")])),
            "kafka error: invalid value for 'producerRetryMax': -1 (must be >= 0)"
        );
        assert_eq!(
            error_of(&with(&[("consumerFetchMin", "x")])),
            r#"strconv.ParseInt: parsing "x": invalid syntax"#
        );
        assert_eq!(
            error_of(&with(&[("caCert", "not a pem")])),
            "kafka error: invalid ca certificate"
        );
        assert!(error_of(&with(&[("maxMessageBytes", "big")])).contains("big"));
        assert!(
            error_of(&with(&[("excludeHeaderMetaRegex", "(")])).contains("excludeHeaderMetaRegex")
        );
        let c =
            KafkaConfig::from_properties(&with(&[("consumerGroupRebalanceStrategy", "Sticky")]))
                .unwrap();
        assert_eq!(c.rebalance_strategy, RebalanceStrategy::Sticky);
        let c = KafkaConfig::from_properties(&with(&[("consumerGroupRebalanceStrategy", "x")]))
            .unwrap();
        assert_eq!(c.rebalance_strategy, RebalanceStrategy::Range);
        assert_eq!(c.unknown_rebalance_strategy.as_deref(), Some("x"));
    }

    #[test]
    fn tls_and_sasl() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "password"),
            ("saslUsername", "u"),
            ("saslPassword", "p"),
            ("saslMechanism", "SHA-512"),
            ("disableTls", "true"),
        ]))
        .unwrap();
        assert_eq!(c.sasl_mechanism, SaslMechanism::ScramSha512);
        assert!(!c.tls.enabled);
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "mtls"),
            ("caCert", pem),
            ("clientCert", pem),
            ("clientKey", pem),
            ("skipVerify", "true"),
        ]))
        .unwrap();
        assert!(c.tls.enabled && c.tls.skip_verify);
        assert!(c.tls.client_cert.is_some() && c.tls.ca_cert.is_some());
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "mtls"),
                ("clientCert", pem)
            ])),
            "kafka error: clientKey or clientCert is missing"
        );
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "mtls"),
                ("disableTls", "true")
            ])),
            "kafka: cannot configure mTLS authentication when TLSDisable is 'true'"
        );
        assert_eq!(
            error_of(&props(&[
                ("brokers", "a:1"),
                ("authType", "mtls"),
                ("clientCert", "x"),
                ("clientKey", pem)
            ])),
            "kafka error: invalid client certificate"
        );
    }

    #[test]
    fn unsupported_auth_types_decode_but_are_refused() {
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "oidc"),
            ("oidcTokenEndpoint", "https://x"),
            ("oidcClientID", "id"),
            ("oidcClientSecret", "s"),
        ]))
        .unwrap();
        let e = c.ensure_supported().unwrap_err();
        assert!(
            e.message.contains("authType 'oidc' is not supported"),
            "{e}"
        );
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "awsiam"),
            ("region", "us-east-1"),
        ]))
        .unwrap();
        assert!(c.ensure_supported().is_err());
        assert!(
            KafkaConfig::from_properties(&with(&[]))
                .unwrap()
                .ensure_supported()
                .is_ok()
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let c = KafkaConfig::from_properties(&props(&[
            ("brokers", "a:1"),
            ("authType", "password"),
            ("saslUsername", "u"),
            ("saslPassword", "hunter2"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn pem_detection() {
        assert!(looks_like_pem("-----BEGIN X-----\nabc\n-----END X-----"));
        assert!(!looks_like_pem("-----BEGIN X-----\nabc\n-----END Y-----"));
        assert!(!looks_like_pem("plain"));
    }

    #[test]
    fn corpus_component_files_decode() {
        let root = crate::common::corpus_tests_dir().unwrap_or_default();
        let mut decoded = 0;
        for dir in ["config/bindings/kafka", "certification/bindings/kafka"] {
            let mut stack = vec![root.join(dir)];
            while let Some(path) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&path) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let p = entry.path();
                    if p.is_dir() {
                        stack.push(p);
                        continue;
                    }
                    if !matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                        continue;
                    }
                    let text = std::fs::read_to_string(&p).unwrap();
                    for doc in parse_documents(&p.display().to_string(), &text) {
                        let Ok(doc) = doc else { continue };
                        let Ok(Some(component)) = Component::from_document(&doc) else {
                            continue;
                        };
                        if !component.spec_type.eq_ignore_ascii_case("bindings.kafka") {
                            continue;
                        }
                        let mut map = std::collections::HashMap::new();
                        for item in &component.metadata {
                            map.insert(item.name.clone(), item.value.clone());
                        }
                        let p2 = Properties::new(map).unwrap();
                        let c = KafkaConfig::from_properties(&p2)
                            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                        c.ensure_supported().unwrap();
                        decoded += 1;
                    }
                }
            }
        }
        assert!(
            decoded >= 5,
            "expected the kafka corpus files, decoded {decoded}"
        );
    }
}
