//! The metadata of `bindings.aws.s3` (components-contrib `bindings/aws/s3`), decoded without I/O.

use bindery_core::{BindingConfig, ConfigError, ConfigWarning, Field, FieldType, Properties};

use crate::aws::auth::AwsAuth;

pub const BUCKET: Field = Field::new("bucket", FieldType::String, "The S3 bucket.")
    .required()
    .example("my-bucket");
pub const FORCE_PATH_STYLE: Field = Field::new(
    "forcePathStyle",
    FieldType::Bool,
    "Path-style addressing (`<endpoint>/<bucket>/<key>`) instead of virtual-hosted style; most emulators need it.",
)
.default_value("false");
pub const DECODE_BASE64: Field = Field::new(
    "decodeBase64",
    FieldType::Bool,
    "create: base64-decode the data before upload. Request metadata `decodeBase64` overrides it.",
)
.default_value("false");
pub const ENCODE_BASE64: Field = Field::new(
    "encodeBase64",
    FieldType::Bool,
    "get: return the object as base64 text. Request metadata `encodeBase64` overrides it.",
)
.default_value("false");
pub const DISABLE_SSL: Field = Field::new(
    "disableSSL",
    FieldType::Bool,
    "Allow a plain `http://` endpoint: an endpoint without a scheme gets `http://`.",
)
.default_value("false");
pub const INSECURE_SSL: Field = Field::new(
    "insecureSSL",
    FieldType::Bool,
    "Accept self-signed or invalid certificates of an `https://` endpoint. Not supported by bindery: with an https endpoint, building fails.",
)
.default_value("false");

pub const FIELDS: &[Field] = crate::aws_fields![
    BUCKET,
    FORCE_PATH_STYLE,
    DECODE_BASE64,
    ENCODE_BASE64,
    DISABLE_SSL,
    INSECURE_SSL,
];

#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    pub force_path_style: bool,
    pub decode_base64: bool,
    pub encode_base64: bool,
    pub disable_ssl: bool,
    pub insecure_ssl: bool,
    pub auth: AwsAuth,
}

impl BindingConfig for S3Config {
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        if p.bool(&INSECURE_SSL) {
            warnings.push(ConfigWarning::new(
                INSECURE_SSL.name,
                "bindery verifies TLS certificates even with insecureSSL: it has no effect on http endpoints, and an https endpoint makes building fail",
            ));
        }
        Ok(Self {
            // Required, but daprd does not validate it: an empty bucket fails on first use.
            bucket: p.string(&BUCKET).unwrap_or_default(),
            force_path_style: p.bool(&FORCE_PATH_STYLE),
            decode_base64: p.bool(&DECODE_BASE64),
            encode_base64: p.bool(&ENCODE_BASE64),
            disable_ssl: p.bool(&DISABLE_SSL),
            insecure_ssl: p.bool(&INSECURE_SSL),
            auth: AwsAuth::decode(p)?,
        })
    }
}
