//! Shard leases and checkpoints in DynamoDB, in the table layout of vmware-go-kcl (daprd's KCL
//! worker): hash key `ShardID`; `AssignedTo` (the owner), `LeaseTimeout` (RFC 3339, UTC),
//! `Checkpoint` (the last processed sequence number, or `SHARD_END`), `ParentShardId`.
//! Every write is conditional on what was read, so two sidecars never both own a shard.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bindery_core::BindingError;

use crate::aws::auth::describe;

pub const SHARD_ID: &str = "ShardID";
pub const ASSIGNED_TO: &str = "AssignedTo";
pub const LEASE_TIMEOUT: &str = "LeaseTimeout";
pub const CHECKPOINT: &str = "Checkpoint";
pub const PARENT: &str = "ParentShardId";
pub const SHARD_END: &str = "SHARD_END";

/// One row of the lease table.
#[derive(Debug, Clone, Default)]
pub struct Lease {
    pub shard_id: String,
    pub owner: Option<String>,
    pub timeout: Option<String>,
    pub checkpoint: Option<String>,
    pub parent: Option<String>,
}

impl Lease {
    /// Whether the lease timed out (or never had an owner) at `now`.
    pub fn is_free(&self, now: SystemTime) -> bool {
        let Some(owner) = &self.owner else {
            return true;
        };
        if owner.is_empty() {
            return true;
        }
        match self
            .timeout
            .as_deref()
            .and_then(|t| DateTime::from_str(t, Format::DateTime).ok())
        {
            Some(t) => SystemTime::try_from(t).is_ok_and(|t| t <= now),
            None => true,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.checkpoint.as_deref() == Some(SHARD_END)
    }
}

pub struct LeaseTable {
    client: Client,
    table: String,
    pub owner: String,
    duration: Duration,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn conditional_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn failed<E: std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: &SdkError<E, R>,
) -> BindingError {
    BindingError::unavailable(format!("kinesis lease table: {what}: {}", describe(e)))
}

impl LeaseTable {
    pub fn new(client: Client, table: String, owner: String, duration: Duration) -> Self {
        Self {
            client,
            table,
            owner,
            duration,
        }
    }

    fn expiry(&self) -> String {
        let until = SystemTime::now() + self.duration;
        DateTime::from(until)
            .fmt(Format::DateTime)
            .unwrap_or_default()
    }

    /// Creates the table when it does not exist yet.
    pub async fn ensure(&self) -> Result<(), BindingError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(failed("describe", &e)),
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(SHARD_ID)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| BindingError::other(e.to_string()))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(SHARD_ID)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| BindingError::other(e.to_string()))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(failed("create", &e)),
        }
    }

    /// Every lease, read consistently.
    pub async fn scan(&self) -> Result<Vec<Lease>, BindingError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| failed("scan", &e))?;
            for item in page.items() {
                let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                let Some(shard_id) = get(SHARD_ID) else {
                    continue;
                };
                out.push(Lease {
                    shard_id,
                    owner: get(ASSIGNED_TO),
                    timeout: get(LEASE_TIMEOUT),
                    checkpoint: get(CHECKPOINT),
                    parent: get(PARENT),
                });
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Adds the row of a shard nobody has seen yet.
    pub async fn create(&self, shard_id: &str, parent: Option<&str>) -> Result<(), BindingError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(SHARD_ID, s(shard_id))
            .condition_expression("attribute_not_exists(ShardID)");
        if let Some(p) = parent {
            put = put.item(PARENT, s(p));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Ok(()),
            Err(e) => Err(failed("create lease", &e)),
        }
    }

    /// Takes `lease` over as it was read (free, expired, or stolen from its owner). `false` when
    /// someone changed it in between.
    pub async fn take(&self, lease: &Lease) -> Result<bool, BindingError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(SHARD_ID, s(&lease.shard_id))
            .update_expression("SET AssignedTo = :me, LeaseTimeout = :until")
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":until", s(&self.expiry()));
        let mut conditions = vec!["attribute_exists(ShardID)".to_owned()];
        match &lease.owner {
            Some(o) => {
                conditions.push("AssignedTo = :old".into());
                update = update.expression_attribute_values(":old", s(o));
            }
            None => conditions.push("attribute_not_exists(AssignedTo)".into()),
        }
        match &lease.timeout {
            Some(t) => {
                conditions.push("LeaseTimeout = :oldt".into());
                update = update.expression_attribute_values(":oldt", s(t));
            }
            None => conditions.push("attribute_not_exists(LeaseTimeout)".into()),
        }
        match update
            .condition_expression(conditions.join(" AND "))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(failed("take lease", &e)),
        }
    }

    /// Runs `expr` on a lease this sidecar owns; `false` when it is not ours any more.
    async fn update_owned(
        &self,
        shard_id: &str,
        expr: &str,
        values: &[(&str, String)],
    ) -> Result<bool, BindingError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(SHARD_ID, s(shard_id))
            .update_expression(expr)
            .condition_expression("AssignedTo = :me")
            .expression_attribute_values(":me", s(&self.owner));
        for (k, v) in values {
            update = update.expression_attribute_values(*k, s(v));
        }
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(failed("update lease", &e)),
        }
    }

    pub async fn renew(&self, shard_id: &str) -> Result<bool, BindingError> {
        self.update_owned(
            shard_id,
            "SET LeaseTimeout = :until",
            &[(":until", self.expiry())],
        )
        .await
    }

    pub async fn checkpoint(&self, shard_id: &str, sequence: &str) -> Result<bool, BindingError> {
        self.update_owned(
            shard_id,
            "SET Checkpoint = :seq",
            &[(":seq", sequence.to_owned())],
        )
        .await
    }

    /// Gives a lease up at once (a clean stop), so another sidecar can take it.
    pub async fn release(&self, shard_id: &str) -> Result<bool, BindingError> {
        self.update_owned(shard_id, "REMOVE AssignedTo, LeaseTimeout", &[])
            .await
    }
}
