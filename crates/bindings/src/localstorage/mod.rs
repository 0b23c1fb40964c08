//! `bindings.localstorage`: files under a root directory on the sidecar's disk.
//!
//! Operations `create`, `get`, `delete` and `list`, with daprd's response shapes and quirks
//! (the data of `create` is unquoted and then base64-decoded when it is valid base64; `list`
//! answers absolute paths or `null`). Stricter than daprd: a `fileName` that leaves `rootPath`
//! (`..` past the root, an absolute path, a symlink pointing outside) is refused instead of being
//! clamped into the root, and nothing is ever read or written outside `rootPath`.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bindery_core::descriptor::Operation;
use bindery_core::gojson::to_go_json;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, ConfigError, Field, FieldType, InvokeRequest,
    InvokeResponse, OutputBinding, Properties,
};
use bytes::Bytes;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use crate::common::unquote;

pub const ROOT_PATH: Field = Field::new(
    "rootPath",
    FieldType::String,
    "The root directory. Relative paths are resolved against the working directory; created \
     when missing. May not be under /proc, /sys, /boot or /var/run/secrets",
)
.required()
.example("/tmp/dapr")
.output_only();

pub const FIELDS: &[Field] = &[ROOT_PATH];

/// Request metadata key (exact case) naming the file, relative to `rootPath`.
pub const FILE_NAME_KEY: &str = "fileName";

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create",
        description: "Writes `data` to `fileName` (a random UUID when absent), creating \
                      directories; answers {\"fileName\":\"<relative path>\"}",
    },
    Operation {
        name: "get",
        description: "Returns the raw bytes of `fileName`",
    },
    Operation {
        name: "delete",
        description: "Deletes `fileName`",
    },
    Operation {
        name: "list",
        description: "JSON array of the absolute paths of all files below `fileName` (a \
                      directory, the root when absent), or null",
    },
];

const DISALLOWED_ROOTS: &[&str] = &["/proc", "/sys", "/boot", "/var/run/secrets"];

#[derive(Debug, Clone)]
pub struct LocalStorageConfig {
    /// `rootPath` lexically cleaned; still relative if it was given relative.
    pub root_path: PathBuf,
}

impl bindery_core::BindingConfig for LocalStorageConfig {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }

    fn build_error(e: ConfigError) -> BindingError {
        BindingError::invalid(format!("failed to parse metadata: {}", e.message))
    }
}

impl LocalStorageConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let raw = p.required_string(&ROOT_PATH, "property rootPath must not be empty")?;
        let root_path = clean(Path::new(&raw));
        if root_path.is_absolute() && is_disallowed(&root_path) {
            return Err(ConfigError::new(
                ROOT_PATH.name,
                "property rootPath points to a disallowed location",
            ));
        }
        Ok(Self { root_path })
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.localstorage",
    aliases: &[],
    status: "stable",
    summary: "Reads and writes files below a root directory",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<LocalStorageConfig>,
    build_input: None,
    build_output: Some(build_output),
};

fn build_output(
    cx: BuildContext,
) -> bindery_core::descriptor::BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<LocalStorageConfig>()?;
        let binding = LocalStorage::open(config).await?;
        Ok(Box::new(binding) as Box<dyn OutputBinding>)
    })
}

#[derive(Debug, thiserror::Error)]
enum LocalStorageError {
    #[error("failed to parse metadata: {0}")]
    Metadata(String),
    #[error("unable to create directory specified by 'rootPath' {path}: {cause}")]
    CreateRoot { path: String, cause: String },
    #[error("error getting absolute path for file {file}: {reason}")]
    Escapes { file: String, reason: String },
    #[error("file not found: {0}")]
    NotFound(String),
    #[error("unable to list files as the file specified is not a directory: {0}")]
    NotADirectory(String),
    #[error("{0}")]
    Io(String),
}

impl From<LocalStorageError> for BindingError {
    fn from(e: LocalStorageError) -> Self {
        match e {
            LocalStorageError::Metadata(_)
            | LocalStorageError::Escapes { .. }
            | LocalStorageError::NotFound(_)
            | LocalStorageError::NotADirectory(_) => BindingError::invalid(e.to_string()),
            LocalStorageError::CreateRoot { .. } | LocalStorageError::Io(_) => {
                BindingError::other(e.to_string())
            }
        }
    }
}

/// The binding: a canonical root directory.
#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Resolves `rootPath` (working directory, symlinks), checks it and creates it.
    pub async fn open(config: LocalStorageConfig) -> Result<Self, BindingError> {
        let mut path = config.root_path;
        if !path.is_absolute() {
            let cwd = std::env::current_dir().map_err(|e| {
                LocalStorageError::Metadata(format!(
                    "failed to obtain current working directory: {e}"
                ))
            })?;
            path = clean(&cwd.join(path));
        }
        // Resolve symlinks in the part of the path that exists.
        let mut existing = path.clone();
        loop {
            match tokio::fs::metadata(&existing).await {
                Ok(m) if m.is_dir() => break,
                Ok(_) => {
                    return Err(LocalStorageError::Metadata(
                        "property rootPath represents a file and not a directory".to_owned(),
                    )
                    .into());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match existing.parent() {
                    Some(parent) => existing = parent.to_path_buf(),
                    None => break,
                },
                Err(e) => {
                    return Err(LocalStorageError::Metadata(format!(
                        "error getting stat for path {}: {}",
                        existing.display(),
                        go_io("stat", &existing, &e)
                    ))
                    .into());
                }
            }
        }
        let resolved = tokio::fs::canonicalize(&existing).await.map_err(|e| {
            LocalStorageError::Metadata(format!("failed to evaluate symlinks in rootPath: {e}"))
        })?;
        let rest = path.strip_prefix(&existing).unwrap_or(Path::new(""));
        let path = resolved.join(rest);
        if is_disallowed(&path) {
            return Err(LocalStorageError::Metadata(
                "property rootPath points to a disallowed location".to_owned(),
            )
            .into());
        }
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| LocalStorageError::CreateRoot {
                path: path.display().to_string(),
                cause: go_io("mkdir", &path, &e),
            })?;
        let root =
            tokio::fs::canonicalize(&path)
                .await
                .map_err(|e| LocalStorageError::CreateRoot {
                    path: path.display().to_string(),
                    cause: e.to_string(),
                })?;
        Ok(Self { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Joins `file` below the root, refusing anything that would leave it. Returns the absolute
    /// path and the normalised relative one.
    async fn resolve(&self, file: &str) -> Result<(PathBuf, PathBuf), LocalStorageError> {
        let escapes = |reason: &str| LocalStorageError::Escapes {
            file: file.to_owned(),
            reason: reason.to_owned(),
        };
        if file.contains('\0') {
            return Err(escapes("the name contains a NUL byte"));
        }
        let given = Path::new(file);
        if given.is_absolute() {
            return Err(escapes(
                "absolute paths are not allowed; give a path relative to rootPath",
            ));
        }
        let mut rel = PathBuf::new();
        for component in given.components() {
            match component {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !rel.pop() {
                        return Err(escapes("the path leaves rootPath"));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(escapes(
                        "absolute paths are not allowed; give a path relative to rootPath",
                    ));
                }
            }
        }
        // Every existing symlink along the way must stay inside the root.
        let mut current = self.root.clone();
        for part in rel.components() {
            current.push(part);
            match tokio::fs::symlink_metadata(&current).await {
                Ok(m) if m.file_type().is_symlink() => {
                    match tokio::fs::canonicalize(&current).await {
                        Ok(target) if target.starts_with(&self.root) => {}
                        Ok(_) => {
                            return Err(escapes(
                                "a symbolic link in the path points outside rootPath",
                            ));
                        }
                        Err(_) => {
                            return Err(escapes("a symbolic link in the path cannot be resolved"));
                        }
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(LocalStorageError::Io(go_io("lstat", &current, &e))),
            }
        }
        Ok((self.root.join(&rel), rel))
    }

    async fn create(&self, file: &str, data: &[u8]) -> Result<InvokeResponse, LocalStorageError> {
        let data = decode_create_data(data);
        let (abs, rel) = self.resolve(file).await?;
        if rel.as_os_str().is_empty() {
            return Err(LocalStorageError::Escapes {
                file: file.to_owned(),
                reason: "the name refers to rootPath itself".to_owned(),
            });
        }
        if let Some(dir) = abs.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                LocalStorageError::Io(format!(
                    "error creating directory {}: {}",
                    dir.display(),
                    go_io("mkdir", dir, &e)
                ))
            })?;
        }
        tokio::fs::write(&abs, &data).await.map_err(|e| {
            LocalStorageError::Io(format!(
                "error creating file {}: {}",
                abs.display(),
                go_io("open", &abs, &e)
            ))
        })?;
        tracing::debug!(path = %abs.display(), bytes = data.len(), "Wrote file.");
        let body = serde_json::json!({ "fileName": rel.to_string_lossy() });
        Ok(InvokeResponse {
            data: Bytes::from(to_go_json(&body)),
            metadata: HashMap::new(),
        })
    }

    async fn get(&self, file: &str) -> Result<InvokeResponse, LocalStorageError> {
        let (abs, _) = self.resolve(file).await?;
        let mut f = match tokio::fs::File::open(&abs).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LocalStorageError::NotFound(abs.display().to_string()));
            }
            Err(e) => {
                return Err(LocalStorageError::Io(format!(
                    "error opening path {}: {}",
                    abs.display(),
                    go_io("open", &abs, &e)
                )));
            }
        };
        let mut data = Vec::new();
        f.read_to_end(&mut data).await.map_err(|e| {
            LocalStorageError::Io(format!(
                "error reading file {}: {}",
                abs.display(),
                go_io("read", &abs, &e)
            ))
        })?;
        Ok(InvokeResponse {
            data: Bytes::from(data),
            metadata: HashMap::new(),
        })
    }

    async fn delete(&self, file: &str) -> Result<(), LocalStorageError> {
        let (abs, rel) = self.resolve(file).await?;
        if rel.as_os_str().is_empty() {
            return Err(LocalStorageError::Escapes {
                file: file.to_owned(),
                reason: "the name refers to rootPath itself".to_owned(),
            });
        }
        let fail = |e: io::Error| {
            LocalStorageError::Io(format!(
                "error deleting file {}: {}",
                abs.display(),
                go_io("remove", &abs, &e)
            ))
        };
        // Like Go's os.Remove: a file, a symlink or an empty directory.
        let meta = tokio::fs::symlink_metadata(&abs).await.map_err(fail)?;
        if meta.is_dir() {
            tokio::fs::remove_dir(&abs).await.map_err(fail)?;
        } else {
            tokio::fs::remove_file(&abs).await.map_err(fail)?;
        }
        tracing::debug!(path = %abs.display(), "Removed file.");
        Ok(())
    }

    async fn list(&self, file: &str) -> Result<InvokeResponse, LocalStorageError> {
        let (abs, _) = self.resolve(file).await?;
        let meta = tokio::fs::metadata(&abs).await.map_err(|e| {
            LocalStorageError::Io(format!(
                "error getting stats for path {}: {}",
                abs.display(),
                go_io("stat", &abs, &e)
            ))
        })?;
        if !meta.is_dir() {
            return Err(LocalStorageError::NotADirectory(abs.display().to_string()));
        }
        let files = walk(&abs).await.map_err(|e| {
            LocalStorageError::Io(format!(
                "error listing files in the directory {}: {e}",
                abs.display()
            ))
        })?;
        let body = if files.is_empty() {
            Value::Null
        } else {
            Value::Array(files.into_iter().map(Value::String).collect())
        };
        Ok(InvokeResponse {
            data: Bytes::from(to_go_json(&body)),
            metadata: HashMap::new(),
        })
    }
}

#[async_trait]
impl OutputBinding for LocalStorage {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let mut file = req.metadata.get(FILE_NAME_KEY).cloned().unwrap_or_default();
        if file.is_empty() && req.operation == "create" {
            file = uuid::Uuid::new_v4().to_string();
        }
        let result = match req.operation.as_str() {
            "create" => self.create(&file, &req.data).await.map(Some),
            "get" => self.get(&file).await.map(Some),
            "delete" => self.delete(&file).await.map(|()| None),
            "list" => self.list(&file).await.map(Some),
            other => {
                return Err(BindingError::invalid(format!(
                    "unsupported operation {other}"
                )));
            }
        };
        result.map_err(BindingError::from)
    }
}

/// daprd's quirk: `strconv.Unquote` first, then, when the result is valid standard base64
/// (Go's `StdEncoding`, which skips `\r` and `\n`), the decoded bytes are what gets written.
pub fn decode_create_data(data: &[u8]) -> Vec<u8> {
    let data = match unquote(data) {
        Some(s) => s.into_bytes(),
        None => data.to_vec(),
    };
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let stripped: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    match engine.decode(&stripped) {
        Ok(decoded) => decoded,
        Err(_) => data,
    }
}

/// Non-directory entries below `dir`, recursively, in lexical pre-order (like Go's
/// filepath.Walk, which does not follow symlinks).
async fn walk(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk_into(dir.to_path_buf(), &mut out).await?;
    Ok(out)
}

fn walk_into(dir: PathBuf, out: &mut Vec<String>) -> BoxFuture<'_, io::Result<()>> {
    Box::pin(async move {
        let mut entries = tokio::fs::read_dir(&dir).await?;
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let is_dir = tokio::fs::symlink_metadata(&path)
                .await
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if is_dir {
                walk_into(path, out).await?;
            } else {
                out.push(path.to_string_lossy().into_owned());
            }
        }
        Ok(())
    })
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Lexical clean: drops `.`, resolves `..` against earlier parts (never above `/`).
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if depth > 0 {
                    out.pop();
                    depth -= 1;
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            Component::Normal(p) => {
                out.push(p);
                depth += 1;
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn is_disallowed(path: &Path) -> bool {
    DISALLOWED_ROOTS.iter().any(|root| path.starts_with(root))
}

/// An `io::Error` worded like Go's `*PathError`: `open /x: no such file or directory`.
fn go_io(op: &str, path: &Path, e: &io::Error) -> String {
    let cause = match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        io::ErrorKind::DirectoryNotEmpty => "directory not empty".to_owned(),
        io::ErrorKind::AlreadyExists => "file exists".to_owned(),
        _ => e.to_string(),
    };
    format!("{op} {}: {cause}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::manifest::{Component as ManifestComponent, parse_documents};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn root_path_is_required() {
        let err = LocalStorageConfig::from_properties(&props(&[])).unwrap_err();
        assert_eq!(err.field, "rootPath");
        assert_eq!(err.message, "property rootPath must not be empty");
        assert!(LocalStorageConfig::from_properties(&props(&[("rootPath", "")])).is_err());
    }

    #[test]
    fn root_path_matches_case_insensitively_and_is_cleaned() {
        let c = LocalStorageConfig::from_properties(&props(&[("ROOTPATH", "/tmp/a/./b/../c/")]))
            .unwrap();
        assert_eq!(c.root_path, PathBuf::from("/tmp/a/c"));
        let c = LocalStorageConfig::from_properties(&props(&[("rootPath", "data/x")])).unwrap();
        assert_eq!(c.root_path, PathBuf::from("data/x"));
    }

    #[test]
    fn disallowed_roots() {
        for p in [
            "/proc",
            "/proc/self",
            "/sys/",
            "/boot/x",
            "/var/run/secrets/kubernetes.io",
            "/tmp/../proc",
        ] {
            let err = LocalStorageConfig::from_properties(&props(&[("rootPath", p)])).unwrap_err();
            assert_eq!(
                err.message, "property rootPath points to a disallowed location",
                "{p}"
            );
        }
        for p in ["/process", "/system", "/var/run/secretsx", "/tmp"] {
            assert!(
                LocalStorageConfig::from_properties(&props(&[("rootPath", p)])).is_ok(),
                "{p}"
            );
        }
    }

    #[test]
    fn create_data_unquotes_then_decodes_base64() {
        assert_eq!(decode_create_data(br#""hello""#), b"hello");
        // `test` is valid base64: daprd stores three binary bytes (cc#3391).
        assert_eq!(decode_create_data(b"test"), vec![0xb5, 0xeb, 0x2d]);
        assert_eq!(decode_create_data(br#""aGVsbG8=""#), b"hello");
        assert_eq!(decode_create_data(b"aGVs\nbG8="), b"hello");
        // Missing padding is not valid for Go's StdEncoding.
        assert_eq!(decode_create_data(b"aGVsbG8"), b"aGVsbG8");
        assert_eq!(decode_create_data(br#"{"a":1}"#), br#"{"a":1}"#);
        assert_eq!(decode_create_data(b""), b"");
    }

    #[test]
    fn descriptor_shape() {
        assert!(DESCRIPTOR.has_output() && !DESCRIPTOR.has_input());
        for op in ["create", "get", "delete", "list"] {
            assert!(DESCRIPTOR.supports_operation(op), "{op}");
        }
    }

    #[test]
    fn corpus_components_decode() {
        let Some(root) = crate::common::corpus_tests_dir() else {
            eprintln!("SKIP: components-contrib corpus not found");
            return;
        };
        let path = root
            .join("certification/bindings/localstorage/components/localstorage.yaml")
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("corpus file");
        let path = path.as_str();
        let mut decoded = 0;
        for doc in parse_documents(path, &text) {
            let doc = doc.expect("document parses");
            let Some(c) = ManifestComponent::from_document(&doc).expect("component") else {
                continue;
            };
            let map = c
                .metadata
                .iter()
                .map(|i| (i.name.clone(), i.value.clone()))
                .collect();
            let cfg = LocalStorageConfig::from_properties(&Properties::new(map).unwrap()).unwrap();
            assert_eq!(
                cfg.root_path,
                PathBuf::from("/tmp/dapr-cert-test/bindings.localstorage")
            );
            decoded += 1;
        }
        assert_eq!(decoded, 1);
    }
}
