//! `bindings.aws.s3` against moto in server mode (a fresh server per test).
#![cfg(feature = "aws-s3")]

mod aws_support;

use aws_support::{output, request, sdk};
use bindery_bindings::aws::s3::DESCRIPTOR;
use bindery_core::ErrorKind;
use bindery_testkit::moto::Moto;
use serde_json::Value;

const BUCKET: &str = "bindery-files";

async fn bucket(moto: &Moto) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk(moto).await)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    client
}

#[tokio::test]
async fn create_get_list_delete_round_trip() {
    let Some(moto) = Moto::start() else { return };
    let s3 = bucket(&moto).await;
    let b = output(
        &DESCRIPTOR,
        &moto,
        &[("bucket", BUCKET), ("forcePathStyle", "true")],
    )
    .await
    .unwrap();

    // create with a key, content type, tags and a quoted body (daprd unquotes it)
    let resp = b
        .invoke(request(
            "create",
            br#""hello s3""#,
            &[
                ("key", "a/one.txt"),
                ("Content-Type", "text/plain"),
                ("tags", "team=x,env=test"),
            ],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resp.metadata.get("key").map(String::as_str),
        Some("a/one.txt")
    );
    let body: Value = serde_json::from_slice(&resp.data).unwrap();
    assert_eq!(
        body["location"],
        format!("{}/{BUCKET}/a/one.txt", moto.endpoint())
    );
    assert!(body.get("versionID").is_some(), "{body}");
    assert!(body.get("presignURL").is_none(), "{body}");
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("a/one.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    let tags = s3
        .get_object_tagging()
        .bucket(BUCKET)
        .key("a/one.txt")
        .send()
        .await
        .unwrap();
    let mut tags: Vec<_> = tags
        .tag_set()
        .iter()
        .map(|t| format!("{}={}", t.key(), t.value()))
        .collect();
    tags.sort();
    assert_eq!(tags, ["env=test", "team=x"]);

    // get returns exactly the stored bytes, or base64 on request
    let got = b
        .invoke(request("get", b"", &[("key", "a/one.txt")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"hello s3");
    let got = b
        .invoke(request(
            "get",
            b"",
            &[("key", "a/one.txt"), ("encodeBase64", "true")],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"aGVsbG8gczM=");

    // create without a key: a UUID; decodeBase64 per request
    let resp = b
        .invoke(request("create", b"AAEC", &[("decodeBase64", "true")]))
        .await
        .unwrap()
        .unwrap();
    let key = resp.metadata["key"].clone();
    assert!(uuid::Uuid::parse_str(&key).is_ok(), "{key}");
    let obj = s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        &obj.body.collect().await.unwrap().into_bytes()[..],
        &[0u8, 1, 2]
    );

    // list: daprd's PascalCase ListObjectsOutput
    let listed = b
        .invoke(request(
            "list",
            br#"{"maxResults": 10, "prefix": "a/"}"#,
            &[],
        ))
        .await
        .unwrap()
        .unwrap();
    let list: Value = serde_json::from_slice(&listed.data).unwrap();
    assert_eq!(list["Name"], BUCKET);
    assert_eq!(list["MaxKeys"], 10);
    assert_eq!(list["Prefix"], "a/");
    assert_eq!(list["IsTruncated"], false);
    let contents = list["Contents"].as_array().unwrap();
    assert_eq!(contents.len(), 1, "{list}");
    assert_eq!(contents[0]["Key"], "a/one.txt");
    assert_eq!(contents[0]["Size"], 8);
    assert!(contents[0]["LastModified"].is_string());
    let all = b.invoke(request("list", b"", &[])).await.unwrap().unwrap();
    let all: Value = serde_json::from_slice(&all.data).unwrap();
    assert_eq!(all["Contents"].as_array().unwrap().len(), 2);
    assert_eq!(all["MaxKeys"], 1000);

    // delete, then both get and delete say "object not found"
    assert!(
        b.invoke(request("delete", b"", &[("key", "a/one.txt")]))
            .await
            .unwrap()
            .is_none()
    );
    for op in ["get", "delete"] {
        let err = b
            .invoke(request(op, b"", &[("key", "a/one.txt")]))
            .await
            .unwrap_err();
        assert!(err.message().contains("object not found"), "{op}: {err}");
    }
    let err = b.invoke(request("get", b"", &[])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

#[tokio::test]
async fn presigned_get_and_put_urls_work() {
    let Some(moto) = Moto::start() else { return };
    let s3 = bucket(&moto).await;
    let b = output(
        &DESCRIPTOR,
        &moto,
        &[("bucket", BUCKET), ("forcePathStyle", "true")],
    )
    .await
    .unwrap();
    let resp = b
        .invoke(request(
            "create",
            b"signed",
            &[("key", "p.txt"), ("presignTTL", "15m")],
        ))
        .await
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_slice(&resp.data).unwrap();
    let url = body["presignURL"].as_str().unwrap();
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(url).send().await.unwrap().text().await.unwrap(),
        "signed"
    );

    let err = b
        .invoke(request("presign", b"", &[("key", "p.txt")]))
        .await
        .unwrap_err();
    assert!(err.message().contains("presignTTL"), "{err}");

    // beyond daprd: a presigned PUT
    let resp = b
        .invoke(request(
            "presign",
            b"",
            &[
                ("key", "up.txt"),
                ("presignTTL", "1m"),
                ("presignMethod", "PUT"),
            ],
        ))
        .await
        .unwrap()
        .unwrap();
    let url: Value = serde_json::from_slice(&resp.data).unwrap();
    let put = http
        .put(url["presignURL"].as_str().unwrap())
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let obj = s3
        .get_object()
        .bucket(BUCKET)
        .key("up.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &obj.body.collect().await.unwrap().into_bytes()[..],
        b"uploaded"
    );
}

#[tokio::test]
async fn bulk_operations_keep_input_order_and_report_each_item() {
    let Some(moto) = Moto::start() else { return };
    let _s3 = bucket(&moto).await;
    let b = output(
        &DESCRIPTOR,
        &moto,
        &[("bucket", BUCKET), ("forcePathStyle", "true")],
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, b"from a file").unwrap();
    let create = serde_json::json!({"items": [
        {"key": "k1", "data": "one", "contentType": "text/plain"},
        {"key": "k2", "filePath": src},
        {"key": "k3", "filePath": dir.path().join("missing")},
    ], "concurrency": 2});
    let resp = b
        .invoke(request("bulkCreate", create.to_string().as_bytes(), &[]))
        .await
        .unwrap()
        .unwrap();
    let out: Value = serde_json::from_slice(&resp.data).unwrap();
    let keys: Vec<_> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["k1", "k2", "k3"]);
    assert!(
        out[0]["location"].is_string() && out[0].get("error").is_none(),
        "{out}"
    );
    assert!(
        out[2]["error"].is_string() && out[2].get("location").is_none(),
        "{out}"
    );

    let dest = dir.path().join("k2.out");
    let get = serde_json::json!({"items": [{"key": "k1"}, {"key": "k2", "filePath": dest}, {"key": "nope"}]});
    let resp = b
        .invoke(request("bulkGet", get.to_string().as_bytes(), &[]))
        .await
        .unwrap()
        .unwrap();
    let out: Value = serde_json::from_slice(&resp.data).unwrap();
    assert_eq!(out[0]["data"], "b25l"); // base64 of "one"
    assert!(out[1].get("data").is_none(), "{out}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"from a file");
    assert!(
        out[2]["error"]
            .as_str()
            .unwrap()
            .contains("object not found"),
        "{out}"
    );

    let del = serde_json::json!({"keys": ["k1", "k2"]});
    let resp = b
        .invoke(request("bulkDelete", del.to_string().as_bytes(), &[]))
        .await
        .unwrap()
        .unwrap();
    let out: Value = serde_json::from_slice(&resp.data).unwrap();
    assert_eq!(out, serde_json::json!([{"key": "k1"}, {"key": "k2"}]));
    let err = b
        .invoke(request("get", b"", &[("key", "k1")]))
        .await
        .unwrap_err();
    assert!(err.message().contains("object not found"), "{err}");
}

#[tokio::test]
async fn refused_endpoint_names_component_and_field_and_never_a_credential() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    moto.stop();
    let b = output(
        &DESCRIPTOR,
        &moto,
        &[
            ("bucket", BUCKET),
            ("forcePathStyle", "true"),
            ("secretKey", "sup3r-s3cret"),
            ("sessionToken", "t0ken-value"),
        ],
    )
    .await
    .unwrap();
    let err = b
        .invoke(request("get", b"", &[("key", "x")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let msg = err.message();
    assert!(
        msg.contains("aws.s3 binding \"aws-test\"") && msg.contains("(field endpoint)"),
        "{msg}"
    );
    assert!(
        !msg.contains("sup3r-s3cret") && !msg.contains("t0ken-value"),
        "{msg}"
    );
}
