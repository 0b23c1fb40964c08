//! `bindings.sftp`: files on an SFTP server (SSH File Transfer Protocol), under `rootPath`.
//!
//! As daprd (golang.org/x/crypto/ssh + pkg/sftp): operations `create` (write the data to a
//! file, making missing directories; answers `{"fileName": <base name>}` and metadata
//! `fileName`), `get` (the file's bytes), `delete` and `list` (`[{"fileName", "isDirectory"}]`);
//! request metadata `fileName` names the file under `rootPath` (joined and cleaned like Go's
//! `path.Join`), and request `rootPath` replaces the root for one call (both keys matched
//! case-insensitively). Host keys are checked with `insecureIgnoreHostKey`, else
//! `knownHostsFile`, else `hostPublicKey`; with none of them the component does not start.
//! Authentication tries `privateKey` (with `privateKeyPassphrase`), then `password`. The
//! connection is made at start-up; an operation that fails at the transport level re-dials
//! once and is tried once more (daprd's reconnect). `sequentialMode` runs one operation at a
//! time on the connection.
//!
//! Deviations:
//! - a path that leaves the component's `rootPath` (`fileName: ../../etc/passwd`, or a
//!   request `rootPath` outside it) is refused (`sftp binding error: path … escapes rootPath
//!   …`); daprd goes wherever the join leads. The check is lexical: symbolic links under
//!   `rootPath` are followed as the server follows them.
//! - `rootPath` is required at start-up (daprd fails each call instead).
//! - component metadata `fileName` (listed in metadata.yaml) is ignored, as daprd ignores it;
//!   bindery says so in a warning.
//! - `list` entries are sorted by name (daprd keeps the server's order).
//! - host certificates and `@cert-authority`/`@revoked` known_hosts markers are not supported.

mod client;
mod path;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::gojson::to_go_json;
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    ErrorKind, Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties,
    Sensitive, decode_as,
};
use bytes::Bytes;
use russh::keys::{PrivateKey, PublicKey};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use client::{Client, Dialer, HostKeyPolicy, OpError};
pub use path::{clean, is_within, join};

pub const ADDRESS: Field = Field::new(
    "address",
    FieldType::String,
    "The SFTP server address (host:port)",
)
.required()
.example("sftp.example.com:22");
pub const ROOT_PATH: Field = Field::new(
    "rootPath",
    FieldType::String,
    "The directory every operation works under; request metadata `rootPath` may narrow it to \
     a directory inside it",
)
.required()
.example("/home/sftpuser");
pub const USERNAME: Field =
    Field::new("username", FieldType::String, "The SSH user").example("sftpuser");
pub const PASSWORD: Field = Field::new("password", FieldType::String, "The user's password")
    .sensitive()
    .example("password");
pub const PRIVATE_KEY: Field = Field::new(
    "privateKey",
    FieldType::String,
    "A private key for public-key authentication (OpenSSH, PKCS#1 or PKCS#8 PEM), tried \
     before the password",
)
.sensitive();
pub const PRIVATE_KEY_PASSPHRASE: Field = Field::new(
    "privateKeyPassphrase",
    FieldType::String,
    "The passphrase of an encrypted privateKey",
)
.sensitive();
pub const HOST_PUBLIC_KEY: Field = Field::new(
    "hostPublicKey",
    FieldType::String,
    "The server's host key, as an authorized_keys line (`ssh-ed25519 AAAA…`); used when \
     neither insecureIgnoreHostKey nor knownHostsFile is set",
);
pub const KNOWN_HOSTS_FILE: Field = Field::new(
    "knownHostsFile",
    FieldType::String,
    "A known_hosts file to check the server's host key against (read at start-up); used \
     unless insecureIgnoreHostKey is set",
)
.example("/path/to/known_hosts");
pub const INSECURE_IGNORE_HOST_KEY: Field = Field::new(
    "insecureIgnoreHostKey",
    FieldType::Bool,
    "Accept any host key (insecure)",
)
.default_value("false")
.example("false");
pub const SEQUENTIAL_MODE: Field = Field::new(
    "sequentialMode",
    FieldType::Bool,
    "Run one operation at a time on the connection",
)
.default_value("false")
.example("false");
pub const FILE_NAME: Field = Field::new(
    "fileName",
    FieldType::String,
    "Ignored here, as daprd ignores it: give `fileName` in request metadata",
);

pub const FIELDS: &[Field] = &[
    ADDRESS,
    ROOT_PATH,
    USERNAME,
    PASSWORD,
    PRIVATE_KEY,
    PRIVATE_KEY_PASSPHRASE,
    HOST_PUBLIC_KEY,
    KNOWN_HOSTS_FILE,
    INSECURE_IGNORE_HOST_KEY,
    SEQUENTIAL_MODE,
    FILE_NAME,
];

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create",
        description: "Write the data to the file named by request metadata `fileName` (under \
                      rootPath, or under request metadata `rootPath` when that lies inside it), \
                      making missing directories; answers {\"fileName\": <base name>}",
    },
    Operation {
        name: "get",
        description: "Read the file named by request metadata `fileName`",
    },
    Operation {
        name: "delete",
        description: "Delete the file named by request metadata `fileName`",
    },
    Operation {
        name: "list",
        description: "List the directory (rootPath, or `fileName` under it) as \
                      [{\"fileName\", \"isDirectory\"}]",
    },
];

/// How the host key is to be checked, before any file is read.
#[derive(Debug, Clone)]
pub enum HostKeyCheck {
    Ignore,
    KnownHostsFile(String),
    Fixed(PublicKey),
}

#[derive(Debug, Clone)]
pub struct SftpConfig {
    pub address: String,
    pub root_path: String,
    pub username: String,
    pub password: Option<Sensitive<String>>,
    pub private_key: Option<Sensitive<Arc<PrivateKey>>>,
    pub host_key: HostKeyCheck,
    pub sequential: bool,
}

impl BindingConfig for SftpConfig {
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let non_empty = |f: &Field| p.string(f).filter(|v| !v.is_empty());
        let host_key = if p.bool(&INSECURE_IGNORE_HOST_KEY) {
            HostKeyCheck::Ignore
        } else if let Some(file) = non_empty(&KNOWN_HOSTS_FILE) {
            HostKeyCheck::KnownHostsFile(file)
        } else if let Some(key) = non_empty(&HOST_PUBLIC_KEY) {
            let parsed = PublicKey::from_openssh(key.trim()).map_err(|e| {
                ConfigError::new(
                    HOST_PUBLIC_KEY.name,
                    format!("sftp binding error: parse host public key error: {e}"),
                )
            })?;
            HostKeyCheck::Fixed(parsed)
        } else {
            return Err(ConfigError::new(
                HOST_PUBLIC_KEY.name,
                "sftp binding error: no host validation method provided",
            ));
        };
        let private_key = match non_empty(&PRIVATE_KEY) {
            Some(text) => {
                let passphrase = non_empty(&PRIVATE_KEY_PASSPHRASE);
                let key =
                    russh::keys::decode_secret_key(&text, passphrase.as_deref()).map_err(|e| {
                        ConfigError::new(
                            PRIVATE_KEY.name,
                            format!("sftp binding error: parse private key error: {e}"),
                        )
                    })?;
                Some(Sensitive::new(Arc::new(key)))
            }
            None => None,
        };
        let address = non_empty(&ADDRESS).ok_or_else(|| {
            ConfigError::new(
                ADDRESS.name,
                "sftp binding error: create sftp client error: sftp binding error: client not initialized",
            )
        })?;
        let root_path = non_empty(&ROOT_PATH).ok_or_else(|| {
            ConfigError::new(ROOT_PATH.name, "sftp binding error: rootPath is required")
        })?;
        if non_empty(&FILE_NAME).is_some() {
            warnings.push(ConfigWarning::new(
                FILE_NAME.name,
                "component metadata fileName has no effect (daprd ignores it too); give fileName in request metadata",
            ));
        }
        Ok(Self {
            address,
            root_path,
            username: p.string(&USERNAME).unwrap_or_default(),
            password: non_empty(&PASSWORD).map(Sensitive::new),
            private_key,
            host_key,
            sequential: p.bool(&SEQUENTIAL_MODE),
        })
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.sftp",
    aliases: &[],
    status: "alpha",
    summary: "Creates, reads, deletes and lists files on an SFTP server",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<SftpConfig>,
    build_input: None,
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let config = cx.config::<SftpConfig>()?;
    Ok(Box::new(SftpBinding::connect(config).await?))
}

pub struct SftpBinding {
    root: String,
    client: Client,
}

/// What an operation failed at, in daprd's words (`error create file <path>`).
struct Staged {
    stage: String,
    error: SftpError,
}

fn at(stage: impl Into<String>) -> impl FnOnce(SftpError) -> Staged {
    let stage = stage.into();
    move |error| Staged { stage, error }
}

fn is_not_found(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

/// Creates `dir` and its missing parents.
async fn mkdir_all(sftp: &SftpSession, dir: &str) -> Result<(), SftpError> {
    let mut prefix = String::new();
    for part in dir.split('/') {
        if part.is_empty() {
            if prefix.is_empty() {
                prefix.push('/');
            }
            continue;
        }
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        prefix.push_str(part);
        match sftp.metadata(prefix.as_str()).await {
            Ok(_) => continue,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        if let Err(e) = sftp.create_dir(prefix.as_str()).await {
            // Another writer may have made it meanwhile.
            if sftp.metadata(prefix.as_str()).await.is_err() {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// `GetMetadataProperty`: request metadata matched case-insensitively.
fn request_value<'a>(md: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    md.get(key)
        .or_else(|| {
            md.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

impl SftpBinding {
    /// Reads the known_hosts file, dials and logs in, as daprd's Init does.
    pub async fn connect(config: SftpConfig) -> Result<Self, BindingError> {
        let host_key = match &config.host_key {
            HostKeyCheck::Ignore => HostKeyPolicy::Ignore,
            HostKeyCheck::Fixed(key) => HostKeyPolicy::Fixed(key.clone()),
            HostKeyCheck::KnownHostsFile(file) => {
                if let Err(e) = tokio::fs::read(file).await {
                    let cause = match e.kind() {
                        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
                        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                        _ => e.to_string(),
                    };
                    return Err(BindingError::invalid(format!(
                        "sftp binding error: read known host file error: open {file}: {cause}"
                    )));
                }
                HostKeyPolicy::KnownHosts(file.into())
            }
        };
        let dialer = Dialer {
            address: config.address.clone(),
            username: config.username.clone(),
            password: config.password.as_ref().map(|p| p.expose().clone()),
            key: config.private_key.as_ref().map(|k| k.expose().clone()),
            host_key,
        };
        let first = dialer.connect().await.map_err(|e| {
            BindingError::unavailable(format!("sftp binding error: create sftp client error: {e}"))
        })?;
        Ok(Self {
            root: config.root_path.clone(),
            client: Client::new(dialer, first, config.sequential),
        })
    }

    /// daprd's `getPath` under the request's `rootPath`, confined to the component's root.
    fn path(&self, md: &HashMap<String, String>) -> Result<String, BindingError> {
        let root = request_value(md, "rootPath").unwrap_or(&self.root);
        let path = match request_value(md, "fileName") {
            Some(name) => join(root, name),
            None => root.to_owned(),
        };
        if !is_within(&self.root, &path) {
            return Err(BindingError::invalid(format!(
                "sftp binding error: path {path:?} escapes rootPath {:?}",
                self.root
            )));
        }
        Ok(path)
    }

    async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, BindingError>
    where
        F: Fn(Arc<client::Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Staged>>,
    {
        let stage = std::sync::Mutex::new(String::new());
        let result = self
            .client
            .run(|c| {
                let fut = op(c);
                let stage = &stage;
                async move {
                    fut.await.map_err(|s| {
                        *stage.lock().expect("stage lock") = s.stage;
                        s.error
                    })
                }
            })
            .await;
        result.map_err(|e: OpError| {
            let stage = stage.lock().expect("stage lock").clone();
            let detail = if stage.is_empty() {
                e.text()
            } else {
                format!("{stage}: {}", e.text())
            };
            let message = format!("sftp binding error: {what}{detail}");
            let kind = if e.is_transport() {
                ErrorKind::Unavailable
            } else {
                ErrorKind::InvalidRequest
            };
            BindingError::new(kind, message)
        })
    }

    async fn create(&self, path: String, data: Bytes) -> Result<InvokeResponse, BindingError> {
        let (dir, name) = path::split(&path);
        let dir = clean(dir);
        let name = name.to_owned();
        self.run("", |c| {
            let (dir, path, data) = (dir.clone(), path.clone(), data.clone());
            async move {
                if dir != "." {
                    match c.sftp.metadata(dir.as_str()).await {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => mkdir_all(&c.sftp, &dir)
                            .await
                            .map_err(at(format!("error create dir {dir}")))?,
                        Err(e) => return Err(at(format!("error checking dir {dir}"))(e)),
                    }
                }
                let mut file = c
                    .sftp
                    .create(path.as_str())
                    .await
                    .map_err(at(format!("error create file {path}")))?;
                let write = async {
                    file.write_all(&data).await?;
                    file.shutdown().await
                };
                write
                    .await
                    .map_err(|e| at(format!("error write file {path}"))(SftpError::from(e)))
            }
        })
        .await?;
        let body = to_go_json(&serde_json::json!({ "fileName": name }));
        Ok(InvokeResponse {
            data: Bytes::from(body),
            metadata: HashMap::from([("fileName".to_owned(), name)]),
        })
    }

    async fn get(&self, path: String) -> Result<InvokeResponse, BindingError> {
        let data = self
            .run(&format!("error reading file {path}: "), |c| {
                let path = path.clone();
                async move {
                    let mut file = c.sftp.open(path.as_str()).await.map_err(at(""))?;
                    let mut data = Vec::new();
                    file.read_to_end(&mut data)
                        .await
                        .map_err(|e| at("")(SftpError::from(e)))?;
                    let _ = file.shutdown().await;
                    Ok(data)
                }
            })
            .await?;
        Ok(InvokeResponse {
            data: Bytes::from(data),
            metadata: HashMap::new(),
        })
    }

    async fn delete(&self, path: String) -> Result<(), BindingError> {
        self.run(&format!("error remove file {path}: "), |c| {
            let path = path.clone();
            async move { c.sftp.remove_file(path.as_str()).await.map_err(at("")) }
        })
        .await
    }

    async fn list(&self, path: String) -> Result<InvokeResponse, BindingError> {
        let mut entries = self
            .run(&format!("error read dir {path}: "), |c| {
                let path = path.clone();
                async move {
                    let dir = c.sftp.read_dir(path.as_str()).await.map_err(at(""))?;
                    Ok(dir
                        .filter(|e| e.file_name() != "." && e.file_name() != "..")
                        .map(|e| (e.file_name(), e.file_type().is_dir()))
                        .collect::<Vec<_>>())
                }
            })
            .await?;
        entries.sort();
        let list: Vec<serde_json::Value> = entries
            .into_iter()
            .map(|(name, dir)| serde_json::json!({"fileName": name, "isDirectory": dir}))
            .collect();
        Ok(InvokeResponse {
            data: Bytes::from(to_go_json(&serde_json::Value::Array(list))),
            metadata: HashMap::new(),
        })
    }
}

#[async_trait]
impl OutputBinding for SftpBinding {
    async fn invoke(&self, request: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let path = self.path(&request.metadata)?;
        match request.operation.as_str() {
            "create" => self.create(path, request.data).await.map(Some),
            "get" => self.get(path).await.map(Some),
            "delete" => self.delete(path).await.map(|()| None),
            "list" => self.list(path).await.map(Some),
            other => Err(BindingError::invalid(format!(
                "unsupported operation {other}"
            ))),
        }
    }

    async fn close(&self) -> Result<(), BindingError> {
        self.client.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2tM/6UhS3wkjGIAGSdvNJ3G426F317kvWG1Ku921ra test";

    fn decode(pairs: &[(&str, &str)]) -> Result<(SftpConfig, Vec<ConfigWarning>), ConfigError> {
        let mut w = Vec::new();
        SftpConfig::decode(&Properties::from_pairs(pairs.iter().copied()), &mut w).map(|c| (c, w))
    }

    #[test]
    fn host_validation_is_required_in_daprd_order() {
        let base = [("address", "h:22"), ("rootPath", "/r"), ("username", "u")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            decode(&v)
        };
        assert_eq!(
            with(&[]).unwrap_err().message,
            "sftp binding error: no host validation method provided"
        );
        let (c, _) = with(&[("insecureIgnoreHostKey", "true"), ("knownHostsFile", "/k")]).unwrap();
        assert!(matches!(c.host_key, HostKeyCheck::Ignore));
        let (c, _) = with(&[("knownHostsFile", "/k"), ("hostPublicKey", HOST_KEY)]).unwrap();
        assert!(matches!(c.host_key, HostKeyCheck::KnownHostsFile(ref f) if f == "/k"));
        let (c, _) = with(&[("HostPublicKey", HOST_KEY)]).unwrap();
        assert!(matches!(c.host_key, HostKeyCheck::Fixed(_)));
        let err = with(&[("hostPublicKey", "ssh-ed25519 not-base64")]).unwrap_err();
        assert!(
            err.message
                .starts_with("sftp binding error: parse host public key error")
        );
        let err =
            with(&[("insecureIgnoreHostKey", "true"), ("privateKey", "garbage")]).unwrap_err();
        assert!(
            err.message
                .starts_with("sftp binding error: parse private key error")
        );
    }

    #[test]
    fn address_and_root_are_required_and_file_name_warns() {
        let err = decode(&[("rootPath", "/r"), ("insecureIgnoreHostKey", "1")]).unwrap_err();
        assert!(
            err.message.ends_with("client not initialized"),
            "{}",
            err.message
        );
        let err = decode(&[("address", "h:22"), ("insecureIgnoreHostKey", "1")]).unwrap_err();
        assert_eq!(err.message, "sftp binding error: rootPath is required");
        let (c, w) = decode(&[
            ("address", "h:22"),
            ("rootPath", "/r"),
            ("insecureIgnoreHostKey", "1"),
            ("fileName", "x.txt"),
            ("password", "hunter2"),
        ])
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn corpus_and_example_components_decode() {
        if crate::common::corpus_tests_dir().is_none() {
            eprintln!("SKIP: components-contrib corpus not found");
        }
        // Dapr's corpus holds no bindings.sftp component today; any that appears must decode.
        for (file, p) in crate::common::corpus_components(&["bindings.sftp"]) {
            SftpConfig::decode(&p, &mut Vec::new()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let p = crate::common::example_properties(&DESCRIPTOR);
        SftpConfig::decode(&p, &mut Vec::new()).expect("the documented example decodes");
    }
}
