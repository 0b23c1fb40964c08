//! Every binding type bindery can run, one module each, each behind a Cargo feature of the same
//! name. Components know their external system and nothing of HTTP, gRPC or the app.
#![forbid(unsafe_code)]

use bindery_core::BindingDescriptor;

#[cfg(feature = "azure-common")]
pub mod azure;
pub mod common;
#[cfg(feature = "cron")]
pub mod cron;
#[cfg(feature = "graphql")]
pub mod graphql;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "localstorage")]
pub mod localstorage;
#[cfg(feature = "mqtt3")]
pub mod mqtt3;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sftp")]
pub mod sftp;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql;
#[cfg(any(feature = "twilio-sms", feature = "twilio-sendgrid"))]
pub mod twilio;

/// The binding types compiled into this build.
#[allow(clippy::vec_init_then_push)]
pub fn registry() -> Vec<BindingDescriptor> {
    #[allow(unused_mut)]
    let mut all: Vec<BindingDescriptor> = Vec::new();
    #[cfg(feature = "cron")]
    all.push(cron::DESCRIPTOR);
    #[cfg(feature = "http")]
    all.push(http::DESCRIPTOR);
    #[cfg(feature = "localstorage")]
    all.push(localstorage::DESCRIPTOR);
    #[cfg(feature = "redis")]
    all.push(redis::DESCRIPTOR);
    #[cfg(feature = "postgres")]
    all.push(postgres::DESCRIPTOR);
    #[cfg(feature = "mysql")]
    all.push(mysql::DESCRIPTOR);
    #[cfg(feature = "rabbitmq")]
    all.push(rabbitmq::DESCRIPTOR);
    #[cfg(feature = "mqtt3")]
    all.push(mqtt3::DESCRIPTOR);
    #[cfg(feature = "nats")]
    all.push(nats::DESCRIPTOR);
    #[cfg(feature = "kafka")]
    all.push(kafka::DESCRIPTOR);
    #[cfg(feature = "smtp")]
    all.push(smtp::DESCRIPTOR);
    #[cfg(feature = "twilio-sms")]
    all.push(twilio::sms::DESCRIPTOR);
    #[cfg(feature = "twilio-sendgrid")]
    all.push(twilio::sendgrid::DESCRIPTOR);
    #[cfg(feature = "graphql")]
    all.push(graphql::DESCRIPTOR);
    #[cfg(feature = "sftp")]
    all.push(sftp::DESCRIPTOR);
    #[cfg(feature = "azure-blobstorage")]
    all.push(azure::blobstorage::DESCRIPTOR);
    #[cfg(feature = "azure-storagequeues")]
    all.push(azure::storagequeues::DESCRIPTOR);
    all
}
