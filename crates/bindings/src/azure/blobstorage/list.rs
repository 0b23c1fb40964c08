//! `list`: List Blobs, answered as daprd answers it, a JSON array of the Go SDK's
//! `container.BlobItem` marshalled by `encoding/json` (PascalCase Go field names, every field
//! present, `null` where the service said nothing, RFC 3339 times, base64 `ContentMD5`).

use std::collections::HashMap;

use crate::azure::json::Json;
use bindery_core::{BindingError, InvokeRequest, InvokeResponse};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::BlobStorage;
use crate::azure::client::{StorageError, child_text, parse_xml, rfc1123_to_rfc3339};

const MAX_RESULTS: i64 = 5000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Include {
    copy: bool,
    metadata: bool,
    snapshots: bool,
    #[serde(rename = "uncommittedBlobs")]
    uncommitted_blobs: bool,
    deleted: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListPayload {
    marker: String,
    prefix: String,
    #[serde(rename = "maxResults")]
    max_results: i64,
    include: Include,
}

/// One page of List Blobs.
pub(super) struct Page {
    pub items: Vec<Json>,
    pub names: Vec<String>,
    pub marker: String,
    pub next_marker: String,
}

/// How a `<Properties>` child becomes a Go `BlobProperties` field.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Time,
    Bool,
    Int,
    Bytes,
}

/// Go field name, XML element, kind, in the Go struct's order.
const PROPERTIES: &[(&str, &str, Kind)] = &[
    ("ETag", "Etag", Kind::Text),
    ("LastModified", "Last-Modified", Kind::Time),
    ("ACL", "Acl", Kind::Text),
    ("AccessTier", "AccessTier", Kind::Text),
    ("AccessTierChangeTime", "AccessTierChangeTime", Kind::Time),
    ("AccessTierInferred", "AccessTierInferred", Kind::Bool),
    ("ArchiveStatus", "ArchiveStatus", Kind::Text),
    ("BlobSequenceNumber", "x-ms-blob-sequence-number", Kind::Int),
    ("BlobType", "BlobType", Kind::Text),
    ("CacheControl", "Cache-Control", Kind::Text),
    ("ContentDisposition", "Content-Disposition", Kind::Text),
    ("ContentEncoding", "Content-Encoding", Kind::Text),
    ("ContentLanguage", "Content-Language", Kind::Text),
    ("ContentLength", "Content-Length", Kind::Int),
    ("ContentMD5", "Content-MD5", Kind::Bytes),
    ("ContentType", "Content-Type", Kind::Text),
    ("CopyCompletionTime", "CopyCompletionTime", Kind::Time),
    ("CopyID", "CopyId", Kind::Text),
    ("CopyProgress", "CopyProgress", Kind::Text),
    ("CopySource", "CopySource", Kind::Text),
    ("CopyStatus", "CopyStatus", Kind::Text),
    ("CopyStatusDescription", "CopyStatusDescription", Kind::Text),
    ("CreationTime", "Creation-Time", Kind::Time),
    (
        "CustomerProvidedKeySHA256",
        "CustomerProvidedKeySha256",
        Kind::Text,
    ),
    ("DeletedTime", "DeletedTime", Kind::Time),
    ("DestinationSnapshot", "DestinationSnapshot", Kind::Text),
    ("EncryptionScope", "EncryptionScope", Kind::Text),
    ("ExpiresOn", "Expiry-Time", Kind::Time),
    ("Group", "Group", Kind::Text),
    (
        "ImmutabilityPolicyExpiresOn",
        "ImmutabilityPolicyUntilDate",
        Kind::Time,
    ),
    (
        "ImmutabilityPolicyMode",
        "ImmutabilityPolicyMode",
        Kind::Text,
    ),
    ("IncrementalCopy", "IncrementalCopy", Kind::Bool),
    ("IsSealed", "Sealed", Kind::Bool),
    ("LastAccessedOn", "LastAccessTime", Kind::Time),
    ("LeaseDuration", "LeaseDuration", Kind::Text),
    ("LeaseState", "LeaseState", Kind::Text),
    ("LeaseStatus", "LeaseStatus", Kind::Text),
    ("LegalHold", "LegalHold", Kind::Bool),
    ("Owner", "Owner", Kind::Text),
    ("Permissions", "Permissions", Kind::Text),
    ("RehydratePriority", "RehydratePriority", Kind::Text),
    (
        "RemainingRetentionDays",
        "RemainingRetentionDays",
        Kind::Int,
    ),
    ("ResourceType", "ResourceType", Kind::Text),
    ("ServerEncrypted", "ServerEncrypted", Kind::Bool),
    ("SmartAccessTier", "SmartAccessTier", Kind::Text),
    ("TagCount", "TagCount", Kind::Int),
];

fn convert(text: &str, kind: Kind) -> Json {
    match kind {
        Kind::Text => Json::str(text),
        Kind::Time => rfc1123_to_rfc3339(text)
            .map(Json::Str)
            .unwrap_or(Json::Null),
        Kind::Bool => Json::Bool(text.trim().eq_ignore_ascii_case("true")),
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map(Json::Int)
            .unwrap_or(Json::Null),
        // Go marshals []byte as base64: the service's base64 text, as is.
        Kind::Bytes if text.is_empty() => Json::Null,
        Kind::Bytes => Json::str(text),
    }
}

fn properties_json(node: Option<roxmltree::Node<'_, '_>>) -> Json {
    let Some(node) = node else {
        return Json::Null;
    };
    Json::obj(PROPERTIES.iter().map(|(go, xml, kind)| {
        let value = child_text(node, xml)
            .map(|t| convert(&t, *kind))
            .unwrap_or(Json::Null);
        (*go, value)
    }))
}

fn element<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// `<Metadata>`/`<OrMetadata>` as a map (`null` when absent, `{}` when empty).
fn map_json(node: Option<roxmltree::Node<'_, '_>>) -> Json {
    let Some(node) = node else {
        return Json::Null;
    };
    Json::Map(
        node.children()
            .filter(|c| c.is_element())
            .map(|c| {
                (
                    c.tag_name().name().to_owned(),
                    Json::str(c.text().unwrap_or("")),
                )
            })
            .collect(),
    )
}

fn tags_json(node: Option<roxmltree::Node<'_, '_>>) -> Json {
    let Some(node) = node else {
        return Json::Null;
    };
    let tags: Vec<Json> = element(node, "TagSet")
        .map(|set| {
            set.children()
                .filter(|c| c.is_element())
                .map(|tag| {
                    Json::obj([
                        ("Key", Json::Str(child_text(tag, "Key").unwrap_or_default())),
                        (
                            "Value",
                            Json::Str(child_text(tag, "Value").unwrap_or_default()),
                        ),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    Json::obj([("BlobTagSet", Json::Arr(tags))])
}

fn text_or_null(node: roxmltree::Node<'_, '_>, name: &str) -> Json {
    child_text(node, name).map(Json::Str).unwrap_or(Json::Null)
}

fn bool_or_null(node: roxmltree::Node<'_, '_>, name: &str) -> Json {
    child_text(node, name)
        .map(|t| Json::Bool(t.trim().eq_ignore_ascii_case("true")))
        .unwrap_or(Json::Null)
}

/// One `<Blob>` as the Go SDK's `BlobItem` JSON.
fn blob_item(node: roxmltree::Node<'_, '_>) -> Json {
    Json::obj([
        ("Deleted", bool_or_null(node, "Deleted")),
        ("Name", text_or_null(node, "Name")),
        ("Properties", properties_json(element(node, "Properties"))),
        ("Snapshot", text_or_null(node, "Snapshot")),
        ("BlobTags", tags_json(element(node, "Tags"))),
        ("HasVersionsOnly", bool_or_null(node, "HasVersionsOnly")),
        ("IsCurrentVersion", bool_or_null(node, "IsCurrentVersion")),
        ("Metadata", map_json(element(node, "Metadata"))),
        ("OrMetadata", map_json(element(node, "OrMetadata"))),
        ("VersionID", text_or_null(node, "VersionId")),
    ])
}

/// Parses one List Blobs answer.
pub(super) fn parse_page(body: &[u8]) -> Result<Page, StorageError> {
    let doc = parse_xml(body)?;
    let root = doc.root_element();
    let mut items = Vec::new();
    let mut names = Vec::new();
    if let Some(blobs) = element(root, "Blobs") {
        for blob in blobs
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "Blob")
        {
            names.push(child_text(blob, "Name").unwrap_or_default());
            items.push(blob_item(blob));
        }
    }
    Ok(Page {
        items,
        names,
        marker: child_text(root, "Marker").unwrap_or_default(),
        next_marker: child_text(root, "NextMarker").unwrap_or_default(),
    })
}

impl BlobStorage {
    /// One List Blobs call.
    pub(super) async fn list_page(
        &self,
        prefix: &str,
        marker: &str,
        max_results: Option<i64>,
        include: &[&str],
    ) -> Result<Page, StorageError> {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("restype", "container")
                .append_pair("comp", "list");
            if !prefix.is_empty() {
                q.append_pair("prefix", prefix);
            }
            if !marker.is_empty() {
                q.append_pair("marker", marker);
            }
            if let Some(n) = max_results {
                q.append_pair("maxresults", &n.to_string());
            }
            if !include.is_empty() {
                q.append_pair("include", &include.join(","));
            }
        }
        let answer = self
            .client
            .send(Method::GET, url, HeaderMap::new(), Bytes::new())
            .await?;
        parse_page(&answer.body)
    }

    /// Every blob name under `prefix`, all pages.
    pub(super) async fn names_with_prefix(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let page = self
                .list_page(prefix, &marker, None, &[])
                .await
                .map_err(|e| format!("error listing blobs with prefix {prefix:?}: {e}"))?;
            names.extend(page.names);
            if page.next_marker.is_empty() {
                return Ok(names);
            }
            marker = page.next_marker;
        }
    }

    pub(super) async fn list(&self, req: InvokeRequest) -> Result<InvokeResponse, BindingError> {
        let payload: ListPayload = if req.data.is_empty() {
            ListPayload::default()
        } else {
            serde_json::from_slice(&req.data).map_err(|e| BindingError::invalid(e.to_string()))?
        };
        let max = if payload.max_results > 0 {
            payload.max_results
        } else {
            MAX_RESULTS
        };
        let inc = &payload.include;
        let include: Vec<&str> = [
            (inc.copy, "copy"),
            (inc.deleted, "deleted"),
            (inc.metadata, "metadata"),
            (inc.snapshots, "snapshots"),
            (inc.uncommitted_blobs, "uncommittedblobs"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        let mut blobs = Vec::new();
        let mut marker = payload.marker.clone();
        let mut pages = 0;
        let (last_marker, next_marker) = loop {
            let page = self
                .list_page(&payload.prefix, &marker, Some(max), &include)
                .await
                .map_err(|e| self.service_error(e, "error listing blobs"))?;
            pages += 1;
            blobs.extend(page.items);
            if blobs.len() as i64 >= max || page.next_marker.is_empty() {
                break (page.marker, page.next_marker);
            }
            marker = page.next_marker;
        };
        let metadata = HashMap::from([
            ("marker".to_owned(), last_marker),
            ("nextMarker".to_owned(), next_marker),
            ("number".to_owned(), blobs.len().to_string()),
            ("pagesTraversed".to_owned(), pages.to_string()),
        ]);
        Ok(InvokeResponse {
            data: Json::Arr(blobs).to_bytes(),
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c1">
  <Prefix>p</Prefix><Marker/><MaxResults>1</MaxResults>
  <Blobs>
    <Blob>
      <Name>p/a.txt</Name>
      <Properties>
        <Creation-Time>Tue, 01 Dec 2026 09:00:00 GMT</Creation-Time>
        <Last-Modified>Tue, 01 Dec 2026 09:00:01 GMT</Last-Modified>
        <Etag>0x8DE1</Etag>
        <Content-Length>11</Content-Length>
        <Content-Type>text/plain</Content-Type>
        <Content-MD5>XrY7u+Ae7tCTyyK7j1rNww==</Content-MD5>
        <Cache-Control/>
        <BlobType>BlockBlob</BlobType>
        <LeaseStatus>unlocked</LeaseStatus>
        <ServerEncrypted>true</ServerEncrypted>
        <AccessTierInferred>true</AccessTierInferred>
      </Properties>
      <Metadata><custom>hello-world</custom></Metadata>
    </Blob>
  </Blobs>
  <NextMarker>abc</NextMarker>
</EnumerationResults>"#;

    use serde_json::Value;

    #[test]
    fn blob_items_are_the_go_sdks_json() {
        let page = parse_page(PAGE.as_bytes()).unwrap();
        assert_eq!(page.names, ["p/a.txt"]);
        assert_eq!(page.marker, "");
        assert_eq!(page.next_marker, "abc");
        let text = Json::Arr(page.items).to_bytes();
        assert!(
            text.starts_with(br#"[{"Deleted":null,"Name":"p/a.txt","Properties":{"ETag":"0x8DE1","LastModified":"2026-12-01T09:00:01Z","#),
            "Go's field order: {}",
            String::from_utf8_lossy(&text)
        );
        let items: Value = serde_json::from_slice(&text).unwrap();
        let item = &items[0];
        assert_eq!(item["Name"], "p/a.txt");
        assert_eq!(item["Deleted"], Value::Null);
        assert_eq!(item["Snapshot"], Value::Null);
        assert_eq!(item["Metadata"]["custom"], "hello-world");
        assert_eq!(item["OrMetadata"], Value::Null);
        let p = &item["Properties"];
        assert_eq!(p["ETag"], "0x8DE1");
        assert_eq!(p["LastModified"], "2026-12-01T09:00:01Z");
        assert_eq!(p["CreationTime"], "2026-12-01T09:00:00Z");
        assert_eq!(p["ContentLength"], 11);
        assert_eq!(p["ContentMD5"], "XrY7u+Ae7tCTyyK7j1rNww==");
        assert_eq!(p["CacheControl"], "");
        assert_eq!(p["ServerEncrypted"], true);
        assert_eq!(p["CopyID"], Value::Null);
        assert_eq!(p.as_object().unwrap().len(), PROPERTIES.len());
        assert_eq!(item.as_object().unwrap().len(), 10);
    }
}
