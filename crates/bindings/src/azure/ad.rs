//! Azure AD (Entra ID) access tokens for `https://storage.azure.com/`, hand-written on the
//! workspace's `reqwest` (see the parent module for why not `azure_identity`): client secret
//! (OAuth 2.0 client credentials), workload identity (a federated token file as client
//! assertion), managed identity (App Service `IDENTITY_ENDPOINT`, else the VM metadata
//! endpoint). The methods are tried in the configured order and the first token is cached
//! until five minutes before it expires.
//!
//! Azure AD cannot be reached from where bindery is tested: these flows are tested against a
//! local server that checks the documented requests, never against Azure AD itself. The
//! client certificate method is decoded and validated but not implemented (it needs an RSA
//! signature over a JWT); choosing it answers a clear error when the token is fetched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Sensitive;
use super::auth::{AdMethod, AzureAdConfig};
use super::client::{StorageError, TokenSource};

const SCOPE: &str = "https://storage.azure.com/.default";
const RESOURCE: &str = "https://storage.azure.com/";
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// Reads an environment variable (a parameter so tests need not change the process's).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub fn process_env() -> Env {
    Arc::new(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds; a number from Azure AD, a string from the managed identity endpoints.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// A cached token source over the configured methods.
pub struct AdTokens {
    ad: AzureAdConfig,
    env: Env,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(Sensitive<String>, Instant)>>,
}

impl AdTokens {
    pub fn new(ad: AzureAdConfig, env: Env) -> Result<Self, StorageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StorageError::Token(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            ad,
            env,
            http,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    fn authority(&self) -> String {
        let host = (self.env)("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| self.ad.cloud.authority_host().to_owned());
        format!("{}/", host.trim_end_matches('/'))
    }

    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<TokenAnswer, String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the token endpoint: {}", e.without_url()))?;
        answer(response).await
    }

    async fn fetch(&self, method: &AdMethod) -> Result<TokenAnswer, String> {
        match method {
            AdMethod::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                let url = format!("{}{tenant_id}/oauth2/v2.0/token", self.authority());
                self.post_form(
                    &url,
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        ("client_secret", secret.expose()),
                        ("scope", SCOPE),
                    ],
                )
                .await
            }
            AdMethod::WorkloadIdentity => self.workload_identity().await,
            AdMethod::ManagedIdentity { client_id } => {
                self.managed_identity(client_id.as_deref()).await
            }
            AdMethod::ClientCertificate { .. } => {
                Err("client certificate authentication is not implemented in this build".to_owned())
            }
        }
    }

    async fn workload_identity(&self) -> Result<TokenAnswer, String> {
        let (Some(file), Some(client_id), Some(tenant_id)) = (
            (self.env)("AZURE_FEDERATED_TOKEN_FILE"),
            (self.env)("AZURE_CLIENT_ID"),
            (self.env)("AZURE_TENANT_ID"),
        ) else {
            return Err("workload identity needs AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID in the environment".to_owned());
        };
        let assertion = tokio::fs::read_to_string(&file)
            .await
            .map_err(|e| format!("cannot read the federated token file {file}: {e}"))?;
        let url = format!("{}{tenant_id}/oauth2/v2.0/token", self.authority());
        self.post_form(
            &url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.trim()),
                ("scope", SCOPE),
            ],
        )
        .await
    }

    async fn managed_identity(&self, client_id: Option<&str>) -> Result<TokenAnswer, String> {
        let app_service = (self.env)("IDENTITY_ENDPOINT").zip((self.env)("IDENTITY_HEADER"));
        let (base, version) = match &app_service {
            Some((endpoint, _)) => (endpoint.as_str(), "2019-08-01"),
            None => (IMDS, "2018-02-01"),
        };
        let mut url = url::Url::parse(base).map_err(|e| format!("bad IDENTITY_ENDPOINT: {e}"))?;
        url.query_pairs_mut()
            .append_pair("api-version", version)
            .append_pair("resource", RESOURCE);
        if let Some(id) = client_id {
            url.query_pairs_mut().append_pair("client_id", id);
        }
        let mut request = self.http.get(url);
        request = match &app_service {
            Some((_, header)) => request.header("X-IDENTITY-HEADER", header),
            // No managed identity environment detected: the metadata endpoint may not exist,
            // so give up quickly (daprd waits 1 s too).
            None => request
                .header("Metadata", "true")
                .timeout(Duration::from_secs(1)),
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("no managed identity endpoint answered: {}", e.without_url()))?;
        answer(response).await
    }
}

async fn answer(response: reqwest::Response) -> Result<TokenAnswer, String> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("cannot read the token answer: {}", e.without_url()))?;
    if !status.is_success() {
        // Azure AD's error answers carry no secrets: `error` and `error_description`.
        let detail: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        return Err(format!(
            "the token endpoint answered {status}: {}",
            detail["error_description"]
                .as_str()
                .or(detail["error"].as_str())
                .unwrap_or("no details")
                .lines()
                .next()
                .unwrap_or_default()
        ));
    }
    serde_json::from_str(&text).map_err(|_| "the token answer is not the expected JSON".to_owned())
}

fn lifetime(answer: &TokenAnswer) -> Duration {
    let seconds = match &answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(300);
    Duration::from_secs(seconds.saturating_sub(300).max(30))
}

#[async_trait::async_trait]
impl TokenSource for AdTokens {
    async fn token(&self) -> Result<Sensitive<String>, StorageError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut errors = Vec::new();
        for method in &self.ad.methods {
            match self.fetch(method).await {
                Ok(answer) => {
                    let until = Instant::now() + lifetime(&answer);
                    let token = Sensitive::new(answer.access_token);
                    *cached = Some((token.clone(), until));
                    return Ok(token);
                }
                Err(e) => errors.push(format!("{}: {e}", method.name())),
            }
        }
        Err(StorageError::Token(format!(
            "no Azure AD token: {}",
            errors.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post, put};
    use axum::{Json, Router};
    use serde_json::json;

    use super::*;
    use crate::azure::Sensitive;
    use crate::azure::auth::{AzureCloud, CertificateSource};
    use crate::azure::client::{Authorizer, StorageClient};

    /// A stand-in for Azure AD and a storage account: it answers only the requests the
    /// documentation describes (OAuth 2.0 client credentials, the App Service managed
    /// identity endpoint) and records what it got.
    #[derive(Default)]
    struct Seen {
        token_calls: usize,
        authorization: Vec<String>,
    }

    type Shared = Arc<Mutex<Seen>>;

    async fn token(
        State(seen): State<Shared>,
        axum::extract::Path(tenant): axum::extract::Path<String>,
        body: String,
    ) -> (StatusCode, Json<serde_json::Value>) {
        seen.lock().unwrap().token_calls += 1;
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let f = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        if f("grant_type") != "client_credentials" || f("scope") != SCOPE {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_request"})),
            );
        }
        let ok = match tenant.as_str() {
            "tenant1" => f("client_id") == "client1" && f("client_secret") == "secret1",
            "tenant2" => {
                f("client_id") == "wi-client"
                    && f("client_assertion_type")
                        == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                    && f("client_assertion") == "federated.jwt"
            }
            _ => false,
        };
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                Json(
                    json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}),
                ),
            );
        }
        (
            StatusCode::OK,
            Json(
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": format!("token-{tenant}")}),
            ),
        )
    }

    async fn msi(
        State(seen): State<Shared>,
        Query(q): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> (StatusCode, Json<serde_json::Value>) {
        seen.lock().unwrap().token_calls += 1;
        let ok = q.get("api-version").map(String::as_str) == Some("2019-08-01")
            && q.get("resource").map(String::as_str) == Some(RESOURCE)
            && q.get("client_id").map(String::as_str) == Some("mi-client")
            && headers.get("x-identity-header").is_some_and(|h| h == "idh");
        if !ok {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": "bad"})));
        }
        (
            StatusCode::OK,
            Json(json!({"access_token": "token-mi", "expires_in": "3599", "resource": RESOURCE})),
        )
    }

    async fn storage(State(seen): State<Shared>, headers: HeaderMap) -> StatusCode {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.lock().unwrap().authorization.push(auth);
        StatusCode::CREATED
    }

    async fn server() -> (String, Shared) {
        let seen: Shared = Arc::default();
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/msi", get(msi))
            .route("/acct/c1", put(storage))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, seen)
    }

    fn env(pairs: Vec<(&'static str, String)>) -> Env {
        let map: HashMap<&'static str, String> = pairs.into_iter().collect();
        Arc::new(move |k| map.get(k).cloned())
    }

    fn config(methods: Vec<AdMethod>) -> AzureAdConfig {
        AzureAdConfig {
            cloud: AzureCloud::Public,
            methods,
        }
    }

    #[tokio::test]
    async fn client_secret_tokens_are_fetched_cached_and_sent_as_bearer() {
        let (base, seen) = server().await;
        let tokens = AdTokens::new(
            config(vec![AdMethod::ClientSecret {
                tenant_id: "tenant1".into(),
                client_id: "client1".into(),
                secret: Sensitive::new("secret1".into()),
            }]),
            env(vec![("AZURE_AUTHORITY_HOST", base.clone())]),
        )
        .unwrap();
        let client = StorageClient::new(Authorizer::Bearer(Arc::new(tokens))).unwrap();
        let url = url::Url::parse(&format!("{base}/acct/c1?restype=container")).unwrap();
        for _ in 0..2 {
            client
                .send(
                    reqwest::Method::PUT,
                    url.clone(),
                    Default::default(),
                    Default::default(),
                )
                .await
                .unwrap();
        }
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.authorization,
            ["Bearer token-tenant1", "Bearer token-tenant1"]
        );
        assert_eq!(seen.token_calls, 1, "the token is cached");
    }

    #[tokio::test]
    async fn workload_and_managed_identity() {
        let (base, _) = server().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "federated.jwt\n").unwrap();
        let wi = AdTokens::new(
            config(vec![AdMethod::WorkloadIdentity]),
            env(vec![
                ("AZURE_AUTHORITY_HOST", base.clone()),
                ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
                ("AZURE_CLIENT_ID", "wi-client".into()),
                ("AZURE_TENANT_ID", "tenant2".into()),
            ]),
        )
        .unwrap();
        assert_eq!(wi.token().await.unwrap().expose(), "token-tenant2");
        // Workload identity is not configured here: the chain goes on to managed identity.
        let chain = AdTokens::new(
            config(vec![
                AdMethod::WorkloadIdentity,
                AdMethod::ManagedIdentity {
                    client_id: Some("mi-client".into()),
                },
            ]),
            env(vec![
                ("IDENTITY_ENDPOINT", format!("{base}/msi")),
                ("IDENTITY_HEADER", "idh".into()),
            ]),
        )
        .unwrap();
        assert_eq!(chain.token().await.unwrap().expose(), "token-mi");
    }

    #[tokio::test]
    async fn failures_name_every_method_and_never_the_secret() {
        let (base, _) = server().await;
        let tokens = AdTokens::new(
            config(vec![
                AdMethod::ClientSecret {
                    tenant_id: "tenant1".into(),
                    client_id: "client1".into(),
                    secret: Sensitive::new("wrong-secret".into()),
                },
                AdMethod::ClientCertificate {
                    tenant_id: "t".into(),
                    client_id: "c".into(),
                    certificate: CertificateSource::File("/x.pem".into()),
                    password: None,
                },
                AdMethod::WorkloadIdentity,
            ]),
            env(vec![("AZURE_AUTHORITY_HOST", base)]),
        )
        .unwrap();
        let err = tokens.token().await.unwrap_err().to_string();
        assert!(err.contains("client secret: the token endpoint answered 401 Unauthorized: AADSTS7000215: Invalid client secret provided."), "{err}");
        assert!(
            err.contains(
                "client certificate: client certificate authentication is not implemented"
            ),
            "{err}"
        );
        assert!(
            err.contains("workload identity: workload identity needs"),
            "{err}"
        );
        assert!(!err.contains("wrong-secret"));
    }
}
