//! Every binding type bindery can run, one module each, each behind a Cargo feature of the same
//! name. Components know their external system and nothing of HTTP, gRPC or the app.
#![forbid(unsafe_code)]

use bindery_core::BindingDescriptor;

#[cfg(feature = "aws-common")]
pub mod aws;
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
    #[cfg(feature = "aws-s3")]
    all.push(aws::s3::DESCRIPTOR);
    #[cfg(feature = "aws-sqs")]
    all.push(aws::sqs::DESCRIPTOR);
    #[cfg(feature = "aws-sns")]
    all.push(aws::sns::DESCRIPTOR);
    #[cfg(feature = "aws-dynamodb")]
    all.push(aws::dynamodb::DESCRIPTOR);
    #[cfg(feature = "aws-ses")]
    all.push(aws::ses::DESCRIPTOR);
    #[cfg(feature = "aws-kinesis")]
    all.push(aws::kinesis::DESCRIPTOR);
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

/// The lock store types compiled into this build (`lock.*` components).
#[allow(clippy::vec_init_then_push)]
pub fn lock_stores() -> Vec<bindery_core::lock::LockStoreDescriptor> {
    #[allow(unused_mut)]
    let mut all = Vec::new();
    #[cfg(feature = "lockredis")]
    all.push(lockredis::DESCRIPTOR);
    all
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use bindery_core::manifest::parse_documents;
    use serde_json::Value;

    /// Every `metadata.yaml` under `dir`, with its `bindings.<name>` type.
    fn metadata_files(dir: &Path, out: &mut Vec<(String, Value)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                metadata_files(&path, out);
            } else if path.file_name().is_some_and(|n| n == "metadata.yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                for doc in parse_documents(&path.display().to_string(), &text) {
                    let value = doc.unwrap().value;
                    if let Some(name) = value.get("name").and_then(Value::as_str) {
                        out.push((format!("bindings.{name}"), value.clone()));
                    }
                }
            }
        }
    }

    /// The names of every metadata entry marked `sensitive: true`, in `metadata` and in the
    /// authentication profiles alike.
    fn sensitive_names(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if map.get("sensitive") == Some(&Value::Bool(true))
                    && let Some(name) = map.get("name").and_then(Value::as_str)
                {
                    out.insert(name.to_owned());
                }
                map.values().for_each(|v| sensitive_names(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| sensitive_names(v, out)),
            _ => {}
        }
    }

    /// A credential Dapr marks sensitive must be marked sensitive in the descriptor too, so
    /// `bindery validate`, the docs and the metadata endpoint can keep it out of sight.
    #[test]
    fn dapr_sensitive_fields_are_sensitive_in_descriptors() {
        let Some(dir) = crate::common::metadata_bindings_dir() else {
            eprintln!("SKIP: no Dapr metadata.yaml files here (set DAPR_DATA_DIR)");
            return;
        };
        let mut files = Vec::new();
        metadata_files(&dir, &mut files);
        let mut checked = 0;
        let mut wrong = Vec::new();
        for descriptor in super::registry() {
            for (_, value) in files.iter().filter(|(t, _)| descriptor.matches(t)) {
                let mut names = BTreeSet::new();
                sensitive_names(value, &mut names);
                for name in names {
                    checked += 1;
                    let field = descriptor.fields.iter().find(|f| {
                        f.name.eq_ignore_ascii_case(&name)
                            || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(&name))
                    });
                    match field {
                        Some(f) if f.sensitive => {}
                        Some(_) => {
                            wrong.push(format!("{}: {name} not sensitive", descriptor.type_name))
                        }
                        None => wrong.push(format!("{}: {name} not a field", descriptor.type_name)),
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        eprintln!("{checked} sensitive metadata.yaml entries checked");
    }
}
