//! The operations of `bindings.aws.s3`, with daprd's request metadata, responses and errors.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, StorageClass};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bindery_core::duration::parse_go_duration;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse, Metadata};
use bytes::Bytes;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::S3Config;
use crate::aws::auth::{describe, sdk_error};

const PREFIX: &str = "s3 binding error: ";
const DEFAULT_CONCURRENCY: usize = 10;

pub struct S3 {
    pub client: Client,
    pub config: S3Config,
    pub endpoint: Option<String>,
    pub component: String,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(name: &str, value: &str) -> Result<bool, BindingError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(BindingError::invalid(format!(
            "s3 binding error. error merge metadata : strconv.ParseBool: parsing {value:?}: invalid syntax (metadata {name})"
        ))),
    }
}

fn flag(meta: &Metadata, name: &str, default: bool) -> Result<bool, BindingError> {
    match meta.get(name).filter(|v| !v.is_empty()) {
        Some(v) => parse_go_bool(name, v),
        None => Ok(default),
    }
}

fn required_key(meta: &Metadata) -> Result<&str, BindingError> {
    meta.get("key")
        .map(String::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| BindingError::invalid(format!("{PREFIX}required metadata 'key' missing")))
}

fn ttl(meta: &Metadata, required: bool) -> Result<Option<Duration>, BindingError> {
    match meta.get("presignTTL").filter(|v| !v.is_empty()) {
        Some(v) => parse_go_duration(v).map(Some).map_err(|e| {
            BindingError::invalid(format!("{PREFIX}cannot parse duration {v:?}: {e}"))
        }),
        None if required => Err(BindingError::invalid(format!(
            "{PREFIX}required metadata 'presignTTL' missing"
        ))),
        None => Ok(None),
    }
}

fn not_found() -> BindingError {
    BindingError::invalid(format!("{PREFIX}object not found"))
}

fn json_response(value: &impl Serialize) -> Result<InvokeResponse, BindingError> {
    let data = serde_json::to_vec(value).map_err(|e| BindingError::other(e.to_string()))?;
    Ok(InvokeResponse {
        data: Bytes::from(data),
        metadata: Metadata::new(),
    })
}

#[derive(Serialize)]
struct CreateResponse {
    location: String,
    #[serde(rename = "versionID")]
    version_id: Option<String>,
    #[serde(rename = "presignURL", skip_serializing_if = "Option::is_none")]
    presign_url: Option<String>,
}

/// One upload: the parts of a request `create` and a `bulkCreate` item share.
struct Upload<'a> {
    key: String,
    body: Vec<u8>,
    content_type: Option<&'a str>,
    tags: Option<&'a str>,
    storage_class: Option<&'a str>,
}

impl S3 {
    fn err(
        &self,
        prefix: &str,
        e: &aws_sdk_s3::error::SdkError<
            impl std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
            impl std::fmt::Debug,
        >,
    ) -> BindingError {
        if crate::aws::missing::is_missing(e, &["NoSuchBucket"]) {
            return crate::aws::missing::missing_error(prefix, "bucket", &self.config.bucket, e);
        }
        sdk_error(&self.component, self.endpoint.as_deref(), prefix, e)
    }

    /// Where an object is, as daprd builds it when the SDK gives no location.
    fn location(&self, key: &str) -> String {
        let bucket = &self.config.bucket;
        match &self.endpoint {
            Some(e) => format!("{}/{bucket}/{key}", e.trim_end_matches('/')),
            None if self.config.force_path_style => {
                format!("https://s3.amazonaws.com/{bucket}/{key}")
            }
            None => format!("https://{bucket}.s3.amazonaws.com/{key}"),
        }
    }

    async fn put(&self, up: Upload<'_>) -> Result<(String, Option<String>), BindingError> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&up.key)
            .body(ByteStream::from(up.body));
        if let Some(ct) = up.content_type.filter(|c| !c.is_empty()) {
            put = put.content_type(ct);
        }
        if let Some(tags) = up.tags.filter(|t| !t.is_empty()) {
            put = put.tagging(tags.split(',').map(str::trim).collect::<Vec<_>>().join("&"));
        }
        if let Some(class) = up.storage_class.filter(|c| !c.is_empty()) {
            put = put.storage_class(StorageClass::from(class));
        }
        let out = put
            .send()
            .await
            .map_err(|e| self.err("s3 binding error: uploading failed: ", &e))?;
        Ok((self.location(&up.key), out.version_id().map(str::to_owned)))
    }

    pub async fn create(&self, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let meta = &req.metadata;
        let key = meta
            .get("key")
            .filter(|k| !k.is_empty())
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let decode = flag(meta, "decodeBase64", self.config.decode_base64)?;
        let presign_ttl = ttl(meta, false)?;
        let body = match meta.get("filePath").filter(|p| !p.is_empty()) {
            Some(path) => tokio::fs::read(path)
                .await
                .map_err(|e| BindingError::invalid(format!("{PREFIX}reading file {path}: {e}")))?,
            None => {
                let data = crate::common::unquote(&req.data)
                    .map(String::into_bytes)
                    .unwrap_or_else(|| req.data.to_vec());
                if decode {
                    B64.decode(&data).map_err(|e| {
                        BindingError::invalid(format!("s3 binding error. decode : {e}"))
                    })?
                } else {
                    data
                }
            }
        };
        let (location, version_id) = self
            .put(Upload {
                key: key.clone(),
                body,
                content_type: meta.get("Content-Type").map(String::as_str),
                tags: meta.get("tags").map(String::as_str),
                storage_class: meta.get("storageClass").map(String::as_str),
            })
            .await?;
        let presign_url = match presign_ttl {
            Some(ttl) => Some(self.presign_url(&key, ttl, false).await?),
            None => None,
        };
        let mut resp = json_response(&CreateResponse {
            location,
            version_id,
            presign_url,
        })?;
        resp.metadata.insert("key".into(), key);
        Ok(resp)
    }

    async fn fetch(&self, key: &str) -> Result<Bytes, BindingError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_no_such_key() => not_found(),
                _ => self.err("s3 binding error: error downloading S3 object: ", &e),
            })?;
        let data = out.body.collect().await.map_err(|e| {
            BindingError::unavailable(format!("{PREFIX}error downloading S3 object: {e}"))
        })?;
        Ok(data.into_bytes())
    }

    pub async fn get(&self, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let key = required_key(&req.metadata)?;
        let encode = flag(&req.metadata, "encodeBase64", self.config.encode_base64)?;
        let bytes = self.fetch(key).await?;
        let data = if encode {
            Bytes::from(B64.encode(&bytes))
        } else {
            bytes
        };
        Ok(InvokeResponse {
            data,
            metadata: Metadata::new(),
        })
    }

    pub async fn delete(&self, req: &InvokeRequest) -> Result<(), BindingError> {
        let key = required_key(&req.metadata)?;
        self.client
            .head_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_not_found() => not_found(),
                _ => self.err("s3 binding error: delete operation failed: ", &e),
            })?;
        self.client
            .delete_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("s3 binding error: delete operation failed: ", &e))?;
        Ok(())
    }

    pub async fn list(&self, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct ListPayload {
            marker: String,
            prefix: String,
            max_results: i32,
            delimiter: String,
        }
        let payload: ListPayload = if req.data.is_empty() {
            ListPayload::default()
        } else {
            serde_json::from_slice(&req.data).map_err(|e| {
                BindingError::invalid(format!(
                    "s3 binding error. list operation. cannot parse request data: {e}"
                ))
            })?
        };
        let max = if payload.max_results == 0 {
            1000
        } else {
            payload.max_results
        };
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        let out = self
            .client
            .list_objects()
            .bucket(&self.config.bucket)
            .max_keys(max)
            .set_marker(nonempty(payload.marker))
            .set_prefix(nonempty(payload.prefix))
            .set_delimiter(nonempty(payload.delimiter))
            .send()
            .await
            .map_err(|e| {
                self.err(
                    "s3 binding error. list operation. cannot marshal blobs to json: ",
                    &e,
                )
            })?;
        let data = bindery_core::gojson::to_go_json(&super::list::to_go(&out));
        Ok(InvokeResponse {
            data: Bytes::from(data),
            metadata: Metadata::new(),
        })
    }

    async fn presign_url(
        &self,
        key: &str,
        ttl: Duration,
        put: bool,
    ) -> Result<String, BindingError> {
        let cfg = PresigningConfig::expires_in(ttl)
            .map_err(|e| BindingError::invalid(format!("{PREFIX}presign: {e}")))?;
        let bucket = &self.config.bucket;
        let signed = if put {
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .presigned(cfg)
                .await
                .map_err(|e| BindingError::other(format!("{PREFIX}presign: {}", describe(&e))))?
        } else {
            self.client
                .get_object()
                .bucket(bucket)
                .key(key)
                .presigned(cfg)
                .await
                .map_err(|e| BindingError::other(format!("{PREFIX}presign: {}", describe(&e))))?
        };
        Ok(signed.uri().to_owned())
    }

    pub async fn presign(&self, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let key = required_key(&req.metadata)?;
        let ttl = ttl(&req.metadata, true)?.unwrap_or_default();
        let put = match req
            .metadata
            .get("presignMethod")
            .map(|m| m.to_ascii_uppercase())
        {
            None => false,
            Some(m) if m.is_empty() || m == "GET" => false,
            Some(m) if m == "PUT" => true,
            Some(m) => {
                return Err(BindingError::invalid(format!(
                    "{PREFIX}presignMethod must be GET or PUT, not {m}"
                )));
            }
        };
        let url = self.presign_url(key, ttl, put).await?;
        json_response(&json!({ "presignURL": url }))
    }

    pub async fn bulk_delete(&self, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
        #[derive(Deserialize)]
        struct Payload {
            keys: Vec<String>,
        }
        let payload: Payload = serde_json::from_slice(&req.data).map_err(|e| {
            BindingError::invalid(format!(
                "{PREFIX}bulkDelete: cannot parse request data: {e}"
            ))
        })?;
        let mut results = Vec::with_capacity(payload.keys.len());
        for chunk in payload.keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BindingError::invalid(format!("{PREFIX}bulkDelete: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BindingError::invalid(format!("{PREFIX}bulkDelete: {e}")))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.config.bucket)
                .delete(delete)
                .send()
                .await;
            let errors: Vec<(String, String)> = match &out {
                Ok(o) => o
                    .errors()
                    .iter()
                    .map(|e| {
                        (
                            e.key().unwrap_or_default().to_owned(),
                            e.message()
                                .or(e.code())
                                .unwrap_or("delete failed")
                                .to_owned(),
                        )
                    })
                    .collect(),
                Err(e) => chunk.iter().map(|k| (k.clone(), describe(e))).collect(),
            };
            for key in chunk {
                let error = errors
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, m)| m.clone());
                results.push(ItemResult {
                    key: key.clone(),
                    location: None,
                    data: None,
                    error,
                });
            }
        }
        json_response(&results)
    }
}

#[derive(Serialize)]
struct ItemResult {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn concurrency(n: Option<usize>) -> usize {
    n.filter(|n| *n > 0).unwrap_or(DEFAULT_CONCURRENCY)
}

/// `bulkGet`: `{"items":[{"key","filePath"?}],"concurrency"?}` -> `[{"key","data"?,"error"?}]`
/// in input order; with `filePath` the object is written there instead of returned.
pub async fn bulk_get(s3: Arc<S3>, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        key: String,
        file_path: Option<String>,
    }
    #[derive(Deserialize)]
    struct Payload {
        items: Vec<Item>,
        concurrency: Option<usize>,
    }
    let payload: Payload = serde_json::from_slice(&req.data).map_err(|e| {
        BindingError::invalid(format!("{PREFIX}bulkGet: cannot parse request data: {e}"))
    })?;
    let limit = concurrency(payload.concurrency);
    let results: Vec<ItemResult> = futures::stream::iter(payload.items)
        .map(|item| {
            let s3 = s3.clone();
            async move {
                let outcome = match s3.fetch(&item.key).await {
                    Ok(bytes) => match &item.file_path {
                        Some(path) => tokio::fs::write(path, &bytes)
                            .await
                            .map(|()| None)
                            .map_err(|e| format!("writing {path}: {e}")),
                        None => Ok(Some(B64.encode(&bytes))),
                    },
                    Err(e) => Err(e.message().to_owned()),
                };
                let (data, error) = match outcome {
                    Ok(d) => (d, None),
                    Err(e) => (None, Some(e)),
                };
                ItemResult {
                    key: item.key,
                    location: None,
                    data,
                    error,
                }
            }
        })
        .buffered(limit)
        .collect()
        .await;
    json_response(&results)
}

/// `bulkCreate`: `{"items":[{"key","data"?,"contentType"?,"filePath"?}],"concurrency"?}` ->
/// `[{"key","location"?,"error"?}]` in input order.
pub async fn bulk_create(s3: Arc<S3>, req: &InvokeRequest) -> Result<InvokeResponse, BindingError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        key: String,
        #[serde(default)]
        data: Option<String>,
        content_type: Option<String>,
        file_path: Option<String>,
    }
    #[derive(Deserialize)]
    struct Payload {
        items: Vec<Item>,
        concurrency: Option<usize>,
    }
    let payload: Payload = serde_json::from_slice(&req.data).map_err(|e| {
        BindingError::invalid(format!(
            "{PREFIX}bulkCreate: cannot parse request data: {e}"
        ))
    })?;
    let limit = concurrency(payload.concurrency);
    let results: Vec<ItemResult> = futures::stream::iter(payload.items)
        .map(|item| {
            let s3 = s3.clone();
            async move {
                let body = match &item.file_path {
                    Some(path) => tokio::fs::read(path)
                        .await
                        .map_err(|e| format!("reading {path}: {e}")),
                    None => Ok(item.data.clone().unwrap_or_default().into_bytes()),
                };
                let outcome = match body {
                    Ok(body) => s3
                        .put(Upload {
                            key: item.key.clone(),
                            body,
                            content_type: item.content_type.as_deref(),
                            tags: None,
                            storage_class: None,
                        })
                        .await
                        .map(|(loc, _)| loc)
                        .map_err(|e| e.message().to_owned()),
                    Err(e) => Err(e),
                };
                let (location, error) = match outcome {
                    Ok(l) => (Some(l), None),
                    Err(e) => (None, Some(e)),
                };
                ItemResult {
                    key: item.key,
                    location,
                    data: None,
                    error,
                }
            }
        })
        .buffered(limit)
        .collect()
        .await;
    json_response(&results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bools() {
        assert!(parse_go_bool("x", "T").unwrap());
        assert!(!parse_go_bool("x", "0").unwrap());
        assert!(parse_go_bool("x", "yes").is_err());
    }
}
