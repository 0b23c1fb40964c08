//! Code generated from bindery's own Dapr protobuf definitions (`crates/api/proto`). The module
//! tree mirrors the protobuf packages so cross-package references resolve.

#![allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]

pub mod dapr {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.common.v1");
            }
        }
        pub mod runtime {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.runtime.v1");
            }
        }
    }
}

pub use dapr::proto::common::v1 as common;
pub use dapr::proto::runtime::v1 as runtime;

/// The encoded `FileDescriptorSet` of every definition, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/dapr_descriptor.bin"));
