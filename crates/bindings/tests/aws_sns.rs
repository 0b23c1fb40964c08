//! `bindings.aws.sns` against moto: a topic with an SQS queue subscribed, so what the binding
//! published can be read back from the queue (SNS's JSON envelope).
// The published message is read back through SQS, so the test needs both features.
#![cfg(all(feature = "aws-sns", feature = "aws-sqs"))]

mod aws_support;

use aws_support::{output, request, sdk};
use bindery_bindings::aws::sns::DESCRIPTOR;
use bindery_core::ErrorKind;
use bindery_testkit::moto::Moto;
use serde_json::Value;

async fn topic_with_queue(moto: &Moto) -> (String, aws_sdk_sqs::Client, String) {
    let conf = sdk(moto).await;
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = sns
        .create_topic()
        .name("events")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let url = sqs
        .create_queue()
        .queue_name("sink")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .unwrap();
    (topic, sqs, url)
}

async fn received(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn publishes_message_and_subject_with_go_formatting_and_attributes() {
    let Some(moto) = Moto::start() else { return };
    let (topic, sqs, url) = topic_with_queue(&moto).await;
    let b = output(&DESCRIPTOR, &moto, &[("topicArn", &topic)])
        .await
        .unwrap();
    b.invoke(request(
        "create",
        br#"{"message": "hello", "subject": "greeting"}"#,
        &[("attribute.tenant", "acme")],
    ))
    .await
    .unwrap();
    let got = received(&sqs, &url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["Message"], "hello");
    assert_eq!(got[0]["Subject"], "greeting");
    assert_eq!(got[0]["TopicArn"], topic.as_str());
    assert_eq!(got[0]["MessageAttributes"]["tenant"]["Value"], "acme");

    b.invoke(request(
        "create",
        br#"{"message": {"b": 2, "a": "x"}}"#,
        &[],
    ))
    .await
    .unwrap();
    let got = received(&sqs, &url).await;
    assert_eq!(got[0]["Message"], "map[a:x b:2]");
    assert_eq!(got[0]["Subject"], "<nil>");

    let err = b
        .invoke(request("create", b"plain text", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}
