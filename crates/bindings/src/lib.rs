//! Every binding type bindery can run, one module each, each behind a Cargo feature of the same
//! name. Components know their external system and nothing of HTTP, gRPC or the app.
#![forbid(unsafe_code)]

use bindery_core::BindingDescriptor;

pub mod common;
#[cfg(feature = "cron")]
pub mod cron;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "localstorage")]
pub mod localstorage;
#[cfg(feature = "lockredis")]
pub mod lockredis;
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
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql;

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
    all
}

/// The lock store types compiled into this build (`lock.*` components).
#[allow(clippy::vec_init_then_push)]
pub fn lock_stores() -> Vec<bindery_core::lock::LockStoreDescriptor> {
    #[allow(unused_mut)]
    let mut all = Vec::new();
    #[cfg(feature = "lockredis")]
    all.push(lockredis::DESCRIPTOR);
    all
}
