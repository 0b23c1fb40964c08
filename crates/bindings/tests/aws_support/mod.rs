//! Shared pieces of the AWS binding tests: moto, component contexts and SDK configs for the
//! tests' own checks (made with the same SDK the bindings use).
#![allow(dead_code)]

use std::collections::HashMap;

use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InputBinding, InvokeRequest, OutputBinding,
    Properties,
};
use bindery_testkit::moto::{self, Moto};
use bytes::Bytes;

/// A build context as the runtime makes it: the metadata decoded once by the descriptor.
pub fn context_for(
    d: &BindingDescriptor,
    name: &str,
    moto: &Moto,
    extra: &[(&str, &str)],
) -> BuildContext {
    let mut map: HashMap<String, String> = moto.metadata().into_iter().collect();
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    d.context(name, "aws-test", Properties::new(map).unwrap())
        .expect("the metadata decodes")
}

pub async fn output(
    d: &BindingDescriptor,
    moto: &Moto,
    extra: &[(&str, &str)],
) -> Result<Box<dyn OutputBinding>, BindingError> {
    (d.build_output.unwrap())(context_for(d, "aws-test", moto, extra)).await
}

pub async fn input(
    d: &BindingDescriptor,
    moto: &Moto,
    extra: &[(&str, &str)],
) -> Result<Box<dyn InputBinding>, BindingError> {
    (d.build_input.unwrap())(context_for(d, "aws-test", moto, extra)).await
}

pub fn request(op: &str, data: &[u8], md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: op.to_owned(),
        data: Bytes::copy_from_slice(data),
        metadata: md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// An SDK config pointing at moto, for the test's own clients.
pub async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(moto::REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_credential_types::Credentials::new(
            moto::ACCESS_KEY,
            moto::SECRET_KEY,
            None,
            None,
            "test",
        ))
        .load()
        .await
}

/// An input's sink: records every event and refuses the first `fail` of them.
pub struct Sink {
    pub tx: tokio::sync::mpsc::UnboundedSender<bindery_core::InputEvent>,
    pub fail: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl bindery_core::EventSink for Sink {
    async fn deliver(&self, event: bindery_core::InputEvent) -> bindery_core::Delivery {
        use std::sync::atomic::Ordering;
        let _ = self.tx.send(event);
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(bindery_core::DeliveryError::new("app refused"));
        }
        Ok(Bytes::new())
    }
}

/// A running input: its events, and a token that stops it.
pub struct Running {
    pub events: tokio::sync::mpsc::UnboundedReceiver<bindery_core::InputEvent>,
    pub token: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), BindingError>>,
}

impl Running {
    pub async fn next(&mut self, within: std::time::Duration) -> Option<bindery_core::InputEvent> {
        tokio::time::timeout(within, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn stop(self) {
        self.token.cancel();
        let r = tokio::time::timeout(std::time::Duration::from_secs(30), self.task)
            .await
            .expect("the input stops on shutdown");
        r.unwrap().unwrap();
    }
}

pub fn run(binding: Box<dyn InputBinding>, fail: usize) -> Running {
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let sink = std::sync::Arc::new(Sink {
        tx,
        fail: fail.into(),
    });
    let token = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(binding.run(bindery_core::InputContext::new(
        "aws-test",
        sink,
        token.clone(),
    )));
    Running {
        events,
        token,
        task,
    }
}

/// Creates an on-demand DynamoDB table keyed by the string attribute `id`.
#[cfg(feature = "aws-dynamodb")]
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}
