//! Compiles bindery's own Dapr protobuf definitions (crates/api/proto) with protox, so no
//! system `protoc` is needed, and generates the tonic server (Dapr API) and clients (app
//! callbacks). The file descriptor set is kept for gRPC server reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "dapr/proto/runtime/v1/dapr.proto",
    "dapr/proto/runtime/v1/appcallback.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let set_path = out_dir.join("dapr_descriptor.bin");
    std::fs::write(&set_path, prost::Message::encode_to_vec(&descriptors))?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
