//! The blobstorage binding's metadata, decoded purely from [`Properties`] (daprd's
//! `common/component/azure/blobstorage` `parseMetadata` and `InitContainerClient`).

use bindery_core::descriptor::{Field, FieldType};
use bindery_core::{BindingConfig, ConfigError, ConfigWarning, Properties};

use crate::azure::Sensitive;
use crate::azure::auth::{
    self, ACCOUNT_KEY, ACCOUNT_NAME, AzureAdConfig, ConnectionString, SharedKey,
};

pub const CONNECTION_STRING: Field = Field::new(
    "connectionString",
    FieldType::String,
    "A storage connection string (AccountName/AccountKey, or SharedAccessSignature, with BlobEndpoint or EndpointSuffix). Used instead of accountName/accountKey when given.",
)
.sensitive();
pub const CONTAINER_NAME: Field = Field::new(
    "containerName",
    FieldType::String,
    "The blob container. Created at start unless disableEntityManagement is set.",
)
.aliases(&["container", "storageAccountContainer"])
.required()
.example("container");
pub const ENDPOINT: Field = Field::new(
    "endpoint",
    FieldType::String,
    "Custom endpoint (scheme, host, optional port), e.g. Azurite's http://127.0.0.1:10000; the container URL becomes <endpoint>/<accountName>/<containerName> (path style).",
)
.aliases(&["storageEndpoint", "storageAccountEndpoint", "queueEndpointUrl"])
.example("http://127.0.0.1:10000");
pub const PUBLIC_ACCESS_LEVEL: Field = Field::new(
    "publicAccessLevel",
    FieldType::String,
    "Public access of a container bindery creates: none, blob or container.",
)
.default_value("none");
pub const DECODE_BASE64: Field = Field::new(
    "decodeBase64",
    FieldType::Bool,
    "create and bulkCreate: base64-decode the data before storing it.",
)
.default_value("false");
pub const RETRY_COUNT: Field = Field::new(
    "retryCount",
    FieldType::Number,
    "How many times a failed HTTP request (no answer, 5xx, 408, 429) is retried. The legacy exact-case key getBlobRetryCount overrides it.",
)
.default_value("3");
pub const GET_BLOB_RETRY_COUNT: Field = Field::new(
    "getBlobRetryCount",
    FieldType::Number,
    "Deprecated exact-case spelling of retryCount; wins when given.",
)
.exact_case();
pub const DISABLE_ENTITY_MANAGEMENT: Field = Field::new(
    "disableEntityManagement",
    FieldType::Bool,
    "Do not try to create the container at start (for minimal Azure AD permissions).",
)
.default_value("false");

pub const FIELDS: &[Field] = &[
    ACCOUNT_NAME,
    ACCOUNT_KEY,
    CONNECTION_STRING,
    CONTAINER_NAME,
    ENDPOINT,
    PUBLIC_ACCESS_LEVEL,
    DECODE_BASE64,
    RETRY_COUNT,
    GET_BLOB_RETRY_COUNT,
    DISABLE_ENTITY_MANAGEMENT,
    auth::AZURE_TENANT_ID,
    auth::AZURE_CLIENT_ID,
    auth::AZURE_CLIENT_SECRET,
    auth::AZURE_CERTIFICATE,
    auth::AZURE_CERTIFICATE_FILE,
    auth::AZURE_CERTIFICATE_PASSWORD,
    auth::AZURE_ENVIRONMENT,
    auth::AZURE_AUTH_METHODS,
];

/// How the container is reached.
#[derive(Debug, Clone)]
pub enum BlobAuth {
    SharedKey(SharedKey),
    /// A SAS token from a connection string.
    Sas(Sensitive<String>),
    AzureAd(AzureAdConfig),
}

/// The decoded component metadata.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    pub auth: BlobAuth,
    pub container: String,
    /// `<service>/<container>`, no trailing slash. An account name that makes no valid host
    /// fails at start, not here: offline, it may be a secret reference not resolved yet.
    pub container_url: Result<url::Url, String>,
    /// `None` for private containers.
    pub public_access: Option<&'static str>,
    pub decode_base64: bool,
    pub retry_count: u32,
    pub disable_entity_management: bool,
}

fn nonempty(p: &Properties, field: &Field) -> Option<String> {
    p.raw(field).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl BindingConfig for BlobConfig {
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let cfg = Self::decode_quiet(p)?;
        if nonempty(p, &CONNECTION_STRING).is_some() {
            if nonempty(p, &ACCOUNT_KEY).is_some() {
                warnings.push(ConfigWarning::new(
                    ACCOUNT_KEY.name,
                    "connectionString is given too and wins: accountName and accountKey are not used",
                ));
            }
            if nonempty(p, &ENDPOINT).is_some() {
                warnings.push(ConfigWarning::new(
                    ENDPOINT.name,
                    "not used with a connectionString (its BlobEndpoint or AccountName decides the URL)",
                ));
            }
        }
        if cfg.disable_entity_management && cfg.public_access.is_some() {
            warnings.push(ConfigWarning::new(
                PUBLIC_ACCESS_LEVEL.name,
                "has no effect with disableEntityManagement: the container is not created",
            ));
        }
        Ok(cfg)
    }
}

impl BlobConfig {
    /// Decodes without collecting warnings.
    pub fn decode_quiet(p: &Properties) -> Result<Self, ConfigError> {
        let cloud = auth::cloud(p)?;
        let connection_string = nonempty(p, &CONNECTION_STRING);
        let account = nonempty(p, &ACCOUNT_NAME);
        if connection_string.is_none() && account.is_none() {
            return Err(ConfigError::new(
                ACCOUNT_NAME.name,
                "missing or empty accountName field from metadata",
            ));
        }
        let container = nonempty(p, &CONTAINER_NAME).ok_or_else(|| {
            ConfigError::new(
                CONTAINER_NAME.name,
                "missing or empty containerName field from metadata",
            )
        })?;
        let public_access = match p.string(&PUBLIC_ACCESS_LEVEL).unwrap_or_default().as_str() {
            "" | "none" => None,
            "blob" => Some("blob"),
            "container" => Some("container"),
            other => {
                return Err(ConfigError::new(
                    PUBLIC_ACCESS_LEVEL.name,
                    format!("invalid public access level: {other}; allowed: [blob container]"),
                ));
            }
        };
        let mut retry_count: i64 = p.number(&RETRY_COUNT)?.unwrap_or(3);
        if let Some(v) = p.exact(GET_BLOB_RETRY_COUNT.name).filter(|v| !v.is_empty()) {
            retry_count = v.trim().parse().map_err(|_| {
                ConfigError::new(
                    GET_BLOB_RETRY_COUNT.name,
                    format!("strconv.ParseInt: parsing {v:?}: invalid syntax"),
                )
            })?;
        }
        let (auth, container_url) = match connection_string {
            Some(text) => {
                let cs = ConnectionString::parse(&text).map_err(|e| {
                    ConfigError::new(auth::given_name(p, &CONNECTION_STRING), e.message)
                })?;
                let service = cs.blob_service_url(cloud);
                let auth = match (&cs.account_key, &cs.sas) {
                    (Some(key), _) => BlobAuth::SharedKey(SharedKey::new(
                        cs.account_name.as_deref().unwrap_or_default(),
                        key.expose(),
                        &auth::given_name(p, &CONNECTION_STRING),
                    )?),
                    (None, Some(sas)) => BlobAuth::Sas(sas.clone()),
                    (None, None) => unreachable!("ConnectionString::parse requires one"),
                };
                (auth, container_url(&service, &container))
            }
            None => {
                let account = account.unwrap_or_default();
                let service = match nonempty(p, &ENDPOINT) {
                    Some(endpoint) => {
                        let base = url::Url::parse(&endpoint).map_err(|e| {
                            ConfigError::new(
                                ENDPOINT.name,
                                format!("failed to parse custom endpoint {endpoint:?}: {e}"),
                            )
                        })?;
                        format!(
                            "{}/{}",
                            base.as_str().trim_end_matches('/'),
                            super::go_path_escape(&account)
                        )
                    }
                    None => format!("https://{account}.blob.{}", cloud.storage_suffix()),
                };
                let auth = match nonempty(p, &ACCOUNT_KEY) {
                    Some(key) => BlobAuth::SharedKey(SharedKey::new(
                        &account,
                        &key,
                        &auth::given_name(p, &ACCOUNT_KEY),
                    )?),
                    None => BlobAuth::AzureAd(AzureAdConfig::decode(p)?),
                };
                (auth, container_url(&service, &container))
            }
        };
        Ok(Self {
            auth,
            container,
            container_url,
            public_access,
            decode_base64: p.bool(&DECODE_BASE64),
            retry_count: retry_count.clamp(0, 10) as u32,
            disable_entity_management: p.bool(&DISABLE_ENTITY_MANAGEMENT),
        })
    }
}

/// `<service>/<container>`. Only the account name (in the host) can make it invalid.
fn container_url(service: &str, container: &str) -> Result<url::Url, String> {
    url::Url::parse(&format!(
        "{}/{}",
        service.trim_end_matches('/'),
        super::go_path_escape(container)
    ))
    .map_err(|_| {
        "failed to get container's URL: the account name is not a valid host name".to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::{DEV_ACCOUNT, DEV_KEY};
    use bindery_core::manifest::{Component, parse_documents};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    fn decode(p: &Properties) -> Result<BlobConfig, ConfigError> {
        <BlobConfig as BindingConfig>::decode(p, &mut Vec::new())
    }

    #[test]
    fn warnings_for_ignored_fields() {
        let mut w = Vec::new();
        <BlobConfig as BindingConfig>::decode(
            &props(&[
                (
                    "connectionString",
                    &format!("AccountName=a;AccountKey={DEV_KEY}"),
                ),
                ("accountKey", DEV_KEY),
                ("endpoint", "http://127.0.0.1:1"),
                ("containerName", "c"),
                ("publicAccessLevel", "blob"),
                ("disableEntityManagement", "true"),
            ]),
            &mut w,
        )
        .unwrap();
        let fields: Vec<&str> = w.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["accountKey", "endpoint", "publicAccessLevel"]);
        assert!(!format!("{w:?}").contains("Eby8"));
    }

    #[test]
    fn required_fields_use_daprd_texts() {
        let err = decode(&props(&[("containerName", "c")])).unwrap_err();
        assert_eq!(
            err.message,
            "missing or empty accountName field from metadata"
        );
        let err = decode(&props(&[("accountName", "a")])).unwrap_err();
        assert_eq!(
            err.message,
            "missing or empty containerName field from metadata"
        );
    }

    #[test]
    fn account_key_with_a_custom_endpoint_is_path_style() {
        let c = decode(&props(&[
            ("storageAccount", DEV_ACCOUNT),
            ("storageAccessKey", DEV_KEY),
            ("container", "c1"),
            ("endpoint", "http://127.0.0.1:10000/"),
        ]))
        .unwrap();
        assert_eq!(
            c.container_url.as_ref().unwrap().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/c1"
        );
        assert!(matches!(c.auth, BlobAuth::SharedKey(_)));
        assert_eq!(c.retry_count, 3);
        assert!(c.public_access.is_none() && !c.decode_base64);
        assert!(!format!("{c:?}").contains("Eby8"), "no key in Debug");
    }

    #[test]
    fn public_cloud_urls_and_options() {
        let c = decode(&props(&[
            ("accountName", "acct"),
            ("accountKey", "a2V5"),
            ("containerName", "c"),
            ("publicAccessLevel", "container"),
            ("decodeBase64", "true"),
            ("retryCount", "5"),
            ("getBlobRetryCount", "1"),
            ("disableEntityManagement", "yes"),
            ("azureEnvironment", "AzureUSGovernment"),
        ]))
        .unwrap();
        assert_eq!(
            c.container_url.as_ref().unwrap().as_str(),
            "https://acct.blob.core.usgovcloudapi.net/c"
        );
        assert_eq!(c.public_access, Some("container"));
        assert_eq!(c.retry_count, 1, "getBlobRetryCount wins");
        assert!(c.decode_base64 && c.disable_entity_management);
        let err = decode(&props(&[
            ("accountName", "acct"),
            ("containerName", "c"),
            ("publicAccessLevel", "everyone"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.message,
            "invalid public access level: everyone; allowed: [blob container]"
        );
    }

    #[test]
    fn key_errors_name_the_key_as_written() {
        let err = decode(&props(&[
            ("storageAccount", "a"),
            ("storageAccessKey", "not base64!"),
            ("container", "c"),
        ]))
        .unwrap_err();
        assert_eq!(err.field, "storageAccessKey");
    }

    #[test]
    fn connection_string_replaces_the_account() {
        let c = decode(&props(&[
            (
                "connectionString",
                &format!(
                    "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/{DEV_ACCOUNT};"
                ),
            ),
            ("containerName", "c1"),
        ]))
        .unwrap();
        assert_eq!(
            c.container_url.as_ref().unwrap().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/c1"
        );
        assert!(matches!(c.auth, BlobAuth::SharedKey(_)));
    }

    #[test]
    fn without_a_key_azure_ad_is_chosen_and_validated() {
        let c = decode(&props(&[
            ("accountName", "acct"),
            ("containerName", "c"),
            ("azureTenantId", "t"),
            ("azureClientId", "i"),
            ("azureClientSecret", "s"),
        ]))
        .unwrap();
        assert!(
            matches!(c.auth, BlobAuth::AzureAd(ref ad) if ad.methods[0].name() == "client secret")
        );
        let err = decode(&props(&[
            ("accountName", "acct"),
            ("containerName", "c"),
            ("azureClientSecret", "s"),
        ]))
        .unwrap_err();
        assert!(err.message.contains("azureTenantId"), "{err}");
    }

    /// Every blobstorage component file of Dapr's conformance and certification suites decodes
    /// (secret references are given placeholder values, as a secret store would).
    #[test]
    fn corpus_files_decode() {
        let Some(dir) = crate::common::corpus_tests_dir() else {
            eprintln!("SKIP: components-contrib corpus not found");
            return;
        };
        let mut seen = 0;
        for sub in [
            "config/bindings/azure/blobstorage",
            "certification/bindings/azure/blobstorage/components",
        ] {
            for path in walk(&dir.join(sub)) {
                let text = std::fs::read_to_string(&path).unwrap();
                for doc in parse_documents(&path.display().to_string(), &text) {
                    let Some(component) = Component::from_document(&doc.unwrap()).unwrap() else {
                        continue;
                    };
                    if component.spec_type != "bindings.azure.blobstorage" {
                        continue;
                    }
                    let p = resolved(&component);
                    decode(&p).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    seen += 1;
                }
            }
        }
        assert!(seen >= 6, "found only {seen} corpus components");
    }

    pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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

    /// The component's metadata with secret references (and the conformance suite's
    /// `${{Name}}` placeholders) replaced by plausible values.
    pub(crate) fn resolved(component: &Component) -> Properties {
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
