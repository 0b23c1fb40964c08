//! `bindings.aws.kinesis`: output `create` puts one record; the input reads every shard of the
//! stream, sharing them with the other sidecars of the same `consumerName` through leases and
//! checkpoints in a DynamoDB table named after `consumerName` (components-contrib
//! `bindings/aws/kinesis`, whose vmware-go-kcl worker keeps the same table: hash key
//! `ShardID`, attributes `AssignedTo`, `LeaseTimeout` (RFC 3339), `Checkpoint`,
//! `ParentShardId`).
//!
//! Delivery promise: **at-least-once**. A record is checkpointed only after the app accepted it
//! (the runtime's retries and dead letter run first); a refused record is delivered again
//! (backing off 100 ms doubling to 30 s) and holds its shard until accepted. After a restart, or
//! when another sidecar takes a shard over, reading resumes after the last checkpoint, so a
//! record may arrive twice, never zero times.
//!
//! Deviations from daprd:
//! - daprd checkpoints a batch even when the app failed, losing those records. The bindery
//!   option `onAppFailure: skip` (the kafka binding's name for it) restores that behaviour;
//!   the default, `retry`, is at-least-once;
//! - input events carry metadata `sequenceNumber`, `partitionKey` and `shardId` (daprd: none);
//! - `initialPosition` (bindery option: `LATEST`, daprd's KCL default, or `TRIM_HORIZON`)
//!   chooses where a shard without checkpoint starts;
//! - `leaseDuration` (bindery option, default 10 s, as the KCL's failover time) is how long a
//!   stopped sidecar's shards stay with it; a sidecar that stops cleanly releases them at once;
//! - `mode: extended` (enhanced fan-out) is decoded, but building the input fails with "not
//!   supported by bindery".

mod lease;
mod reader;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InputBinding, InvokeRequest, InvokeResponse, OutputBinding, Properties,
};

use crate::aws::auth::{AwsAuth, sdk_error};

pub const STREAM_NAME: Field = Field::new("streamName", FieldType::String, "The Kinesis stream.")
    .required()
    .example("my-stream");
pub const CONSUMER_NAME: Field = Field::new(
    "consumerName",
    FieldType::String,
    "Input: the consumer's name, also the DynamoDB lease table's; sidecars with the same name share the shards.",
)
.example("my-consumer")
.input_only();
pub const MODE: Field = Field::new(
    "mode",
    FieldType::String,
    "`shared` (polling, leases in DynamoDB) or `extended` (enhanced fan-out: not supported by bindery).",
)
.default_value("shared")
.input_only();
pub const PARTITION_KEY: Field = Field::new(
    "partitionKey",
    FieldType::String,
    "Accepted for compatibility; the partition key comes from request metadata partitionKey, or a new UUID.",
);
pub const ON_APP_FAILURE: Field = Field::new(
    "onAppFailure",
    FieldType::String,
    "bindery option, input: `retry` delivers a refused record again and checkpoints only after the app accepted it (at-least-once); `skip` checkpoints it anyway, as daprd does, which loses it.",
)
.default_value("retry")
.input_only();
pub const INITIAL_POSITION: Field = Field::new(
    "initialPosition",
    FieldType::String,
    "bindery option, input: where a shard without checkpoint starts, `LATEST` (daprd) or `TRIM_HORIZON`.",
)
.default_value("LATEST")
.input_only();
pub const LEASE_DURATION: Field = Field::new(
    "leaseDuration",
    FieldType::Duration,
    "bindery option, input: how long a shard lease lasts without renewal (a killed sidecar's shards move after it).",
)
.default_value("10s")
.input_only();

pub const FIELDS: &[Field] = crate::aws_fields![
    STREAM_NAME,
    CONSUMER_NAME,
    MODE,
    PARTITION_KEY,
    ON_APP_FAILURE,
    INITIAL_POSITION,
    LEASE_DURATION,
];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Put the data as one record (request metadata partitionKey, or a new UUID).",
}];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.aws.kinesis",
    aliases: &[],
    status: "alpha",
    summary: "Put records into and read records from an Amazon Kinesis data stream.",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<KinesisConfig>,
    build_input: Some(build_input),
    build_output: Some(build_output),
};

#[derive(Debug, Clone)]
pub struct KinesisConfig {
    pub stream_name: String,
    pub consumer_name: String,
    pub extended: bool,
    pub checkpoint_on_failure: bool,
    pub from_trim_horizon: bool,
    pub lease_duration: Duration,
    pub auth: AwsAuth,
}

impl BindingConfig for KinesisConfig {
    fn decode(p: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let extended = match p
            .string(&MODE)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "shared" => false,
            "extended" => true,
            other => {
                return Err(ConfigError::new(
                    MODE.name,
                    format!("unknown mode {other:?}: use shared or extended"),
                ));
            }
        };
        let from_trim_horizon = match p
            .string(&INITIAL_POSITION)
            .unwrap_or_default()
            .to_ascii_uppercase()
            .as_str()
        {
            "" | "LATEST" => false,
            "TRIM_HORIZON" => true,
            other => {
                return Err(ConfigError::new(
                    INITIAL_POSITION.name,
                    format!("unknown position {other:?}: use LATEST or TRIM_HORIZON"),
                ));
            }
        };
        let checkpoint_on_failure = match p
            .string(&ON_APP_FAILURE)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "retry" => false,
            "skip" => true,
            other => {
                return Err(ConfigError::new(
                    ON_APP_FAILURE.name,
                    format!("invalid value {other:?} (must be \"retry\" or \"skip\")"),
                ));
            }
        };
        let lease_duration = p
            .duration(&LEASE_DURATION)?
            .unwrap_or(Duration::from_secs(10));
        if lease_duration < Duration::from_secs(1) {
            return Err(ConfigError::new(LEASE_DURATION.name, "must be at least 1s"));
        }
        Ok(Self {
            stream_name: p.string(&STREAM_NAME).unwrap_or_default(),
            consumer_name: p.string(&CONSUMER_NAME).unwrap_or_default(),
            extended,
            checkpoint_on_failure,
            from_trim_horizon,
            lease_duration,
            auth: AwsAuth::decode(p)?,
        })
    }
}

fn decode(cx: &BuildContext) -> Result<(KinesisConfig, String), BindingError> {
    let config = cx.config::<KinesisConfig>()?;
    Ok((config, format!("aws.kinesis binding {:?}", cx.name)))
}

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let (config, component) = decode(&cx)?;
        let sdk = config.auth.sdk_config(&component, false).await?;
        Ok(Box::new(KinesisOutput {
            client: Client::new(&sdk),
            endpoint: config.auth.endpoint_url(false),
            config,
            component,
        }) as Box<dyn OutputBinding>)
    })
}

fn build_input(cx: BuildContext) -> BoxFuture<Result<Box<dyn InputBinding>, BindingError>> {
    Box::pin(async move {
        let (config, component) = decode(&cx)?;
        if config.extended {
            return Err(BindingError::invalid(format!(
                "{component}: mode extended (enhanced fan-out) is not supported by bindery; use mode shared"
            )));
        }
        if config.consumer_name.is_empty() {
            return Err(BindingError::invalid(format!(
                "{component}: field consumerName is required for the input (it names the lease table)"
            )));
        }
        let sdk = config.auth.sdk_config(&component, false).await?;
        let owner = format!("{}-{}", cx.app_id, uuid::Uuid::new_v4());
        Ok(
            Box::new(reader::KinesisInput::new(&sdk, config, component, owner))
                as Box<dyn InputBinding>,
        )
    })
}

pub struct KinesisOutput {
    client: Client,
    config: KinesisConfig,
    endpoint: Option<String>,
    component: String,
}

#[async_trait]
impl OutputBinding for KinesisOutput {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        if req.operation != "create" {
            return Err(BindingError::invalid(format!(
                "binding does not support operation {}",
                req.operation
            )));
        }
        let key = req
            .metadata
            .get("partitionKey")
            .filter(|k| !k.is_empty())
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.client
            .put_record()
            .stream_name(&self.config.stream_name)
            .partition_key(key)
            .data(Blob::new(req.data.to_vec()))
            .send()
            .await
            .map_err(|e| {
                let prefix = "kinesis: put record failed: ";
                if crate::aws::missing::is_missing(&e, &["ResourceNotFoundException"]) {
                    let name = &self.config.stream_name;
                    return crate::aws::missing::missing_error(prefix, "stream", name, &e);
                }
                sdk_error(&self.component, self.endpoint.as_deref(), prefix, &e)
            })?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_modes_positions_and_leases() {
        let p = Properties::from_pairs([("streamName", "s"), ("consumerName", "c")]);
        let c = KinesisConfig::decode(&p, &mut Vec::new()).unwrap();
        assert!(!c.extended && !c.from_trim_horizon && !c.checkpoint_on_failure);
        assert_eq!(c.lease_duration, Duration::from_secs(10));
        let p = Properties::from_pairs([
            ("mode", "extended"),
            ("initialPosition", "trim_horizon"),
            ("leaseDuration", "3s"),
        ]);
        let c = KinesisConfig::decode(&p, &mut Vec::new()).unwrap();
        assert!(c.extended && c.from_trim_horizon);
        let p = Properties::from_pairs([("mode", "fanout")]);
        assert_eq!(
            KinesisConfig::decode(&p, &mut Vec::new())
                .unwrap_err()
                .field,
            "mode"
        );
    }
}
