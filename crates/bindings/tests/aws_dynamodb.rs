//! `bindings.aws.dynamodb` against moto: the put item is read back with the SDK.
#![cfg(feature = "aws-dynamodb")]

mod aws_support;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_support::{output, request, sdk};
use bindery_bindings::aws::dynamodb::DESCRIPTOR;
use bindery_core::ErrorKind;
use bindery_testkit::moto::Moto;

#[tokio::test]
async fn create_puts_the_object_with_daprd_attribute_mapping() {
    let Some(moto) = Moto::start() else { return };
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    aws_support::create_table(&ddb, "items").await;
    let b = output(&DESCRIPTOR, &moto, &[("table", "items")])
        .await
        .unwrap();
    let resp = b
        .invoke(request("create", br#"{"id": "k1", "n": 42, "f": 0.5, "ok": true, "tags": ["a", 1], "nested": {"x": null}}"#, &[]))
        .await
        .unwrap();
    assert!(resp.is_none());
    let item = ddb
        .get_item()
        .table_name("items")
        .key("id", AttributeValue::S("k1".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the item was written");
    assert_eq!(item["n"], AttributeValue::N("42".into()));
    assert_eq!(item["f"], AttributeValue::N("0.5".into()));
    assert_eq!(item["ok"], AttributeValue::Bool(true));
    assert_eq!(
        item["tags"],
        AttributeValue::L(vec![
            AttributeValue::S("a".into()),
            AttributeValue::N("1".into())
        ])
    );
    let nested = item["nested"].as_m().unwrap();
    assert_eq!(nested["x"], AttributeValue::Null(true));

    let err = b
        .invoke(request("create", b"[1, 2]", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(request("create", br#"{"other": 1}"#, &[]))
        .await
        .unwrap_err();
    assert!(err.message().starts_with("dynamodb error: "), "{err}");
}
