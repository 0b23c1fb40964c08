//! `bindings.azure.blobstorage`: blobs in one container, daprd's operations `create`, `get`,
//! `delete`, `list`, `presign`, `bulkGet`, `bulkCreate` and `bulkDelete`, with the same
//! request metadata, response bytes and error texts. The container is created at start
//! (`publicAccessLevel`) unless `disableEntityManagement` is set.
//!
//! Requests go through the shared hand-written client ([`crate::azure::client`]); see
//! [`crate::azure`] for why Microsoft's crates are not used.
//!
//! # Deviations from daprd
//!
//! - `create` uploads in one Put Blob call whatever the size (the service takes up to
//!   5000 MiB); daprd's SDK switches to staged blocks above 256 MiB.
//! - `bulkDelete` deletes blob by blob, `concurrency` at a time (daprd's own fallback path)
//!   instead of the Blob Batch API; the answer is the same.
//! - `bulkGet` with `prefix` joins blob names into `destinationDir` lexically (`..` cannot
//!   leave it) but does not resolve symlinks inside it, unlike daprd's `securejoin`.
//! - Service errors read `RESPONSE <status>: <code>: <message>` after daprd's prefix (such as
//!   `error uploading az blob: `), not the Go SDK's multi-line dump; a missing container
//!   (`ContainerNotFound`) is named there: `container <name> does not exist: RESPONSE 404: …`.
//! - `list` also answers `nextMarker`, the marker of the next page (`""` at the end):
//!   daprd's `marker` is the marker of the last page it read, which cannot be used to go on.
//! - Blob metadata names go out lower-cased (HTTP/1 header names; daprd's Go client keeps
//!   their case), so `list` shows `customkey` where daprd shows `customKey`; `get` with
//!   `includeMetadata` answers Go's canonical form (`Customkey`) either way.
//! - `get` with `filePath` and `bulkGet` hold a blob in memory before writing it to the file
//!   (daprd streams it).

mod bulk;
mod config;
mod list;
mod ops;

use async_trait::async_trait;
use bindery_core::descriptor::Operation;
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InvokeRequest, InvokeResponse, OutputBinding,
    decode_as,
};
use reqwest::Method;
use reqwest::header::HeaderMap;

pub use config::{BlobAuth, BlobConfig, FIELDS};

use super::client::{Authorizer, StorageClient, StorageError};

const COMPONENT: &str = "bindings.azure.blobstorage";

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create",
        description: "Upload the data as a block blob. Request metadata: blobName (a new UUID when absent), signTTL (also answer a read-only SAS URL), contentType, contentMD5 (base64 of 16 bytes, checked by the service), contentEncoding, contentLanguage, contentDisposition, cacheControl; every other key becomes blob metadata (keys reduced to [A-Za-z0-9]). Answers {blobURL, blobName, presignURL?}.",
    },
    Operation {
        name: "get",
        description: "Download a blob. Request metadata: blobName (required), includeMetadata (answer the blob's metadata as response metadata), filePath (write it to this sidecar-local file instead).",
    },
    Operation {
        name: "delete",
        description: "Delete a blob. Request metadata: blobName (required), deleteSnapshots (include or only).",
    },
    Operation {
        name: "list",
        description: "List blobs. Data: {maxResults (5000), prefix, marker, include: {copy, metadata, snapshots, uncommittedBlobs, deleted}}. Answers daprd's PascalCase BlobItem array; response metadata marker, nextMarker, number, pagesTraversed.",
    },
    Operation {
        name: "bulkGet",
        description: "Download several blobs, concurrency (10) at a time. Data: {items: [{blobName, filePath?}], prefix?, destinationDir?, concurrency?}. Answers [{blobName, filePath?, data? (base64), error?}].",
    },
    Operation {
        name: "bulkCreate",
        description: "Upload several blobs. Data: {items: [{blobName, data? or sourcePath?, contentType?}], concurrency?}. Answers [{blobName, blobURL?, error?}].",
    },
    Operation {
        name: "bulkDelete",
        description: "Delete several blobs. Data: {blobNames?: [], prefix?, deleteSnapshots?, concurrency?}. Answers [{blobName, error?}].",
    },
    Operation {
        name: "presign",
        description: "A read-only SAS URL for a blob. Request metadata: blobName and signTTL (a Go duration), both required. Needs an account key or a connection string with one.",
    },
];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: COMPONENT,
    aliases: &[],
    status: "stable",
    summary: "Create, read, list, sign and delete blobs in an Azure Blob Storage container (Azurite-compatible).",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: decode_as::<BlobConfig>,
    build_input: None,
    build_output: Some(|cx| Box::pin(build_output(cx))),
};

/// The `Authorizer` for a decoded configuration.
pub(crate) fn authorizer(auth: &BlobAuth) -> Result<Authorizer, BindingError> {
    match auth {
        BlobAuth::SharedKey(key) => Ok(Authorizer::SharedKey(key.clone())),
        BlobAuth::Sas(token) => Ok(Authorizer::Sas(token.clone())),
        BlobAuth::AzureAd(ad) => super::ad_authorizer(ad),
    }
}

async fn build_output(cx: BuildContext) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cfg = cx.config::<BlobConfig>()?;
    let client = StorageClient::new(authorizer(&cfg.auth)?)
        .map_err(|e| BindingError::other(e.to_string()))?
        .with_retries(cfg.retry_count);
    let url = cfg.container_url.clone().map_err(BindingError::invalid)?;
    let blob = BlobStorage { cfg, client, url };
    if !blob.cfg.disable_entity_management {
        tokio::time::timeout(std::time::Duration::from_secs(30), blob.ensure_container())
            .await
            .map_err(|_| {
                BindingError::unavailable(format!(
                    "failed to create Azure Storage container {}: timed out",
                    blob.cfg.container
                ))
            })??;
    }
    Ok(Box::new(blob))
}

/// One configured container.
pub struct BlobStorage {
    cfg: BlobConfig,
    client: StorageClient,
    /// The container's URL.
    url: url::Url,
}

impl BlobStorage {
    /// Creates the container; one that exists already is fine.
    async fn ensure_container(&self) -> Result<(), BindingError> {
        let mut url = self.url.clone();
        url.set_query(Some("restype=container"));
        let mut headers = HeaderMap::new();
        if let Some(level) = self.cfg.public_access {
            headers.insert(
                "x-ms-blob-public-access",
                reqwest::header::HeaderValue::from_static(level),
            );
        }
        match self
            .client
            .send(Method::PUT, url, headers, bytes::Bytes::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("ContainerAlreadyExists" | "ResourceAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into_binding_error(&format!(
                "failed to create Azure Storage container {}",
                self.cfg.container
            ))),
        }
    }

    /// The blob's URL as daprd's SDK prints it: the name escaped as one path segment.
    fn blob_url(&self, name: &str) -> url::Url {
        url::Url::parse(&format!(
            "{}/{}",
            self.url.as_str().trim_end_matches('/'),
            go_path_escape(name)
        ))
        .unwrap_or_else(|_| self.url.clone())
    }
}

#[async_trait]
impl OutputBinding for BlobStorage {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        match req.operation.as_str() {
            "create" => self.create(req).await.map(Some),
            "get" => self.get(req).await.map(Some),
            "delete" => self.delete(req).await,
            "list" => self.list(req).await.map(Some),
            "bulkGet" => self.bulk_get(req).await.map(Some),
            "bulkCreate" => self.bulk_create(req).await.map(Some),
            "bulkDelete" => self.bulk_delete(req).await.map(Some),
            "presign" => self.presign(req).map(Some),
            other => Err(BindingError::invalid(format!(
                "unsupported operation {other}"
            ))),
        }
    }
}

impl BlobStorage {
    /// `blob not found` for a missing blob (daprd's text), else [`Self::service_error`].
    fn blob_error(&self, e: StorageError, context: &str) -> BindingError {
        if e.code() == Some("BlobNotFound") {
            return BindingError::invalid("blob not found");
        }
        self.service_error(e, context)
    }

    /// `context: error`; a missing container (deleted since the start, or never created with
    /// `disableEntityManagement`) is named, since the service's own text does not name it.
    fn service_error(&self, e: StorageError, context: &str) -> BindingError {
        if e.code() == Some("ContainerNotFound") {
            return BindingError::invalid(format!(
                "{context}: container {} does not exist: {e}",
                self.cfg.container
            ));
        }
        e.into_binding_error(context)
    }
}

/// Go's `url.PathEscape` (see [`crate::azure::client::path_escape`]).
pub fn go_path_escape(s: &str) -> String {
    crate::azure::client::path_escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_escape_matches_go() {
        assert_eq!(go_path_escape("dir/a b+c@d.txt"), "dir%2Fa%20b+c@d.txt");
        assert_eq!(go_path_escape("é?#%"), "%C3%A9%3F%23%25");
    }

    #[test]
    fn operations_match_metadata_yaml() {
        let names: Vec<&str> = OPERATIONS.iter().map(|o| o.name).collect();
        assert_eq!(
            names,
            [
                "create",
                "get",
                "delete",
                "list",
                "bulkGet",
                "bulkCreate",
                "bulkDelete",
                "presign"
            ]
        );
    }
}
