//! `create`, `get`, `delete` and `presign`.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bindery_core::duration::parse_go_duration;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse, Metadata};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

use super::BlobStorage;
use crate::azure::client::{header_name, header_value};
use crate::azure::json::Json;
use crate::azure::{go_b64_decode, go_parse_bool};

pub(super) const BLOB_NAME: &str = "blobName";
const SIGN_TTL: &str = "signTTL";
const FILE_PATH: &str = "filePath";
const INCLUDE_METADATA: &str = "includeMetadata";
const DELETE_SNAPSHOTS: &str = "deleteSnapshots";

/// The request-metadata keys that become blob HTTP headers (matched in any case), with the
/// Put Blob header each one sets.
const CONTENT_HEADERS: &[(&str, &str)] = &[
    ("contenttype", "x-ms-blob-content-type"),
    ("contentmd5", "x-ms-blob-content-md5"),
    ("contentencoding", "x-ms-blob-content-encoding"),
    ("contentlanguage", "x-ms-blob-content-language"),
    ("contentdisposition", "x-ms-blob-content-disposition"),
    ("cachecontrol", "x-ms-blob-cache-control"),
];

const BAD_MD5: &str = "the MD5 value specified in Content MD5 is invalid, MD5 value must be 128 bits and base64 encoded";

fn required_name(metadata: &Metadata) -> Result<&str, BindingError> {
    metadata
        .get(BLOB_NAME)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| BindingError::invalid("blobName is a required attribute"))
}

/// daprd's `CreateBlobHTTPHeadersFromRequest`: takes the content headers (non-empty values,
/// any key case) out of `meta` and answers the Put Blob headers they set.
pub(super) fn content_headers(meta: &mut Metadata) -> Result<HeaderMap, BindingError> {
    let mut headers = HeaderMap::new();
    for (key, header) in CONTENT_HEADERS {
        let Some(original) = meta
            .keys()
            .find(|k| k.eq_ignore_ascii_case(key) && !meta[*k].is_empty())
            .cloned()
        else {
            continue;
        };
        let value = meta.remove(&original).unwrap_or_default();
        if *key == "contentmd5" {
            match B64.decode(value.trim()) {
                Ok(raw) if raw.len() == 16 => {
                    // Also the transactional MD5: the service checks it against the body.
                    headers.insert("content-md5", header_value(&value).map_err(invalid)?);
                }
                _ => return Err(BindingError::invalid(BAD_MD5)),
            }
        }
        headers.insert(*header, header_value(&value).map_err(invalid)?);
    }
    Ok(headers)
}

fn invalid(e: impl std::fmt::Display) -> BindingError {
    BindingError::invalid(e.to_string())
}

/// daprd's `SanitizeMetadata`: keys keep only `[A-Za-z0-9]`, values drop non-ASCII and
/// control characters other than space and tab.
pub(super) fn sanitize_metadata(meta: &Metadata) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = meta
        .iter()
        .map(|(k, v)| {
            let key: String = k.chars().filter(char::is_ascii_alphanumeric).collect();
            let value: String = v
                .bytes()
                .filter(|b| *b <= 127 && (*b >= b' ' && *b != 0x7f || *b == b'\t'))
                .map(char::from)
                .collect();
            (key, value)
        })
        .collect();
    out.sort();
    out
}

/// Go's `strconv.Unquote` of the data, then base64 when `decodeBase64` is set.
pub(super) fn create_payload(data: &[u8], decode_base64: bool) -> Result<Vec<u8>, BindingError> {
    let data = match crate::common::unquote(data) {
        Some(text) => text.into_bytes(),
        None => data.to_vec(),
    };
    if decode_base64 {
        return go_b64_decode(&String::from_utf8_lossy(&data)).map_err(BindingError::invalid);
    }
    Ok(data)
}

impl BlobStorage {
    pub(super) async fn create(&self, req: InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let name = match req.metadata.get(BLOB_NAME).filter(|v| !v.is_empty()) {
            Some(v) => v.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let sign_ttl = req.metadata.get(SIGN_TTL).cloned().unwrap_or_default();
        let mut meta: Metadata = req
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != SIGN_TTL && k.as_str() != BLOB_NAME)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut headers = content_headers(&mut meta)?;
        let data = create_payload(&req.data, self.cfg.decode_base64)?;
        // Signed before the upload, so a bad signTTL leaves no blob behind.
        let presign_url = if sign_ttl.is_empty() {
            None
        } else {
            Some(
                self.sas_url(&name, &sign_ttl)
                    .map_err(|e| BindingError::invalid(format!("error generating SAS URL: {e}")))?,
            )
        };
        for (key, value) in sanitize_metadata(&meta) {
            let header =
                header_name(&format!("x-ms-meta-{}", key.to_ascii_lowercase())).map_err(invalid)?;
            headers.insert(header, header_value(&value).map_err(invalid)?);
        }
        headers.insert(
            "x-ms-blob-type",
            reqwest::header::HeaderValue::from_static("BlockBlob"),
        );
        let url = self.blob_url(&name);
        self.client
            .send(Method::PUT, url.clone(), headers, Bytes::from(data))
            .await
            .map_err(|e| self.service_error(e, "error uploading az blob"))?;
        let mut fields = vec![
            ("blobURL", Json::str(url.as_str())),
            ("blobName", Json::str(name.clone())),
        ];
        if let Some(presign) = presign_url {
            fields.push(("presignURL", Json::Str(presign)));
        }
        Ok(InvokeResponse {
            data: Json::obj(fields).to_bytes(),
            metadata: HashMap::from([(BLOB_NAME.to_owned(), name)]),
        })
    }

    /// A read-only SAS URL valid for `ttl` (a Go duration).
    fn sas_url(&self, name: &str, ttl: &str) -> Result<String, String> {
        let d = parse_go_duration(ttl)
            .map_err(|e| format!("cannot parse signTTL duration {ttl:?}: time: {e}"))?;
        if d.is_zero() {
            return Err(format!("signTTL must be a positive duration, got {ttl:?}"));
        }
        let key = self.client.shared_key().ok_or_else(|| {
            "failed to generate SAS URL (ensure the binding is configured with an account key or connection string): credential is not a SharedKeyCredential".to_owned()
        })?;
        let now = chrono::Utc::now();
        let expiry = now
            + chrono::Duration::from_std(d).map_err(|_| format!("signTTL is too long: {ttl}"))?;
        let sas = key.blob_read_sas(&self.cfg.container, name, now, expiry);
        Ok(format!("{}?{sas}", self.blob_url(name)))
    }

    pub(super) fn presign(&self, req: InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let name = required_name(&req.metadata)?;
        let ttl = req
            .metadata
            .get(SIGN_TTL)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                BindingError::invalid("signTTL is a required attribute for presign operations")
            })?;
        let url = self
            .sas_url(name, ttl)
            .map_err(|e| BindingError::invalid(format!("error generating SAS URL: {e}")))?;
        Ok(InvokeResponse {
            data: Json::obj([("presignURL", Json::Str(url))]).to_bytes(),
            metadata: HashMap::new(),
        })
    }

    /// Downloads a blob's bytes.
    pub(super) async fn download(&self, name: &str) -> Result<Bytes, super::StorageError> {
        let answer = self
            .client
            .send(
                Method::GET,
                self.blob_url(name),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await?;
        Ok(answer.body)
    }

    /// Downloads a blob into a local file (parent folders created; removed again on error).
    pub(super) async fn download_to_file(&self, name: &str, path: &str) -> Result<(), String> {
        let parent = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("error creating directory for {path:?}: {e}"))?;
        }
        let body = match self.download(name).await {
            Ok(body) => body,
            Err(e) if e.code() == Some("BlobNotFound") => return Err("blob not found".to_owned()),
            Err(e) => return Err(format!("error downloading blob to file: {e}")),
        };
        if let Err(e) = tokio::fs::write(path, &body).await {
            let _ = tokio::fs::remove_file(path).await;
            return Err(format!("error creating file {path:?}: {e}"));
        }
        Ok(())
    }

    pub(super) async fn get(&self, req: InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let name = required_name(&req.metadata)?;
        if let Some(path) = req.metadata.get(FILE_PATH).filter(|v| !v.is_empty()) {
            self.download_to_file(name, path)
                .await
                .map_err(BindingError::invalid)?;
            return Ok(InvokeResponse {
                data: Bytes::new(),
                metadata: HashMap::from([(FILE_PATH.to_owned(), path.clone())]),
            });
        }
        let data = self
            .download(name)
            .await
            .map_err(|e| self.blob_error(e, "error downloading az blob"))?;
        let include = match req.metadata.get(INCLUDE_METADATA) {
            None => false,
            Some(v) => go_parse_bool(v).ok_or_else(|| {
                BindingError::invalid(format!(
                    "error parsing metadata: error parsing metadata `{INCLUDE_METADATA}` with value `{v}` as bool: strconv.ParseBool: parsing {v:?}: invalid syntax"
                ))
            })?,
        };
        let metadata = if include {
            self.blob_metadata(name).await?
        } else {
            HashMap::new()
        };
        Ok(InvokeResponse { data, metadata })
    }

    /// The blob's metadata, keys as daprd's Go SDK gives them (Go's canonical header form of
    /// the part after `x-ms-meta-`: `custom` reads `Custom`).
    async fn blob_metadata(&self, name: &str) -> Result<Metadata, BindingError> {
        let answer = self
            .client
            .send(
                Method::HEAD,
                self.blob_url(name),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await
            .map_err(|e| self.service_error(e, "error reading blob metadata"))?;
        let mut out = HashMap::new();
        for (header, value) in &answer.headers {
            if let Some(key) = header.as_str().strip_prefix("x-ms-meta-")
                && let Ok(value) = value.to_str()
            {
                out.insert(go_canonical_key(key), value.to_owned());
            }
        }
        Ok(out)
    }

    pub(super) async fn delete(
        &self,
        req: InvokeRequest,
    ) -> Result<Option<InvokeResponse>, BindingError> {
        let name = required_name(&req.metadata)?;
        let snapshots = match req.metadata.get(DELETE_SNAPSHOTS) {
            Some(v) => Some(valid_delete_snapshots(v)?),
            None => None,
        };
        self.delete_blob(name, snapshots)
            .await
            .map_err(|e| self.blob_error(e, "error deleting az blob"))?;
        Ok(None)
    }

    pub(super) async fn delete_blob(
        &self,
        name: &str,
        snapshots: Option<&str>,
    ) -> Result<(), super::StorageError> {
        let mut headers = HeaderMap::new();
        if let Some(s) = snapshots {
            headers.insert("x-ms-delete-snapshots", header_value(s)?);
        }
        self.client
            .send(Method::DELETE, self.blob_url(name), headers, Bytes::new())
            .await
            .map(|_| ())
    }
}

/// `include` or `only`, else daprd's error.
pub(super) fn valid_delete_snapshots(value: &str) -> Result<&str, BindingError> {
    match value {
        "include" | "only" => Ok(value),
        other => Err(BindingError::invalid(format!(
            "invalid delete snapshot option type: {other}; allowed: [include only]"
        ))),
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: upper case after the start and after `-`.
pub(super) fn go_canonical_key(key: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn content_headers_leave_the_rest_as_metadata() {
        let mut meta = md(&[
            ("ContentType", "text/plain"),
            ("contentMD5", "XUFAKrxLKna5cZ2REBfFkg=="),
            ("cacheControl", "no-cache"),
            ("contentLanguage", ""),
            ("custom-key", "v\u{e9}\u{1}ok"),
        ]);
        let h = content_headers(&mut meta).unwrap();
        assert_eq!(h["x-ms-blob-content-type"], "text/plain");
        assert_eq!(h["x-ms-blob-content-md5"], "XUFAKrxLKna5cZ2REBfFkg==");
        assert_eq!(h["content-md5"], "XUFAKrxLKna5cZ2REBfFkg==");
        assert_eq!(h["x-ms-blob-cache-control"], "no-cache");
        assert!(!h.contains_key("x-ms-blob-content-language"));
        assert_eq!(
            sanitize_metadata(&meta),
            vec![
                ("contentLanguage".to_owned(), "".to_owned()),
                ("customkey".to_owned(), "vok".to_owned())
            ]
        );
        let err = content_headers(&mut md(&[("contentMD5", "abcd")])).unwrap_err();
        assert_eq!(err.message(), BAD_MD5);
    }

    #[test]
    fn payloads_unquote_then_decode() {
        assert_eq!(create_payload(br#""hi""#, false).unwrap(), b"hi");
        assert_eq!(create_payload(b"aGk=", true).unwrap(), b"hi");
        assert_eq!(create_payload(br#""aGk=""#, true).unwrap(), b"hi");
        let err = create_payload(b"a*b=", true).unwrap_err();
        assert_eq!(err.message(), "illegal base64 data at input byte 1");
    }

    #[test]
    fn canonical_keys_and_snapshot_options() {
        assert_eq!(go_canonical_key("custom"), "Custom");
        assert_eq!(go_canonical_key("myKEY"), "Mykey");
        assert!(valid_delete_snapshots("only").is_ok());
        assert_eq!(
            valid_delete_snapshots("").unwrap_err().message(),
            "invalid delete snapshot option type: ; allowed: [include only]"
        );
    }
}
