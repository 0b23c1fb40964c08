//! `bindings.aws.dynamodb`: output `create` puts the JSON object as one item
//! (components-contrib `bindings/aws/dynamodb`).
//!
//! The object is mapped as daprd's `attributevalue.MarshalMap` maps a `map[string]interface{}`
//! decoded by `encoding/json`: strings to `S` (an empty string to `NULL`), numbers (float64)
//! to `N` in Go's `'f'` format, booleans to `BOOL`, `null` to `NULL`, arrays to `L`, objects to
//! `M`. No deviation from daprd.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties,
};
use serde_json::Value;

use crate::aws::auth::{AwsAuth, sdk_error};

pub const TABLE: Field = Field::new("table", FieldType::String, "The DynamoDB table.")
    .required()
    .example("my-table");

pub const FIELDS: &[Field] = crate::aws_fields![TABLE];

pub const OPERATIONS: &[Operation] = &[Operation {
    name: "create",
    description: "Put the JSON object as one item.",
}];

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.aws.dynamodb",
    aliases: &[],
    status: "stable",
    summary: "Put items into an Amazon DynamoDB table.",
    fields: FIELDS,
    operations: OPERATIONS,
    decode: bindery_core::decode_as::<DynamoConfig>,
    build_input: None,
    build_output: Some(build_output),
};

#[derive(Debug, Clone)]
pub struct DynamoConfig {
    pub table: String,
    pub auth: AwsAuth,
}

impl BindingConfig for DynamoConfig {
    fn decode(p: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: p.string(&TABLE).unwrap_or_default(),
            auth: AwsAuth::decode(p)?,
        })
    }
}

fn build_output(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<DynamoConfig>()?;
        let component = format!("aws.dynamodb binding {:?}", cx.name);
        let sdk = config.auth.sdk_config(&component, false).await?;
        Ok(Box::new(Dynamo {
            client: Client::new(&sdk),
            endpoint: config.auth.endpoint_url(false),
            config,
            component,
        }) as Box<dyn OutputBinding>)
    })
}

pub struct Dynamo {
    client: Client,
    config: DynamoConfig,
    endpoint: Option<String>,
    component: String,
}

/// One JSON value as `attributevalue.Marshal` encodes it.
pub fn attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::String(s) if s.is_empty() => AttributeValue::Null(true),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(go_float_f(n.as_f64().unwrap_or(0.0))),
        Value::Array(items) => AttributeValue::L(items.iter().map(attribute).collect()),
        Value::Object(map) => AttributeValue::M(item(map)),
    }
}

/// The item of a JSON object.
pub fn item(map: &serde_json::Map<String, Value>) -> HashMap<String, AttributeValue> {
    map.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`: plain decimal, shortest round trip.
fn go_float_f(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e300 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

#[async_trait]
impl OutputBinding for Dynamo {
    async fn invoke(&self, req: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        if req.operation != "create" {
            return Err(BindingError::invalid(format!(
                "binding does not support operation {}",
                req.operation
            )));
        }
        let value: Value = serde_json::from_slice(&req.data)
            .map_err(|e| BindingError::invalid(format!("dynamodb error: {e}")))?;
        let Value::Object(map) = value else {
            return Err(BindingError::invalid(
                "dynamodb error: the data must be a JSON object",
            ));
        };
        self.client
            .put_item()
            .table_name(&self.config.table)
            .set_item(Some(item(&map)))
            .send()
            .await
            .map_err(|e| {
                let prefix = "dynamodb error: ";
                if crate::aws::missing::is_missing(&e, &["ResourceNotFoundException"]) {
                    let name = &self.config.table;
                    return crate::aws::missing::missing_error(prefix, "table", name, &e);
                }
                sdk_error(&self.component, self.endpoint.as_deref(), prefix, &e)
            })?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_json_as_attributevalue_does() {
        let v = json!({"s": "x", "e": "", "n": 12, "f": 1.5, "b": true, "z": null, "l": [1, "a"], "m": {"k": 2}});
        let it = item(v.as_object().unwrap());
        assert_eq!(it["s"], AttributeValue::S("x".into()));
        assert_eq!(it["e"], AttributeValue::Null(true));
        assert_eq!(it["n"], AttributeValue::N("12".into()));
        assert_eq!(it["f"], AttributeValue::N("1.5".into()));
        assert_eq!(it["b"], AttributeValue::Bool(true));
        assert_eq!(it["z"], AttributeValue::Null(true));
        assert_eq!(
            it["l"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::S("a".into())
            ])
        );
        assert_eq!(go_float_f(1e21), "1000000000000000000000");
        assert_eq!(go_float_f(0.000001), "0.000001");
    }
}
