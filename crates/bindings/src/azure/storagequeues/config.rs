//! The storagequeues binding's metadata, decoded purely from [`Properties`] (daprd's
//! `bindings/azure/storagequeues` `parseMetadata`).

use std::time::Duration;

use bindery_core::descriptor::{Field, FieldType};
use bindery_core::{BindingConfig, ConfigError, ConfigWarning, Properties};

use crate::azure::auth::{self, ACCOUNT_KEY, ACCOUNT_NAME, AzureAdConfig, SharedKey};

pub const QUEUE_NAME: Field = Field::new(
    "queueName",
    FieldType::String,
    "The queue. Created at start (within 2 minutes).",
)
.aliases(&["queue", "storageAccountQueue"])
.required()
.example("myqueue");
pub const QUEUE_ENDPOINT: Field = Field::new(
    "queueEndpoint",
    FieldType::String,
    "Custom endpoint (scheme, host, optional port), e.g. Azurite's http://127.0.0.1:10001; the queue URL becomes <endpoint>/<accountName>/<queueName>. The aliases win over queueEndpoint when both are given, as in daprd.",
)
.aliases(&[
    "endpoint",
    "storageEndpoint",
    "storageAccountEndpoint",
    "queueEndpointUrl",
])
.example("http://127.0.0.1:10001");
pub const POLLING_INTERVAL: Field = Field::new(
    "pollingInterval",
    FieldType::Duration,
    "Input: how long to wait after finding the queue empty; at least 100ms.",
)
.default_value("10s")
.input_only();
pub const TTL: Field = Field::new(
    "ttl",
    FieldType::Duration,
    "Output: default message time to live (a Go duration or integer seconds); 10 minutes when absent. Request metadata ttl/ttlInSeconds overrides it.",
)
.aliases(&["ttlInSeconds"])
.output_only();
pub const VISIBILITY_TIMEOUT: Field = Field::new(
    "visibilityTimeout",
    FieldType::Duration,
    "Input: how long a dequeued message stays invisible to other readers. A delivery that takes longer extends it, so the message does not reappear while the app still works on it.",
)
.default_value("30s")
.input_only();
pub const INITIAL_VISIBILITY_DELAY: Field = Field::new(
    "initialVisibilityDelay",
    FieldType::Duration,
    "Output: delay before a new message becomes visible. Request metadata initialVisibilityDelay (a Go duration) overrides it.",
)
.output_only();
pub const ENCODE_BASE64: Field = Field::new(
    "encodeBase64",
    FieldType::Bool,
    "Output: base64-encode the text before enqueueing it.",
)
.default_value("false")
.output_only();
pub const DECODE_BASE64: Field = Field::new(
    "decodeBase64",
    FieldType::Bool,
    "Input: base64-decode the message text before delivering it.",
)
.default_value("false")
.input_only();

pub const FIELDS: &[Field] = &[
    ACCOUNT_NAME.required(),
    ACCOUNT_KEY,
    QUEUE_NAME,
    QUEUE_ENDPOINT,
    POLLING_INTERVAL,
    TTL,
    VISIBILITY_TIMEOUT,
    INITIAL_VISIBILITY_DELAY,
    ENCODE_BASE64,
    DECODE_BASE64,
    auth::AZURE_TENANT_ID,
    auth::AZURE_CLIENT_ID,
    auth::AZURE_CLIENT_SECRET,
    auth::AZURE_CERTIFICATE,
    auth::AZURE_CERTIFICATE_FILE,
    auth::AZURE_CERTIFICATE_PASSWORD,
    auth::AZURE_ENVIRONMENT,
    auth::AZURE_AUTH_METHODS,
];

#[derive(Debug, Clone)]
pub enum QueueAuth {
    SharedKey(SharedKey),
    AzureAd(AzureAdConfig),
}

/// The decoded component metadata.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub auth: QueueAuth,
    pub queue_name: String,
    /// `<service>/<queue>`. An account name that makes no valid host fails at start, not
    /// here: offline, it may be a secret reference not resolved yet.
    pub queue_url: Result<url::Url, String>,
    pub polling_interval: Duration,
    pub ttl: Option<Duration>,
    pub visibility_timeout: Duration,
    pub initial_visibility_delay: Option<Duration>,
    pub encode_base64: bool,
    pub decode_base64: bool,
}

fn nonempty(p: &Properties, name: &str) -> Option<String> {
    p.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// dapr/kit's `TryGetTTL` over `ttl` then `ttlInSeconds` (any case): a Go duration (negative
/// is 0) or a positive integer of seconds.
pub fn try_get_ttl(get: impl Fn(&str) -> Option<String>) -> Result<Option<Duration>, String> {
    let Some(value) = get("ttl")
        .filter(|v| !v.is_empty())
        .or_else(|| get("ttlInSeconds").filter(|v| !v.is_empty()))
    else {
        return Ok(None);
    };
    let v = value.trim();
    if let Some(rest) = v.strip_prefix('-')
        && bindery_core::duration::parse_go_duration(rest).is_ok()
    {
        return Ok(Some(Duration::ZERO));
    }
    if let Ok(d) = bindery_core::duration::parse_go_duration(v) {
        return Ok(Some(d));
    }
    match v.parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(Duration::from_secs(n as u64))),
        Ok(n) => Err(format!(
            "ttl value must be higher than zero: actual is '{n}'"
        )),
        Err(_) => Err(format!(
            "ttl value must be a valid integer: actual is '{v}'"
        )),
    }
}

impl BindingConfig for QueueConfig {
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let cfg = Self::decode_quiet(p)?;
        if nonempty(p, "connectionString").is_some() {
            warnings.push(ConfigWarning::new(
                "connectionString",
                "storagequeues does not read a connection string (daprd neither): set accountName and accountKey",
            ));
        }
        if cfg.visibility_timeout.subsec_nanos() != 0 || cfg.visibility_timeout.is_zero() {
            warnings.push(ConfigWarning::new(
                VISIBILITY_TIMEOUT.name,
                "the service takes whole seconds: the fraction is dropped (and at least 1s is used while delivering)",
            ));
        }
        Ok(cfg)
    }
}

impl QueueConfig {
    /// Decodes without collecting warnings.
    pub fn decode_quiet(p: &Properties) -> Result<Self, ConfigError> {
        let cloud = auth::cloud(p)?;
        let account = nonempty_field(p, &ACCOUNT_NAME).ok_or_else(|| {
            ConfigError::new(
                ACCOUNT_NAME.name,
                "missing or empty accountName field from metadata",
            )
        })?;
        let queue_name = nonempty_field(p, &QUEUE_NAME).ok_or_else(|| {
            ConfigError::new(
                QUEUE_NAME.name,
                "missing or empty queueName field from metadata",
            )
        })?;
        // daprd decodes queueEndpoint, then lets any of the storage endpoint keys override it.
        let endpoint = QUEUE_ENDPOINT
            .aliases
            .iter()
            .find_map(|k| nonempty(p, k))
            .or_else(|| nonempty(p, QUEUE_ENDPOINT.name));
        let service = match endpoint {
            Some(e) => {
                let base = url::Url::parse(&e).map_err(|err| {
                    ConfigError::new(
                        QUEUE_ENDPOINT.name,
                        format!("failed to parse queue endpoint {e:?}: {err}"),
                    )
                })?;
                format!(
                    "{}/{}",
                    base.as_str().trim_end_matches('/'),
                    crate::azure::client::path_escape(&account)
                )
            }
            None => format!("https://{account}.queue.{}", cloud.storage_suffix()),
        };
        let queue_url = url::Url::parse(&format!(
            "{service}/{}",
            crate::azure::client::path_escape(&queue_name)
        ))
        .map_err(|_| "not a valid queue URL: the account name is not a valid host name".to_owned());
        let auth = match nonempty_field(p, &ACCOUNT_KEY) {
            Some(key) => QueueAuth::SharedKey(SharedKey::new(
                &account,
                &key,
                &auth::given_name(p, &ACCOUNT_KEY),
            )?),
            None => QueueAuth::AzureAd(AzureAdConfig::decode(p)?),
        };
        let polling_interval = p
            .duration(&POLLING_INTERVAL)?
            .unwrap_or(Duration::from_secs(10));
        if polling_interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                POLLING_INTERVAL.name,
                "invalid value for 'pollingInterval': must be greater than 100ms",
            ));
        }
        let ttl = try_get_ttl(|k| p.get(k).map(str::to_owned))
            .map_err(|e| ConfigError::new(TTL.name, e))?;
        Ok(Self {
            auth,
            queue_name,
            queue_url,
            polling_interval,
            ttl,
            visibility_timeout: p
                .duration(&VISIBILITY_TIMEOUT)?
                .unwrap_or(Duration::from_secs(30)),
            initial_visibility_delay: p.duration(&INITIAL_VISIBILITY_DELAY)?,
            encode_base64: p.bool(&ENCODE_BASE64),
            decode_base64: p.bool(&DECODE_BASE64),
        })
    }
}

fn nonempty_field(p: &Properties, field: &Field) -> Option<String> {
    p.raw(field).filter(|v| !v.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::{DEV_ACCOUNT, DEV_KEY};
    use bindery_core::manifest::{Component, parse_documents};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    fn decode(p: &Properties) -> Result<QueueConfig, ConfigError> {
        <QueueConfig as BindingConfig>::decode(p, &mut Vec::new())
    }

    #[test]
    fn warnings_for_ignored_fields() {
        let mut w = Vec::new();
        <QueueConfig as BindingConfig>::decode(
            &props(&[
                ("accountName", "a"),
                ("accountKey", DEV_KEY),
                ("queueName", "q"),
                ("connectionString", "AccountName=a"),
                ("visibilityTimeout", "1500ms"),
            ]),
            &mut w,
        )
        .unwrap();
        let fields: Vec<&str> = w.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["connectionString", "visibilityTimeout"]);
    }

    #[test]
    fn required_fields_and_defaults() {
        let err = decode(&props(&[("queueName", "q")])).unwrap_err();
        assert_eq!(
            err.message,
            "missing or empty accountName field from metadata"
        );
        let err = decode(&props(&[("accountName", "a")])).unwrap_err();
        assert_eq!(
            err.message,
            "missing or empty queueName field from metadata"
        );
        let c = decode(&props(&[
            ("storageAccount", DEV_ACCOUNT),
            ("storageAccessKey", DEV_KEY),
            ("queue", "q1"),
        ]))
        .unwrap();
        assert_eq!(
            c.queue_url.as_ref().unwrap().as_str(),
            "https://devstoreaccount1.queue.core.windows.net/q1"
        );
        assert_eq!(c.polling_interval, Duration::from_secs(10));
        assert_eq!(c.visibility_timeout, Duration::from_secs(30));
        assert_eq!(c.ttl, None);
        assert_eq!(c.initial_visibility_delay, None);
        assert!(!c.encode_base64 && !c.decode_base64);
        assert!(matches!(c.auth, QueueAuth::SharedKey(_)));
        assert!(!format!("{c:?}").contains("Eby8"));
    }

    #[test]
    fn endpoints_ttl_and_intervals() {
        let c = decode(&props(&[
            ("accountName", DEV_ACCOUNT),
            ("accountKey", DEV_KEY),
            ("queueName", "q1"),
            ("queueEndpoint", "http://ignored:1"),
            ("endpoint", "http://127.0.0.1:10001/"),
            ("ttlInSeconds", "60"),
            ("pollingInterval", "250ms"),
            ("visibilityTimeout", "1m"),
            ("initialVisibilityDelay", "5s"),
            ("encodeBase64", "true"),
            ("decodeBase64", "1"),
        ]))
        .unwrap();
        assert_eq!(
            c.queue_url.as_ref().unwrap().as_str(),
            "http://127.0.0.1:10001/devstoreaccount1/q1"
        );
        assert_eq!(c.ttl, Some(Duration::from_secs(60)));
        assert_eq!(c.polling_interval, Duration::from_millis(250));
        assert_eq!(c.visibility_timeout, Duration::from_secs(60));
        assert_eq!(c.initial_visibility_delay, Some(Duration::from_secs(5)));
        assert!(c.encode_base64 && c.decode_base64);
        let err = decode(&props(&[
            ("accountName", "a"),
            ("accountKey", DEV_KEY),
            ("queueName", "q"),
            ("pollingInterval", "50ms"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.message,
            "invalid value for 'pollingInterval': must be greater than 100ms"
        );
    }

    #[test]
    fn ttl_follows_dapr_kit() {
        let get = |v: &'static str| move |k: &str| (k == "ttl").then(|| v.to_owned());
        assert_eq!(
            try_get_ttl(get("2m")).unwrap(),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            try_get_ttl(get("30")).unwrap(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(try_get_ttl(get("-1s")).unwrap(), Some(Duration::ZERO));
        assert_eq!(try_get_ttl(get("0")).unwrap(), Some(Duration::ZERO));
        assert!(try_get_ttl(get("-3")).is_err());
        assert_eq!(
            try_get_ttl(get("soon")).unwrap_err(),
            "ttl value must be a valid integer: actual is 'soon'"
        );
    }

    #[test]
    fn no_key_means_azure_ad() {
        let c = decode(&props(&[
            ("accountName", "a"),
            ("queueName", "q"),
            ("azureClientId", "mi-client"),
        ]))
        .unwrap();
        assert!(matches!(c.auth, QueueAuth::AzureAd(_)));
        let err = decode(&props(&[
            ("accountName", "a"),
            ("queueName", "q"),
            ("azureAuthMethods", "ClientCredentials"),
            ("azureTenantId", "t"),
        ]))
        .unwrap_err();
        assert!(err.message.contains("azureClientId"), "{err}");
    }

    /// Every storagequeues component of Dapr's conformance and certification suites decodes.
    #[test]
    fn corpus_files_decode() {
        let Some(dir) = crate::common::corpus_tests_dir() else {
            eprintln!("SKIP: components-contrib corpus not found");
            return;
        };
        let mut seen = 0;
        for sub in [
            "config/bindings/azure/storagequeues",
            "certification/bindings/azure/storagequeues/components",
        ] {
            for path in walk(&dir.join(sub)) {
                let text = std::fs::read_to_string(&path).unwrap();
                for doc in parse_documents(&path.display().to_string(), &text) {
                    let Some(component) = Component::from_document(&doc.unwrap()).unwrap() else {
                        continue;
                    };
                    if component.spec_type != "bindings.azure.storagequeues" {
                        continue;
                    }
                    decode(&resolved(&component))
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    seen += 1;
                }
            }
        }
        assert!(seen >= 9, "found only {seen} corpus components");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    out.extend(walk(&path));
                } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    fn resolved(component: &Component) -> Properties {
        let pairs: Vec<(String, String)> = component
            .metadata
            .iter()
            .map(|i| {
                let placeholder = i.secret_key_ref.is_some() || i.value.starts_with("${{");
                let value = if !placeholder {
                    i.value.clone()
                } else if i.name.to_ascii_lowercase().contains("key") {
                    DEV_KEY.to_owned()
                } else {
                    "placeholder".to_owned()
                };
                (i.name.clone(), value)
            })
            .collect();
        Properties::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}
