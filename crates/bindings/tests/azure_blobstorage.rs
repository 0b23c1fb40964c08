//! bindings.azure.blobstorage against Azurite (Microsoft's emulator, started per test on free
//! ports by `bindery_testkit::azurite`; it verifies every SharedKey and SAS signature).
#![cfg(feature = "azure-blobstorage")]

use std::collections::HashMap;

use base64::Engine as _;
use bindery_bindings::azure::blobstorage::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, InvokeRequest, InvokeResponse, OutputBinding, Properties,
};
use bindery_testkit::azurite::{ACCOUNT, Azurite, KEY};
use bytes::Bytes;
use serde_json::{Value, json};

fn cx(pairs: &[(&str, &str)]) -> BuildContext {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    // As the runtime does: decoded once, then built from the decoded configuration.
    DESCRIPTOR
        .context("blobs", "test", Properties::new(map).unwrap())
        .expect("valid metadata")
}

async fn binding(az: &Azurite, container: &str, extra: &[(&str, &str)]) -> Box<dyn OutputBinding> {
    let endpoint = az.blob_endpoint();
    let mut pairs = vec![
        ("accountName", ACCOUNT),
        ("accountKey", KEY),
        ("containerName", container),
        ("endpoint", endpoint.as_str()),
    ];
    pairs.extend_from_slice(extra);
    (DESCRIPTOR.build_output.unwrap())(cx(&pairs))
        .await
        .expect("build blobstorage")
}

async fn call(
    b: &dyn OutputBinding,
    op: &str,
    data: &[u8],
    meta: &[(&str, &str)],
) -> Result<Option<InvokeResponse>, BindingError> {
    b.invoke(InvokeRequest {
        operation: op.into(),
        data: Bytes::copy_from_slice(data),
        metadata: meta
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    })
    .await
}

async fn ok(b: &dyn OutputBinding, op: &str, data: &[u8], meta: &[(&str, &str)]) -> InvokeResponse {
    call(b, op, data, meta)
        .await
        .unwrap_or_else(|e| panic!("{op} failed: {e}"))
        .unwrap_or_default()
}

fn json_of(r: &InvokeResponse) -> Value {
    serde_json::from_slice(&r.data).unwrap_or_else(|e| panic!("{e}: {:?}", r.data))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// daprd's certification flow: create with every content header and custom metadata, get it
/// back with its metadata (Go's canonical key `Custom`), find it in `list` with daprd's
/// PascalCase `BlobItem` (`Properties.ContentMD5`, `Metadata.custom`), delete, and the
/// `blob not found` errors afterwards.
#[tokio::test]
async fn create_get_list_delete() {
    let Some(az) = Azurite::require() else { return };
    let b = binding(&az, "certcontainer", &[]).await;
    let content = b"some example content";
    let md5 = md5_sum(content);
    let r = ok(
        &*b,
        "create",
        content,
        &[
            ("blobName", "filename.txt"),
            ("contentType", "text/plain"),
            ("contentMD5", &md5),
            ("contentEncoding", "UTF-8"),
            ("contentLanguage", "en-us"),
            ("contentDisposition", "attachment"),
            ("cacheControl", "no-cache"),
            ("custom", "hello-world"),
        ],
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&r.data),
        format!(
            r#"{{"blobURL":"{}/{ACCOUNT}/certcontainer/filename.txt","blobName":"filename.txt"}}"#,
            az.blob_endpoint()
        ),
        "daprd's bytes: Go's field order"
    );
    let created = json_of(&r);
    assert_eq!(created["blobName"], "filename.txt");
    assert_eq!(
        created["blobURL"],
        format!(
            "{}/{ACCOUNT}/certcontainer/filename.txt",
            az.blob_endpoint()
        )
    );
    assert!(created.get("presignURL").is_none());
    assert_eq!(r.metadata["blobName"], "filename.txt");

    let got = ok(
        &*b,
        "get",
        b"",
        &[("blobName", "filename.txt"), ("includeMetadata", "true")],
    )
    .await;
    assert_eq!(&got.data[..], content);
    assert_eq!(
        got.metadata.get("Custom").map(String::as_str),
        Some("hello-world")
    );

    let listed = ok(&*b, "list", br#"{"include":{"metadata":true}}"#, &[]).await;
    let items = json_of(&listed);
    let item = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["Name"] == "filename.txt")
        .expect("listed");
    let p = &item["Properties"];
    assert_eq!(p["ContentMD5"], md5.as_str());
    assert_eq!(p["ContentType"], "text/plain");
    assert_eq!(p["CacheControl"], "no-cache");
    assert_eq!(p["ContentDisposition"], "attachment");
    assert_eq!(p["ContentEncoding"], "UTF-8");
    assert_eq!(p["ContentLanguage"], "en-us");
    assert_eq!(p["ContentLength"], content.len());
    assert!(p["LastModified"].as_str().unwrap().ends_with('Z'));
    assert_eq!(item["Metadata"]["custom"], "hello-world");
    assert_eq!(listed.metadata["number"], "1");
    assert_eq!(listed.metadata["pagesTraversed"], "1");
    assert_eq!(listed.metadata["marker"], "");

    assert!(
        ok(&*b, "delete", b"", &[("blobName", "filename.txt")])
            .await
            .data
            .is_empty()
    );
    for op in ["get", "delete"] {
        let err = call(&*b, op, b"", &[("blobName", "filename.txt")])
            .await
            .unwrap_err();
        assert_eq!(err.message(), "blob not found", "{op}");
    }
    let err = call(&*b, "get", b"", &[]).await.unwrap_err();
    assert_eq!(err.message(), "blobName is a required attribute");
}

fn md5_sum(data: &[u8]) -> String {
    let out = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .expect("md5sum");
    let text = String::from_utf8(out.stdout).unwrap();
    base64::engine::general_purpose::STANDARD.encode(hex(text.split_whitespace().next().unwrap()))
}

/// A wrong contentMD5 is refused by the service; a malformed one by the binding. No name gives
/// a UUID; `decodeBase64` stores the decoded bytes; an existing blob is overwritten.
#[tokio::test]
async fn create_variants() {
    let Some(az) = Azurite::require() else { return };
    let b = binding(&az, "variants", &[]).await;
    let wrong = md5_sum(b"some example content");
    let err = call(
        &*b,
        "create",
        b"other",
        &[("blobName", "x"), ("contentMD5", &wrong)],
    )
    .await
    .unwrap_err();
    assert!(
        err.message()
            .starts_with("error uploading az blob: RESPONSE 400"),
        "{err}"
    );
    assert!(err.message().contains("Md5Mismatch"), "{err}");
    let err = call(&*b, "create", b"x", &[("contentMD5", "abcd")])
        .await
        .unwrap_err();
    assert!(
        err.message().contains("MD5 value must be 128 bits"),
        "{err}"
    );

    let r = ok(&*b, "create", br#""quoted text""#, &[]).await;
    let name = json_of(&r)["blobName"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&name).is_ok(), "{name}");
    let got = ok(&*b, "get", b"", &[("blobName", &name)]).await;
    assert_eq!(&got.data[..], b"quoted text", "strconv.Unquote applies");
    ok(&*b, "create", b"second", &[("blobName", &name)]).await;
    let got = ok(&*b, "get", b"", &[("blobName", &name)]).await;
    assert_eq!(&got.data[..], b"second", "overwritten");

    let d = binding(&az, "variants", &[("decodeBase64", "true")]).await;
    ok(&*d, "create", b"aGVsbG8gd29ybGQ=", &[("blobName", "b64")]).await;
    let got = ok(&*d, "get", b"", &[("blobName", "b64")]).await;
    assert_eq!(&got.data[..], b"hello world");
    let err = call(&*d, "create", b"!!", &[("blobName", "bad")])
        .await
        .unwrap_err();
    assert_eq!(err.message(), "illegal base64 data at input byte 0");

    // Names with slashes and spaces, read into a file.
    ok(&*b, "create", b"nested", &[("blobName", "dir/a b.txt")]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/out.txt");
    let got = ok(
        &*b,
        "get",
        b"",
        &[
            ("blobName", "dir/a b.txt"),
            ("filePath", path.to_str().unwrap()),
        ],
    )
    .await;
    assert!(got.data.is_empty());
    assert_eq!(got.metadata["filePath"], path.to_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), b"nested");
    let err = call(
        &*b,
        "delete",
        b"",
        &[("blobName", "dir/a b.txt"), ("deleteSnapshots", "all")],
    )
    .await
    .unwrap_err();
    assert!(
        err.message()
            .starts_with("invalid delete snapshot option type: all")
    );
    ok(
        &*b,
        "delete",
        b"",
        &[("blobName", "dir/a b.txt"), ("deleteSnapshots", "include")],
    )
    .await;
}

/// `signTTL` on create and the `presign` operation answer read-only SAS URLs that Azurite
/// accepts without any other credential.
#[tokio::test]
async fn presigned_urls_work_without_credentials() {
    let Some(az) = Azurite::require() else { return };
    let b = binding(&az, "signed", &[]).await;
    let r = ok(
        &*b,
        "create",
        b"secret data",
        &[("blobName", "s.txt"), ("signTTL", "15m")],
    )
    .await;
    let url = json_of(&r)["presignURL"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let fetched = http.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200, "{url}");
    assert_eq!(&fetched.bytes().await.unwrap()[..], b"secret data");
    let unsigned = http
        .get(url.split('?').next().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        unsigned.status().is_client_error(),
        "the container is private"
    );

    let r = ok(
        &*b,
        "presign",
        b"",
        &[("blobName", "s.txt"), ("signTTL", "1h")],
    )
    .await;
    let url = json_of(&r)["presignURL"].as_str().unwrap().to_owned();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let err = call(&*b, "presign", b"", &[("blobName", "s.txt")])
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "signTTL is a required attribute for presign operations"
    );
    let err = call(&*b, "create", b"x", &[("signTTL", "soon")])
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("error generating SAS URL: cannot parse signTTL"),
        "{err}"
    );
}

/// `maxResults` pages: `number`, `pagesTraversed`, daprd's `marker` and bindery's
/// `nextMarker` (which continues the listing); `prefix` filters.
#[tokio::test]
async fn list_pages_and_prefixes() {
    let Some(az) = Azurite::require() else { return };
    let b = binding(&az, "listing", &[]).await;
    for name in [
        "prefixA/filename.txt",
        "prefixAfilename.txt",
        "prefixB/filename.txt",
    ] {
        ok(&*b, "create", b"x", &[("blobName", name)]).await;
    }
    let first = ok(&*b, "list", br#"{"maxResults":2}"#, &[]).await;
    assert_eq!(json_of(&first).as_array().unwrap().len(), 2);
    assert_eq!(first.metadata["number"], "2");
    assert_eq!(first.metadata["pagesTraversed"], "1");
    assert_eq!(
        first.metadata["marker"], "",
        "daprd: the marker of the page read"
    );
    let next = first.metadata["nextMarker"].clone();
    assert!(!next.is_empty());
    let rest = ok(
        &*b,
        "list",
        json!({"maxResults": 2, "marker": next})
            .to_string()
            .as_bytes(),
        &[],
    )
    .await;
    let names: Vec<Value> = json_of(&rest)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].clone())
        .collect();
    assert_eq!(names, [json!("prefixB/filename.txt")]);
    assert_eq!(rest.metadata["nextMarker"], "");
    let prefixed = ok(&*b, "list", br#"{"prefix":"prefixA/"}"#, &[]).await;
    assert_eq!(prefixed.metadata["number"], "1");
    let err = call(&*b, "list", b"{not json", &[]).await.unwrap_err();
    assert!(err.message().contains("key must be a string"), "{err}");
}

/// bulkCreate (inline data and a source file), bulkGet (inline, to a file, by prefix into a
/// folder, a missing blob), bulkDelete (names and prefix, a missing blob).
#[tokio::test]
async fn bulk_operations() {
    let Some(az) = Azurite::require() else { return };
    let b = binding(&az, "bulk", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.txt");
    std::fs::write(&src, b"from a file").unwrap();
    let body = json!({"items": [
        {"blobName": "bulk/a", "data": "alpha", "contentType": "text/plain"},
        {"blobName": "bulk/b", "sourcePath": src.to_str().unwrap()},
        {"blobName": "bulk/c", "sourcePath": "/nonexistent/file"},
    ], "concurrency": 2});
    let r = ok(&*b, "bulkCreate", body.to_string().as_bytes(), &[]).await;
    let results = json_of(&r);
    assert_eq!(r.metadata["number"], "3");
    assert!(
        results[0]["blobURL"]
            .as_str()
            .unwrap()
            .ends_with("/bulk/bulk%2Fa")
    );
    assert!(results[1]["error"].is_null());
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("error opening source file")
    );

    let out = dir.path().join("out/b.txt");
    let dest = dir.path().join("dest");
    let body = json!({"items": [
        {"blobName": "bulk/a"},
        {"blobName": "bulk/b", "filePath": out.to_str().unwrap()},
        {"blobName": "missing"},
    ], "prefix": "bulk/", "destinationDir": dest.to_str().unwrap()});
    let r = ok(&*b, "bulkGet", body.to_string().as_bytes(), &[]).await;
    let results = json_of(&r);
    assert_eq!(
        results[0]["data"],
        base64::engine::general_purpose::STANDARD.encode("alpha")
    );
    assert_eq!(results[1]["filePath"], out.to_str().unwrap());
    assert_eq!(std::fs::read(&out).unwrap(), b"from a file");
    assert_eq!(results[2]["error"], "blob not found");
    assert_eq!(
        r.metadata["number"], "3",
        "prefix matches are all explicit already"
    );
    let err = call(&*b, "bulkGet", br#"{"prefix":"bulk/"}"#, &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "destinationDir is required when using prefix"
    );
    let r = ok(
        &*b,
        "bulkGet",
        json!({"prefix": "bulk/", "destinationDir": dest.to_str().unwrap()})
            .to_string()
            .as_bytes(),
        &[],
    )
    .await;
    assert_eq!(r.metadata["number"], "2");
    assert_eq!(std::fs::read(dest.join("bulk/a")).unwrap(), b"alpha");

    let r = ok(
        &*b,
        "bulkDelete",
        br#"{"blobNames":["missing"],"prefix":"bulk/"}"#,
        &[],
    )
    .await;
    let results = json_of(&r);
    assert_eq!(r.metadata["number"], "3");
    assert_eq!(results[0]["error"], "blob not found");
    assert!(results[1]["error"].is_null() && results[2]["error"].is_null());
    let listed = ok(&*b, "list", b"", &[]).await;
    assert_eq!(listed.metadata["number"], "0");
    let err = call(&*b, "bulkDelete", b"{}", &[]).await.unwrap_err();
    assert_eq!(
        err.message(),
        "at least one of prefix or blobNames is required"
    );
    let err = call(&*b, "bulkCreate", br#"{"items":[]}"#, &[])
        .await
        .unwrap_err();
    assert_eq!(err.message(), "items array must not be empty");
}

/// A connection string works like account and key; `disableEntityManagement` skips the
/// container creation (so a missing container shows at the first call); a wrong key is
/// refused by Azurite at start.
#[tokio::test]
async fn connection_string_entity_management_and_bad_keys() {
    let Some(az) = Azurite::require() else { return };
    let cs = az.blob_connection_string();
    let b = (DESCRIPTOR.build_output.unwrap())(cx(&[
        ("connectionString", &cs),
        ("containerName", "viaconnstr"),
        ("publicAccessLevel", "blob"),
    ]))
    .await
    .expect("connection string");
    ok(&*b, "create", b"public", &[("blobName", "p.txt")]).await;
    let public = format!("{}/{ACCOUNT}/viaconnstr/p.txt", az.blob_endpoint());
    let fetched = reqwest::get(&public).await.unwrap();
    assert_eq!(
        fetched.status(),
        200,
        "publicAccessLevel blob allows anonymous reads"
    );

    let unmanaged = binding(&az, "nocontainer", &[("disableEntityManagement", "true")]).await;
    let err = call(&*unmanaged, "create", b"x", &[("blobName", "x")])
        .await
        .unwrap_err();
    assert!(err.message().contains("ContainerNotFound"), "{err}");

    let endpoint = az.blob_endpoint();
    let wrong_key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let err = match (DESCRIPTOR.build_output.unwrap())(cx(&[
        ("accountName", ACCOUNT),
        ("accountKey", &wrong_key),
        ("containerName", "wrongkey"),
        ("endpoint", &endpoint),
    ]))
    .await
    {
        Ok(_) => panic!("a wrong key must be refused"),
        Err(e) => e,
    };
    assert!(
        err.message()
            .starts_with("failed to create Azure Storage container wrongkey: RESPONSE 403"),
        "{err}"
    );
    assert!(!err.message().contains(&wrong_key));
}
