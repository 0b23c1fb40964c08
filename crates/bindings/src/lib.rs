//! Every binding type bindery can run, one module each, each behind a Cargo feature of the same
//! name. Components know their external system and nothing of HTTP, gRPC or the app.
#![forbid(unsafe_code)]

use bindery_core::BindingDescriptor;

pub mod common;
#[cfg(feature = "kafka")]
pub mod kafka;

/// The binding types compiled into this build.
#[allow(clippy::vec_init_then_push)]
pub fn registry() -> Vec<BindingDescriptor> {
    #[allow(unused_mut)]
    let mut all: Vec<BindingDescriptor> = Vec::new();
    #[cfg(feature = "kafka")]
    all.push(kafka::DESCRIPTOR);
    all
}
