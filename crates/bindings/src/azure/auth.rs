//! How both Azure Storage bindings authenticate, decoded purely from the component metadata:
//! an account key (`accountName` + `accountKey`), a connection string (blob only, as daprd),
//! or Azure AD from the `azuread` profile (client secret, client certificate, workload
//! identity, managed identity).
//!
//! Hand-written here (see the parent module for why): the **SharedKey signer**
//! ([`SharedKey::authorization`], Microsoft's "Authorize with Shared Key" for the Blob and
//! Queue services, version 2009-09-19 and later) and the **service SAS signer**
//! ([`SharedKey::blob_read_sas`], "Create a service SAS", signed version 2020-12-06). Both are
//! HMAC-SHA256 over a canonical string with the base64-decoded account key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bindery_core::descriptor::{Field, FieldType};
use bindery_core::{ConfigError, Properties};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Sensitive;

pub const ACCOUNT_NAME: Field = Field::new(
    "accountName",
    FieldType::String,
    "The storage account name (blobs: required unless connectionString is given).",
)
.aliases(&["storageAccount", "storageAccountName"])
.example("devstoreaccount1");
pub const ACCOUNT_KEY: Field = Field::new(
    "accountKey",
    FieldType::String,
    "The storage account key (base64). Without it Azure AD is used (blobs: unless connectionString is given).",
)
.aliases(&["accessKey", "storageAccessKey", "storageAccountKey"])
.sensitive()
.example("bXktc2VjcmV0LWtleQ==");
pub const AZURE_TENANT_ID: Field = Field::new(
    "azureTenantId",
    FieldType::String,
    "Azure AD: ID of the tenant (client secret and client certificate).",
)
.aliases(&["spnTenantId", "tenantId"]);
pub const AZURE_CLIENT_ID: Field = Field::new(
    "azureClientId",
    FieldType::String,
    "Azure AD: client (application) ID; for a managed identity, which of several identities.",
)
.aliases(&["spnClientId", "clientId"]);
pub const AZURE_CLIENT_SECRET: Field = Field::new(
    "azureClientSecret",
    FieldType::String,
    "Azure AD: client secret (application password).",
)
.aliases(&["spnClientSecret", "clientSecret"])
.sensitive();
pub const AZURE_CERTIFICATE: Field = Field::new(
    "azureCertificate",
    FieldType::String,
    "Azure AD: PEM (certificate and private key) or base64 PKCS#12 client certificate.",
)
.aliases(&["spnCertificate"])
.sensitive();
pub const AZURE_CERTIFICATE_FILE: Field = Field::new(
    "azureCertificateFile",
    FieldType::String,
    "Azure AD: path of a PEM or PKCS#12 file with the client certificate and key.",
)
.aliases(&["spnCertificateFile"]);
pub const AZURE_CERTIFICATE_PASSWORD: Field = Field::new(
    "azureCertificatePassword",
    FieldType::String,
    "Azure AD: password of an encrypted client certificate.",
)
.aliases(&["spnCertificatePassword"])
.sensitive();
pub const AZURE_ENVIRONMENT: Field = Field::new(
    "azureEnvironment",
    FieldType::String,
    "Azure AD cloud: AzurePublicCloud, AzureChinaCloud or AzureUSGovernmentCloud (also without the Cloud suffix).",
)
.aliases(&["azureCloud"])
.default_value("AzurePublicCloud");
pub const AZURE_AUTH_METHODS: Field = Field::new(
    "azureAuthMethods",
    FieldType::String,
    "Azure AD methods to try, in order, comma-separated: ClientCredentials (creds), ClientCertificate (cert), WorkloadIdentity (wi), ManagedIdentity (mi), None. Default: every method whose fields are given, then workload and managed identity.",
)
.aliases(&[
    "azureADAuthMethods",
    "entraIDAuthMethods",
    "microsoftEntraIDAuthMethods",
]);

/// The `azuread` profile's fields, shared by both bindings.
pub const AD_FIELDS: &[Field] = &[
    AZURE_TENANT_ID,
    AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET,
    AZURE_CERTIFICATE,
    AZURE_CERTIFICATE_FILE,
    AZURE_CERTIFICATE_PASSWORD,
    AZURE_ENVIRONMENT,
    AZURE_AUTH_METHODS,
];

/// The Azure cloud, which decides the storage endpoint suffix and the AD authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureCloud {
    Public,
    China,
    UsGovernment,
}

impl AzureCloud {
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "azurepubliccloud" | "azurepublic" => Ok(Self::Public),
            "azurechinacloud" | "azurechina" => Ok(Self::China),
            "azureusgovernmentcloud" | "azureusgovernment" => Ok(Self::UsGovernment),
            _ => Err(ConfigError::new(
                AZURE_ENVIRONMENT.name,
                format!("invalid Azure cloud: {value}"),
            )),
        }
    }

    /// `core.windows.net` and its sovereign-cloud counterparts.
    pub fn storage_suffix(self) -> &'static str {
        match self {
            Self::Public => "core.windows.net",
            Self::China => "core.chinacloudapi.cn",
            Self::UsGovernment => "core.usgovcloudapi.net",
        }
    }

    pub fn authority_host(self) -> &'static str {
        match self {
            Self::Public => "https://login.microsoftonline.com/",
            Self::China => "https://login.chinacloudapi.cn/",
            Self::UsGovernment => "https://login.microsoftonline.us/",
        }
    }
}

/// One Azure AD way of getting a token, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdMethod {
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: Sensitive<String>,
    },
    ClientCertificate {
        tenant_id: String,
        client_id: String,
        /// Inline certificate, or the path of a file holding it.
        certificate: CertificateSource,
        password: Option<Sensitive<String>>,
    },
    /// Kubernetes workload identity: `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE` from the environment, read when the token is fetched.
    WorkloadIdentity,
    ManagedIdentity {
        client_id: Option<String>,
    },
}

impl AdMethod {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientSecret { .. } => "client secret",
            Self::ClientCertificate { .. } => "client certificate",
            Self::WorkloadIdentity => "workload identity",
            Self::ManagedIdentity { .. } => "managed identity",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    Inline(Sensitive<String>),
    File(String),
}

/// The decoded `azuread` profile: the cloud and the methods to try in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureAdConfig {
    pub cloud: AzureCloud,
    pub methods: Vec<AdMethod>,
}

/// The metadata key (as written) that gave `field`'s value: its name or one of its aliases.
/// Errors name it, so `bindery validate` can tell a value from a secret reference.
pub fn given_name(p: &Properties, field: &Field) -> String {
    std::iter::once(field.name)
        .chain(field.aliases.iter().copied())
        .find_map(|name| {
            p.as_map()
                .keys()
                .find(|k| k.eq_ignore_ascii_case(name) && !p.as_map()[*k].is_empty())
        })
        .cloned()
        .unwrap_or_else(|| field.name.to_owned())
}

fn nonempty(p: &Properties, field: &Field) -> Option<String> {
    p.raw(field)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The cloud named by `azureEnvironment` (validated for every auth mode, as daprd does).
pub fn cloud(p: &Properties) -> Result<AzureCloud, ConfigError> {
    AzureCloud::parse(p.raw(&AZURE_ENVIRONMENT).unwrap_or(""))
}

impl AzureAdConfig {
    /// Decodes the profile. Without `azureAuthMethods` the order is daprd's: client secret and
    /// client certificate when their fields are given, then workload and managed identity.
    /// Unlike daprd, half-given credentials are an error rather than silently skipped, and an
    /// explicit method without its fields is an error naming the missing fields.
    pub fn decode(p: &Properties) -> Result<Self, ConfigError> {
        let cloud = cloud(p)?;
        let tenant = nonempty(p, &AZURE_TENANT_ID);
        let client = nonempty(p, &AZURE_CLIENT_ID);
        let secret = nonempty(p, &AZURE_CLIENT_SECRET);
        let cert_inline = nonempty(p, &AZURE_CERTIFICATE);
        let cert_file = nonempty(p, &AZURE_CERTIFICATE_FILE);
        let password = nonempty(p, &AZURE_CERTIFICATE_PASSWORD).map(Sensitive::new);
        let client_secret = || -> Result<AdMethod, ConfigError> {
            match (&tenant, &client, &secret) {
                (Some(t), Some(c), Some(s)) => Ok(AdMethod::ClientSecret {
                    tenant_id: t.clone(),
                    client_id: c.clone(),
                    secret: Sensitive::new(s.clone()),
                }),
                _ => Err(missing(
                    "client secret",
                    &[
                        (AZURE_TENANT_ID.name, tenant.is_some()),
                        (AZURE_CLIENT_ID.name, client.is_some()),
                        (AZURE_CLIENT_SECRET.name, secret.is_some()),
                    ],
                )),
            }
        };
        let client_cert = || -> Result<AdMethod, ConfigError> {
            let certificate = match (&cert_inline, &cert_file) {
                (Some(c), _) => Some(CertificateSource::Inline(Sensitive::new(c.clone()))),
                (None, Some(f)) => Some(CertificateSource::File(f.clone())),
                (None, None) => None,
            };
            match (&tenant, &client, certificate) {
                (Some(t), Some(c), Some(certificate)) => Ok(AdMethod::ClientCertificate {
                    tenant_id: t.clone(),
                    client_id: c.clone(),
                    certificate,
                    password: password.clone(),
                }),
                (_, _, certificate) => Err(missing(
                    "client certificate",
                    &[
                        (AZURE_TENANT_ID.name, tenant.is_some()),
                        (AZURE_CLIENT_ID.name, client.is_some()),
                        (
                            "azureCertificate or azureCertificateFile",
                            certificate.is_some(),
                        ),
                    ],
                )),
            }
        };
        let managed = || AdMethod::ManagedIdentity {
            client_id: client.clone(),
        };
        let mut methods = Vec::new();
        match nonempty(p, &AZURE_AUTH_METHODS) {
            None => {
                if secret.is_some() {
                    methods.push(client_secret()?);
                }
                if cert_inline.is_some() || cert_file.is_some() {
                    methods.push(client_cert()?);
                }
                if secret.is_none()
                    && cert_inline.is_none()
                    && cert_file.is_none()
                    && tenant.is_some()
                {
                    return Err(ConfigError::new(
                        AZURE_TENANT_ID.name,
                        "Azure AD: azureTenantId is given but neither azureClientSecret nor azureCertificate/azureCertificateFile",
                    ));
                }
                methods.push(AdMethod::WorkloadIdentity);
                methods.push(managed());
            }
            Some(list) => {
                for name in list.split(',').map(|s| s.trim().to_ascii_lowercase()) {
                    let method = match name.as_str() {
                        "clientcredentials" | "creds" => client_secret()?,
                        "clientcertificate" | "cert" => client_cert()?,
                        "workloadidentity" | "wi" => AdMethod::WorkloadIdentity,
                        "managedidentity" | "mi" => managed(),
                        "none" => {
                            return Err(ConfigError::new(
                                AZURE_AUTH_METHODS.name,
                                "all Azure auth methods have been disabled with auth method 'None'",
                            ));
                        }
                        other => {
                            return Err(ConfigError::new(
                                AZURE_AUTH_METHODS.name,
                                format!(
                                    "invalid or unsupported Azure auth method: {other} (bindery supports ClientCredentials, ClientCertificate, WorkloadIdentity, ManagedIdentity)"
                                ),
                            ));
                        }
                    };
                    methods.push(method);
                }
            }
        }
        Ok(Self { cloud, methods })
    }
}

fn missing(method: &str, fields: &[(&str, bool)]) -> ConfigError {
    let absent: Vec<&str> = fields
        .iter()
        .filter(|(_, given)| !given)
        .map(|(n, _)| *n)
        .collect();
    ConfigError::new(
        absent.first().copied().unwrap_or(method),
        format!(
            "Azure AD {method} authentication needs {}",
            absent.join(", ")
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Connection strings

/// The parts of a storage connection string bindery uses. Keys are matched case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionString {
    pub account_name: Option<String>,
    pub account_key: Option<Sensitive<String>>,
    pub sas: Option<Sensitive<String>>,
    pub blob_endpoint: Option<String>,
    pub queue_endpoint: Option<String>,
    pub protocol: Option<String>,
    pub endpoint_suffix: Option<String>,
}

/// Azurite's well-known development account (`UseDevelopmentStorage=true`).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl ConnectionString {
    /// Parses `Key=Value;Key=Value`. Values may contain `=` (keys and SAS tokens do).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut cs = Self::default();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(ConfigError::new(
                    "connectionString",
                    "connection string is either blank or malformed",
                ));
            };
            let value = value.trim().to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "accountname" => cs.account_name = Some(value),
                "accountkey" => cs.account_key = Some(Sensitive::new(value)),
                "sharedaccesssignature" => {
                    cs.sas = Some(Sensitive::new(value.trim_start_matches('?').to_owned()))
                }
                "blobendpoint" => cs.blob_endpoint = Some(value),
                "queueendpoint" => cs.queue_endpoint = Some(value),
                "defaultendpointsprotocol" => cs.protocol = Some(value),
                "endpointsuffix" => cs.endpoint_suffix = Some(value),
                "usedevelopmentstorage" if value.eq_ignore_ascii_case("true") => {
                    cs.account_name = Some(DEV_ACCOUNT.to_owned());
                    cs.account_key = Some(Sensitive::new(DEV_KEY.to_owned()));
                    cs.blob_endpoint = Some(format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
                    cs.queue_endpoint = Some(format!("http://127.0.0.1:10001/{DEV_ACCOUNT}"));
                }
                _ => {}
            }
        }
        if cs.account_key.is_none() && cs.sas.is_none() {
            return Err(ConfigError::new(
                "connectionString",
                "connection string needs AccountKey or SharedAccessSignature",
            ));
        }
        if cs.account_key.is_some() && cs.account_name.is_none() {
            return Err(ConfigError::new(
                "connectionString",
                "connection string has AccountKey but no AccountName",
            ));
        }
        if cs.blob_endpoint.is_none() && cs.account_name.is_none() {
            return Err(ConfigError::new(
                "connectionString",
                "connection string needs BlobEndpoint or AccountName",
            ));
        }
        Ok(cs)
    }

    /// The blob service URL (no trailing slash).
    pub fn blob_service_url(&self, cloud: AzureCloud) -> String {
        if let Some(endpoint) = &self.blob_endpoint {
            return endpoint.trim_end_matches('/').to_owned();
        }
        let protocol = self.protocol.as_deref().unwrap_or("https");
        let suffix = self
            .endpoint_suffix
            .as_deref()
            .unwrap_or(cloud.storage_suffix());
        format!(
            "{protocol}://{}.blob.{suffix}",
            self.account_name.as_deref().unwrap_or_default()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The SharedKey signer

/// An account name and its decoded key.
#[derive(Clone)]
pub struct SharedKey {
    pub account: String,
    key: Sensitive<Vec<u8>>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKey")
            .field("account", &self.account)
            .field("key", &self.key)
            .finish()
    }
}

/// What the signer needs from one request.
pub struct SignInput<'a> {
    pub method: &'a str,
    pub url: &'a url::Url,
    /// Every header that will be sent, names in any case.
    pub headers: &'a reqwest::header::HeaderMap,
    pub content_length: usize,
}

impl SharedKey {
    /// `key_field` names the metadata field in the error when the key is not base64.
    pub fn new(account: &str, key_b64: &str, key_field: &str) -> Result<Self, ConfigError> {
        let key = B64.decode(key_b64.trim()).map_err(|_| {
            ConfigError::new(
                key_field,
                "invalid shared key credentials: the account key is not valid base64",
            )
        })?;
        Ok(Self {
            account: account.to_owned(),
            key: Sensitive::new(key),
        })
    }

    fn hmac_b64(&self, text: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose())
            .expect("HMAC accepts keys of any length");
        mac.update(text.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// The canonical string of Microsoft's "Authorize with Shared Key" (Blob, Queue, File).
    pub fn string_to_sign(&self, req: &SignInput<'_>) -> String {
        let header = |name: &str| -> String {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let length = if req.content_length == 0 {
            String::new()
        } else {
            req.content_length.to_string()
        };
        let mut out = String::new();
        for part in [
            req.method.to_ascii_uppercase(),
            header("content-encoding"),
            header("content-language"),
            length,
            header("content-md5"),
            header("content-type"),
            header("date"),
            header("if-modified-since"),
            header("if-match"),
            header("if-none-match"),
            header("if-unmodified-since"),
            header("range"),
        ] {
            out.push_str(&part);
            out.push('\n');
        }
        out.push_str(&canonicalized_headers(req.headers));
        out.push_str(&self.canonicalized_resource(req.url));
        out
    }

    /// The `Authorization` header value for a request.
    pub fn authorization(&self, req: &SignInput<'_>) -> String {
        let signature = self.hmac_b64(&self.string_to_sign(req));
        format!("SharedKey {}:{signature}", self.account)
    }

    fn canonicalized_resource(&self, url: &url::Url) -> String {
        let mut out = format!("/{}", self.account);
        let path = url.path();
        out.push_str(if path.is_empty() { "/" } else { path });
        let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (k, v) in url.query_pairs() {
            params
                .entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.into_owned());
        }
        for (name, mut values) in params {
            values.sort();
            out.push('\n');
            out.push_str(&name);
            out.push(':');
            out.push_str(&values.join(","));
        }
        out
    }

    /// A read-only service SAS for one blob (`sr=b`, `sp=r`), valid from 10 s ago (clock skew,
    /// as the Go SDK does) until `expiry`. Returns the query string without `?`.
    pub fn blob_read_sas(
        &self,
        container: &str,
        blob: &str,
        now: chrono::DateTime<chrono::Utc>,
        expiry: chrono::DateTime<chrono::Utc>,
    ) -> String {
        const SAS_VERSION: &str = "2020-12-06";
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let start = fmt(now - chrono::Duration::seconds(10));
        let end = fmt(expiry);
        let resource = format!("/blob/{}/{container}/{blob}", self.account);
        // sp, st, se, canonicalized resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd,
        // rsce, rscl, rsct.
        let to_sign = [
            "r",
            &start,
            &end,
            &resource,
            "",
            "",
            "",
            SAS_VERSION,
            "b",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
        .join("\n");
        let signature = self.hmac_b64(&to_sign);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("sv", SAS_VERSION)
            .append_pair("st", &start)
            .append_pair("se", &end)
            .append_pair("sr", "b")
            .append_pair("sp", "r")
            .append_pair("sig", &signature);
        query.finish()
    }
}

fn canonicalized_headers(headers: &reqwest::header::HeaderMap) -> String {
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("");
            // Unfold: runs of whitespace become one space, as the service does.
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            (name.as_str().to_owned(), value)
        })
        .collect();
    ms.sort();
    let mut out = String::new();
    for (name, value) in ms {
        out.push_str(&name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    /// Microsoft's documented example ("Authorize with Shared Key", constructing the
    /// canonicalized resource): a Get Container Metadata call. The string to sign must be
    /// exactly the one the documentation shows; the signature is the HMAC-SHA256 of it with
    /// Azurite's published key, computed independently (Python's `hmac` module).
    #[test]
    fn signs_microsofts_documented_example() {
        let key = SharedKey::new("myaccount", DEV_KEY, "accountKey").unwrap();
        let url = url::Url::parse(
            "https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata&timeout=20",
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-date",
            HeaderValue::from_static("Fri, 26 Jun 2015 23:39:12 GMT"),
        );
        headers.insert("x-ms-version", HeaderValue::from_static("2015-02-21"));
        let input = SignInput {
            method: "GET",
            url: &url,
            headers: &headers,
            content_length: 0,
        };
        assert_eq!(
            key.string_to_sign(&input),
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20"
        );
        assert_eq!(
            key.authorization(&input),
            "SharedKey myaccount:1u9lui2jDxj0+fpbHjQ5m5NnastJRSYM+PSmfi8TXx4="
        );
    }

    /// A path-style (Azurite) Put Blob with a body, a content type, metadata and an escaped
    /// name: the account appears twice in the resource and the path stays percent-encoded.
    #[test]
    fn signs_a_path_style_put_with_headers() {
        let key = SharedKey::new(DEV_ACCOUNT, DEV_KEY, "accountKey").unwrap();
        let url =
            url::Url::parse("http://127.0.0.1:10000/devstoreaccount1/c1/dir/a%20b.txt").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", HeaderValue::from_static("text/plain"));
        headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
        headers.insert("x-ms-meta-a", HeaderValue::from_static("  1 "));
        headers.insert(
            "x-ms-date",
            HeaderValue::from_static("Tue, 01 Dec 2026 09:00:00 GMT"),
        );
        headers.insert("x-ms-version", HeaderValue::from_static("2021-12-02"));
        let input = SignInput {
            method: "PUT",
            url: &url,
            headers: &headers,
            content_length: 11,
        };
        assert_eq!(
            key.string_to_sign(&input),
            "PUT\n\n\n11\n\ntext/plain\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:Tue, 01 Dec 2026 09:00:00 GMT\nx-ms-meta-a:1\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/c1/dir/a%20b.txt"
        );
        assert_eq!(
            key.authorization(&input),
            "SharedKey devstoreaccount1:zjuOuI3VST1twi+WF9jD4EcmkQKClBfTlAuxewsNw1Q="
        );
    }

    #[test]
    fn bad_keys_are_config_errors_without_the_key() {
        let err = SharedKey::new("a", "not base64!", "accountKey").unwrap_err();
        assert_eq!(err.field, "accountKey");
        assert!(!err.message.contains("not base64!"));
        let k = SharedKey::new("a", DEV_KEY, "accountKey").unwrap();
        assert!(!format!("{k:?}").contains("Eby8"));
    }

    #[test]
    fn connection_strings() {
        let cs = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        ))
        .unwrap();
        assert_eq!(cs.account_name.as_deref(), Some("devstoreaccount1"));
        assert_eq!(cs.account_key.as_ref().unwrap().expose(), DEV_KEY);
        assert_eq!(
            cs.blob_service_url(AzureCloud::Public),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        let cs = ConnectionString::parse(
            "AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(
            cs.blob_service_url(AzureCloud::Public),
            "https://acct.blob.core.chinacloudapi.cn"
        );
        let cs = ConnectionString::parse(
            "BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=?sv=1&sig=abc%3D",
        )
        .unwrap();
        assert_eq!(cs.sas.as_ref().unwrap().expose(), "sv=1&sig=abc%3D");
        let dev = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(dev.account_name.as_deref(), Some(DEV_ACCOUNT));
        assert!(ConnectionString::parse("AccountName=a").is_err());
        assert!(ConnectionString::parse("garbage").is_err());
        assert!(!format!("{dev:?}").contains("Eby8"), "keys never print");
    }

    #[test]
    fn ad_defaults_to_workload_then_managed_identity() {
        let ad = AzureAdConfig::decode(&props(&[])).unwrap();
        assert_eq!(ad.cloud, AzureCloud::Public);
        assert_eq!(
            ad.methods,
            vec![
                AdMethod::WorkloadIdentity,
                AdMethod::ManagedIdentity { client_id: None }
            ]
        );
    }

    #[test]
    fn ad_client_secret_and_certificate() {
        let ad = AzureAdConfig::decode(&props(&[
            ("azureTenantId", "t"),
            ("azureClientId", "c"),
            ("azureClientSecret", "s3cret"),
            ("azureEnvironment", "AzureChinaCloud"),
        ]))
        .unwrap();
        assert_eq!(ad.cloud, AzureCloud::China);
        assert_eq!(ad.methods[0].name(), "client secret");
        assert!(!format!("{ad:?}").contains("s3cret"));
        let ad = AzureAdConfig::decode(&props(&[
            ("spnTenantId", "t"),
            ("spnClientId", "c"),
            ("azureCertificateFile", "/x.pem"),
        ]))
        .unwrap();
        assert_eq!(ad.methods[0].name(), "client certificate");
    }

    #[test]
    fn ad_without_the_fields_it_needs_is_a_clear_error() {
        let err = AzureAdConfig::decode(&props(&[
            ("azureClientId", "c"),
            ("azureClientSecret", "s"),
        ]))
        .unwrap_err();
        assert_eq!(err.field, "azureTenantId");
        assert!(err.message.contains("client secret"), "{err}");
        let err = AzureAdConfig::decode(&props(&[("azureAuthMethods", "cert")])).unwrap_err();
        assert!(err.message.contains("azureCertificate"), "{err}");
        let err = AzureAdConfig::decode(&props(&[("azureTenantId", "t")])).unwrap_err();
        assert_eq!(err.field, "azureTenantId");
        let err = AzureAdConfig::decode(&props(&[("azureAuthMethods", "none")])).unwrap_err();
        assert!(err.message.contains("disabled"));
        let err = AzureAdConfig::decode(&props(&[("azureAuthMethods", "cli")])).unwrap_err();
        assert!(err.message.contains("cli"));
        let err = AzureAdConfig::decode(&props(&[("azureEnvironment", "mars")])).unwrap_err();
        assert_eq!(err.message, "invalid Azure cloud: mars");
        let ad = AzureAdConfig::decode(&props(&[("azureAuthMethods", "mi, wi")])).unwrap();
        assert_eq!(ad.methods[0].name(), "managed identity");
    }

    #[test]
    fn sas_is_deterministic_and_well_formed() {
        let key = SharedKey::new(DEV_ACCOUNT, DEV_KEY, "accountKey").unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let sas = key.blob_read_sas("c1", "a b", now, now + chrono::Duration::minutes(15));
        assert!(sas.starts_with(
            "sv=2020-12-06&st=2026-12-01T08%3A59%3A50Z&se=2026-12-01T09%3A15%3A00Z&sr=b&sp=r&sig="
        ));
        // The signature covers exactly this 16-line string (Azurite checks it end to end).
        assert!(
            sas.ends_with(&format!(
                "sig={}",
                url::form_urlencoded::byte_serialize(
                    key.hmac_b64("r\n2026-12-01T08:59:50Z\n2026-12-01T09:15:00Z\n/blob/devstoreaccount1/c1/a b\n\n\n\n2020-12-06\nb\n\n\n\n\n\n\n")
                        .as_bytes()
                )
                .collect::<String>()
            )),
            "{sas}"
        );
    }
}
