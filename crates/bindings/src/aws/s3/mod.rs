//! `bindings.aws.s3`: create, get, delete, list, presign and the bulk operations on one bucket.
//!
//! Deviations from daprd (components-contrib `bindings/aws/s3`):
//! - `presign` also signs a PUT when request metadata `presignMethod` is `PUT` (cc#3602); the
//!   default stays GET.
//! - `delete` of a missing key answers `object not found` (a HEAD first), as `get` does.
//! - `insecureSSL` is accepted but certificates are still verified: with an `https://`
//!   endpoint and `insecureSSL: true` building fails with a clear error instead of silently
//!   verifying; with plain `http://` (moto, LocalStack) it has no effect, as in daprd.
//! - `bulkGet` returns object bytes as base64 text in `data` (Go's `[]byte` JSON form).

mod config;
mod list;
mod ops;

use std::sync::Arc;

use async_trait::async_trait;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, InvokeRequest, InvokeResponse, OutputBinding,
};

pub use config::{FIELDS, S3Config};

pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create",
        description: "Upload an object (metadata key, or a new UUID).",
    },
    Operation {
        name: "get",
        description: "Download an object (metadata key).",
    },
    Operation {
        name: "delete",
        description: "Delete an object (metadata key).",
    },
    Operation {
        name: "list",
        description: "List objects (data: marker, prefix, maxResults, delimiter).",
    },
    Operation {
        name: "presign",
        description: "Presign a GET (or, with presignMethod PUT, a PUT) URL for metadata key, valid presignTTL.",
    },
    Operation {
        name: "bulkGet",
        description: "Download several objects in parallel.",
    },
    Operation {
        name: "bulkCreate",
        description: "Upload several objects in parallel.",
    },
    Operation {
        name: "bulkDelete",
        description: "Delete several objects in batches of 1000.",
    },
];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.aws.s3",
    aliases: &[],
    status: "stable",
    summary: "Store, read, list, presign and delete objects in an Amazon S3 (or S3-compatible) bucket.",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<S3Config>,
    build_input: None,
    build_output: Some(build_output),
};

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<S3Config>()?;
        let binding = S3Binding::connect(&cx.name, config).await?;
        Ok(Box::new(binding) as Box<dyn OutputBinding>)
    })
}

/// One bucket and its client.
pub struct S3Binding {
    inner: Arc<ops::S3>,
}

impl S3Binding {
    pub async fn connect(name: &str, config: S3Config) -> Result<Self, BindingError> {
        let component = format!("aws.s3 binding {name:?}");
        let endpoint = config.auth.endpoint_url(config.disable_ssl);
        if config.insecure_ssl
            && endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("https://"))
        {
            return Err(BindingError::invalid(format!(
                "{component}: insecureSSL with an https endpoint is not supported by bindery (certificates are always verified)"
            )));
        }
        let sdk = config
            .auth
            .sdk_config(&component, config.disable_ssl)
            .await?;
        let s3_conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(config.force_path_style)
            .build();
        let client = aws_sdk_s3::Client::from_conf(s3_conf);
        Ok(Self {
            inner: Arc::new(ops::S3 {
                client,
                config,
                endpoint,
                component,
            }),
        })
    }
}

#[async_trait]
impl OutputBinding for S3Binding {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        let s3 = &self.inner;
        match req.operation.as_str() {
            "create" => s3.create(&req).await.map(Some),
            "get" => s3.get(&req).await.map(Some),
            "delete" => s3.delete(&req).await.map(|()| None),
            "list" => s3.list(&req).await.map(Some),
            "presign" => s3.presign(&req).await.map(Some),
            "bulkGet" => ops::bulk_get(self.inner.clone(), &req).await.map(Some),
            "bulkCreate" => ops::bulk_create(self.inner.clone(), &req).await.map(Some),
            "bulkDelete" => s3.bulk_delete(&req).await.map(Some),
            other => Err(BindingError::invalid(format!(
                "s3 binding error. unsupported operation {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::{BindingConfig, Properties};

    #[test]
    fn corpus_component_files_decode() {
        let found = crate::common::corpus_components(&["bindings.aws.s3"]);
        if found.is_empty() {
            eprintln!("SKIP: the components-contrib corpus is not present");
            return;
        }
        for (file, props) in &found {
            S3Config::decode(props, &mut Vec::new()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        assert!(found.len() >= 6, "only {} s3 component files", found.len());
    }

    #[test]
    fn docker_conformance_file_decodes_as_daprd() {
        let props = Properties::from_pairs([
            ("bucket", "conformance-test-docker"),
            ("endpoint", "localhost:4566"),
            ("forcePathStyle", "true"),
            ("disableSSL", "true"),
            ("insecureSSL", "true"),
            ("decodeBase64", "false"),
        ]);
        let c = S3Config::decode(&props, &mut Vec::new()).unwrap();
        assert!(c.force_path_style && c.disable_ssl && c.insecure_ssl && !c.decode_base64);
        assert_eq!(
            c.auth.endpoint_url(c.disable_ssl).unwrap(),
            "http://localhost:4566"
        );
    }
}
