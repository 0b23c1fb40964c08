//! The local secret stores daprd ships (`secretstores.local.env`, `secretstores.local.file`),
//! used to resolve `secretKeyRef` metadata items. They initialise before any binding.

use std::collections::HashMap;

use bindery_core::Properties;
use serde_json::Value;

pub trait SecretStore: Send + Sync {
    /// daprd's `GetSecret`: the named secret's key/value pairs.
    fn get_secret(&self, name: &str) -> Result<HashMap<String, String>, String>;
}

/// Names daprd refuses to read from the environment for components.
pub fn is_denied_env_name(name: &str) -> bool {
    name.is_empty()
        || name == "APP_API_TOKEN"
        || name.to_uppercase().starts_with("DAPR_")
        || name.contains(' ')
}

/// The spec types of the secret stores bindery has.
pub fn is_secret_store_type(spec_type: &str) -> bool {
    spec_type.to_lowercase().starts_with("secretstores.")
}

/// Builds a store. Reading `secretsFile` is the only I/O.
pub fn build(spec_type: &str, properties: &Properties) -> Result<Box<dyn SecretStore>, String> {
    match spec_type.to_lowercase().as_str() {
        "secretstores.local.env" => Ok(Box::new(EnvStore {
            prefix: properties.get("prefix").unwrap_or_default().to_owned(),
        })),
        "secretstores.local.file" => {
            let path = properties
                .get("secretsFile")
                .filter(|p| !p.is_empty())
                .ok_or("missing local secrets file in metadata")?;
            let separator = properties
                .get("nestedSeparator")
                .filter(|s| !s.is_empty())
                .unwrap_or(":")
                .to_owned();
            let multi_valued = properties
                .get("multiValued")
                .is_some_and(bindery_core::properties::is_truthy);
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read secretsFile {path:?}: {e}"))?;
            let json: Value = serde_json::from_str(&text)
                .map_err(|e| format!("secretsFile {path:?} is not valid JSON: {e}"))?;
            Ok(Box::new(FileStore::new(&json, &separator, multi_valued)?))
        }
        other => Err(format!(
            "couldn't find secret store {other}: bindery supports secretstores.local.env and secretstores.local.file"
        )),
    }
}

struct EnvStore {
    prefix: String,
}

impl SecretStore for EnvStore {
    fn get_secret(&self, name: &str) -> Result<HashMap<String, String>, String> {
        let full = format!("{}{}", self.prefix, name);
        let value = if is_denied_env_name(&full) {
            tracing::warn!(
                secret = name,
                "Secret name is not allowed from the environment store; it resolves to empty."
            );
            String::new()
        } else {
            std::env::var(&full).unwrap_or_default()
        };
        Ok(HashMap::from([(name.to_owned(), value)]))
    }
}

struct FileStore {
    /// Secret name -> its key/value pairs.
    secrets: HashMap<String, HashMap<String, String>>,
}

impl FileStore {
    fn new(json: &Value, separator: &str, multi_valued: bool) -> Result<Self, String> {
        let root = json
            .as_object()
            .ok_or("secretsFile must hold a JSON object")?;
        let mut secrets = HashMap::new();
        if multi_valued {
            for (name, value) in root {
                let mut pairs = HashMap::new();
                match value {
                    Value::Object(_) | Value::Array(_) => flatten(value, "", separator, &mut pairs),
                    other => {
                        pairs.insert(name.clone(), scalar_text(other));
                    }
                }
                secrets.insert(name.clone(), pairs);
            }
        } else {
            let mut flat = HashMap::new();
            flatten(json, "", separator, &mut flat);
            for (name, value) in flat {
                secrets.insert(name.clone(), HashMap::from([(name, value)]));
            }
        }
        Ok(Self { secrets })
    }
}

impl SecretStore for FileStore {
    fn get_secret(&self, name: &str) -> Result<HashMap<String, String>, String> {
        self.secrets
            .get(name)
            .cloned()
            .ok_or_else(|| format!("secret {name} not found"))
    }
}

fn flatten(value: &Value, prefix: &str, separator: &str, out: &mut HashMap<String, String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}{separator}{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(v, &join(k), separator, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, &join(&i.to_string()), separator, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), scalar_text(other));
        }
    }
}

/// daprd prints non-string values with Go's `%s` (`%!s(float64=5)`); bindery writes the plain
/// text, since nobody can rely on the former.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_flattens_nested_values() {
        let json: Value = serde_json::json!({"db": {"password": "x", "ports": [1, 2]}, "top": "t"});
        let store = FileStore::new(&json, ":", false).unwrap();
        assert_eq!(store.get_secret("db:password").unwrap()["db:password"], "x");
        assert_eq!(store.get_secret("db:ports:1").unwrap()["db:ports:1"], "2");
        assert_eq!(store.get_secret("top").unwrap()["top"], "t");
        assert!(store.get_secret("db").is_err());
    }

    #[test]
    fn multi_valued_file_store_keeps_keys_per_secret() {
        let json: Value = serde_json::json!({"db": {"user": "u", "password": "p"}, "plain": "v"});
        let store = FileStore::new(&json, ":", true).unwrap();
        let db = store.get_secret("db").unwrap();
        assert_eq!((db["user"].as_str(), db["password"].as_str()), ("u", "p"));
        assert_eq!(store.get_secret("plain").unwrap()["plain"], "v");
    }

    #[test]
    fn env_names_are_denied_like_daprd() {
        for name in ["", "APP_API_TOKEN", "DAPR_API_TOKEN", "dapr_x", "A B"] {
            assert!(is_denied_env_name(name), "{name}");
        }
        assert!(!is_denied_env_name("MY_TOKEN"));
    }
}
