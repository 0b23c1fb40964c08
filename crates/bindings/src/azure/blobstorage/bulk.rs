//! `bulkGet`, `bulkCreate` and `bulkDelete`: many blobs, `concurrency` (10) at a time, one
//! answer entry per blob in request order, failures reported per entry.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::azure::json::Json;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::BlobStorage;
use super::ops::valid_delete_snapshots;
use crate::azure::client::header_value;
use crate::azure::go_b64_decode;

const DEFAULT_CONCURRENCY: i64 = 10;

#[derive(Debug, Clone, Deserialize)]
struct GetItem {
    #[serde(rename = "blobName", default)]
    blob_name: String,
    #[serde(rename = "filePath")]
    file_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct GetPayload {
    #[serde(default)]
    items: Vec<GetItem>,
    prefix: Option<String>,
    #[serde(rename = "destinationDir")]
    destination_dir: Option<String>,
    concurrency: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
struct CreateItem {
    #[serde(rename = "blobName", default)]
    blob_name: String,
    #[serde(rename = "sourcePath", default)]
    source_path: String,
    data: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CreatePayload {
    #[serde(default)]
    items: Vec<CreateItem>,
    concurrency: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct DeletePayload {
    prefix: Option<String>,
    #[serde(rename = "blobNames", default)]
    blob_names: Vec<String>,
    #[serde(rename = "deleteSnapshots")]
    delete_snapshots: Option<String>,
    concurrency: Option<i64>,
}

fn payload<T: Default + for<'de> Deserialize<'de>>(
    data: &[u8],
    op: &str,
) -> Result<T, BindingError> {
    if data.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(data)
        .map_err(|e| BindingError::invalid(format!("error parsing {op} payload: {e}")))
}

fn concurrency(value: Option<i64>) -> Result<usize, BindingError> {
    match value {
        None => Ok(DEFAULT_CONCURRENCY as usize),
        Some(n) if n > 0 => Ok(n.min(256) as usize),
        Some(_) => Err(BindingError::invalid("concurrency must be greater than 0")),
    }
}

/// One answer entry: `blobName`, then the fields given (Go's `omitempty`: absent when `None`).
fn entry(name: &str, fields: &[(&'static str, Option<String>)]) -> Json {
    let mut out = vec![("blobName", Json::str(name))];
    for (key, value) in fields {
        if let Some(v) = value {
            out.push((*key, Json::Str(v.clone())));
        }
    }
    Json::obj(out)
}

fn answer(results: Vec<Json>) -> InvokeResponse {
    let number = results.len().to_string();
    InvokeResponse {
        data: Json::Arr(results).to_bytes(),
        metadata: HashMap::from([("number".to_owned(), number)]),
    }
}

/// `base/name` where `..` and absolute parts cannot leave `base`.
pub fn secure_join(base: &str, name: &str) -> PathBuf {
    let mut rel = PathBuf::new();
    for part in Path::new(name).components() {
        match part {
            Component::Normal(p) => rel.push(p),
            Component::ParentDir => {
                rel.pop();
            }
            _ => {}
        }
    }
    Path::new(base).join(rel)
}

impl BlobStorage {
    pub(super) async fn bulk_get(
        &self,
        req: InvokeRequest,
    ) -> Result<InvokeResponse, BindingError> {
        let p: GetPayload = payload(&req.data, "bulkGet")?;
        let limit = concurrency(p.concurrency)?;
        let mut items: Vec<GetItem> = p
            .items
            .iter()
            .filter(|i| !i.blob_name.is_empty())
            .cloned()
            .collect();
        if let Some(prefix) = p.prefix.as_deref().filter(|s| !s.is_empty()) {
            let Some(dir) = p.destination_dir.as_deref().filter(|s| !s.is_empty()) else {
                return Err(BindingError::invalid(
                    "destinationDir is required when using prefix",
                ));
            };
            let explicit: HashSet<String> = items.iter().map(|i| i.blob_name.clone()).collect();
            let mut seen = HashSet::new();
            for name in self
                .names_with_prefix(prefix)
                .await
                .map_err(BindingError::unavailable)?
            {
                if explicit.contains(&name) || !seen.insert(name.clone()) {
                    continue;
                }
                let path = secure_join(dir, &name).display().to_string();
                items.push(GetItem {
                    blob_name: name,
                    file_path: Some(path),
                });
            }
        }
        if items.is_empty() {
            return Err(BindingError::invalid(
                "at least one of items or prefix is required",
            ));
        }
        let results = futures::stream::iter(items)
            .map(|item| self.bulk_get_one(item))
            .buffered(limit)
            .collect()
            .await;
        Ok(answer(results))
    }

    async fn bulk_get_one(&self, item: GetItem) -> Json {
        let (mut file, mut data, mut error) = (None, None, None);
        match item.file_path.filter(|p| !p.is_empty()) {
            Some(path) => match self.download_to_file(&item.blob_name, &path).await {
                Ok(()) => file = Some(path),
                Err(e) => error = Some(e),
            },
            None => match self.download(&item.blob_name).await {
                // Go omits an empty []byte (omitempty).
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => data = Some(B64.encode(&bytes)),
                Err(e) if e.code() == Some("BlobNotFound") => error = Some("blob not found".into()),
                Err(e) => error = Some(e.to_string()),
            },
        }
        entry(
            &item.blob_name,
            &[("filePath", file), ("data", data), ("error", error)],
        )
    }

    pub(super) async fn bulk_create(
        &self,
        req: InvokeRequest,
    ) -> Result<InvokeResponse, BindingError> {
        let p: CreatePayload = payload(&req.data, "bulkCreate")?;
        if p.items.is_empty() {
            return Err(BindingError::invalid("items array must not be empty"));
        }
        for (i, item) in p.items.iter().enumerate() {
            if item.blob_name.is_empty() {
                return Err(BindingError::invalid(format!(
                    "item at index {i} is missing blobName"
                )));
            }
            if item.source_path.is_empty() && item.data.is_none() {
                return Err(BindingError::invalid(format!(
                    "item at index {i} is missing both data and sourcePath"
                )));
            }
        }
        let limit = concurrency(p.concurrency)?;
        let results = futures::stream::iter(p.items)
            .map(|item| self.bulk_create_one(item))
            .buffered(limit)
            .collect()
            .await;
        Ok(answer(results))
    }

    async fn bulk_create_one(&self, item: CreateItem) -> Json {
        let failed = |e: String| entry(&item.blob_name, &[("error", Some(e))]);
        let raw = match &item.data {
            Some(data) => data.clone().into_bytes(),
            None => match tokio::fs::read(&item.source_path).await {
                Ok(bytes) => bytes,
                Err(e) => return failed(format!("error opening source file: {e}")),
            },
        };
        let body = if self.cfg.decode_base64 {
            match go_b64_decode(&String::from_utf8_lossy(&raw)) {
                Ok(b) => b,
                Err(e) => return failed(format!("error uploading blob: {e}")),
            }
        } else {
            raw
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
        if let Some(ct) = item.content_type.as_deref().filter(|c| !c.is_empty()) {
            match header_value(ct) {
                Ok(v) => {
                    headers.insert("x-ms-blob-content-type", v);
                }
                Err(e) => return failed(format!("error uploading blob: {e}")),
            }
        }
        let url = self.blob_url(&item.blob_name);
        match self
            .client
            .send(Method::PUT, url.clone(), headers, Bytes::from(body))
            .await
        {
            Ok(_) => entry(&item.blob_name, &[("blobURL", Some(url.to_string()))]),
            Err(e) => failed(format!("error uploading blob: {e}")),
        }
    }

    pub(super) async fn bulk_delete(
        &self,
        req: InvokeRequest,
    ) -> Result<InvokeResponse, BindingError> {
        let p: DeletePayload = payload(&req.data, "bulkDelete")?;
        let snapshots = match p.delete_snapshots.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(valid_delete_snapshots(s)?.to_owned()),
            None => None,
        };
        let limit = concurrency(p.concurrency)?;
        let mut seen = HashSet::new();
        let mut names: Vec<String> = p
            .blob_names
            .into_iter()
            .filter(|n| !n.is_empty() && seen.insert(n.clone()))
            .collect();
        if let Some(prefix) = p.prefix.as_deref().filter(|s| !s.is_empty()) {
            for name in self
                .names_with_prefix(prefix)
                .await
                .map_err(BindingError::unavailable)?
            {
                if seen.insert(name.clone()) {
                    names.push(name);
                }
            }
        }
        if names.is_empty() {
            return Err(BindingError::invalid(
                "at least one of prefix or blobNames is required",
            ));
        }
        let snapshots = snapshots.as_deref();
        let results = futures::stream::iter(names)
            .map(|name| async move {
                let error = match self.delete_blob(&name, snapshots).await {
                    Ok(()) => None,
                    Err(e) if e.code() == Some("BlobNotFound") => Some("blob not found".into()),
                    Err(e) => Some(e.to_string()),
                };
                entry(&name, &[("error", error)])
            })
            .buffered(limit)
            .collect()
            .await;
        Ok(answer(results))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_stay_inside_the_destination() {
        assert_eq!(secure_join("/d", "a/b.txt"), PathBuf::from("/d/a/b.txt"));
        assert_eq!(secure_join("/d", "../../etc/x"), PathBuf::from("/d/etc/x"));
        assert_eq!(secure_join("/d", "/abs/x"), PathBuf::from("/d/abs/x"));
    }

    #[test]
    fn concurrency_rules() {
        assert_eq!(concurrency(None).unwrap(), 10);
        assert_eq!(concurrency(Some(3)).unwrap(), 3);
        assert_eq!(
            concurrency(Some(0)).unwrap_err().message(),
            "concurrency must be greater than 0"
        );
    }
}
