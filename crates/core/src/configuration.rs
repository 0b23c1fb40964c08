//! `kind: Configuration` documents (`--config`): the parts bindery uses.

use serde_json::Value;

use crate::manifest::{Document, LoadError, get_ci, parse_documents};

/// Features on by default in daprd 1.18; a Configuration can switch them off.
pub const DEFAULT_FEATURES: &[&str] = &["HotReload"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Configuration {
    /// `spec.features` as written: (name, enabled).
    pub features: Vec<(String, bool)>,
    /// `spec.tracing.samplingRate` ("1" = every request); `None` when absent.
    pub sampling_rate: Option<f64>,
    /// `spec.tracing.otel.endpointAddress`.
    pub otel_endpoint: Option<String>,
    /// `spec.tracing.otel.isSecure`.
    pub otel_secure: bool,
    /// `spec.tracing.otel.protocol` (`grpc` or `http`).
    pub otel_protocol: Option<String>,
}

impl Configuration {
    /// Parses the first `Configuration` document of a file.
    pub fn parse(file: &str, text: &str) -> Result<Self, LoadError> {
        for doc in parse_documents(file, text) {
            let doc = doc?;
            if doc.is_dapr_kind("Configuration") {
                return Self::from_document(&doc);
            }
        }
        Err(LoadError {
            file: file.to_owned(),
            line: None,
            column: None,
            component: None,
            field: Some("kind".to_owned()),
            message: "no `kind: Configuration` document with apiVersion dapr.io/v1alpha1"
                .to_owned(),
        })
    }

    pub fn from_document(doc: &Document) -> Result<Self, LoadError> {
        let err = |field: &str, message: &str| doc.error(doc.name(), Some(field), message);
        let mut config = Configuration::default();
        let spec = get_ci(&doc.value, "spec");
        if let Some(features) = spec.and_then(|s| get_ci(s, "features")) {
            let items = features
                .as_array()
                .ok_or_else(|| err("spec.features", "expected a list"))?;
            for (i, item) in items.iter().enumerate() {
                let name = get_ci(item, "name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&format!("spec.features[{i}].name"), "expected a string"))?;
                let enabled = match get_ci(item, "enabled") {
                    Some(Value::Bool(b)) => *b,
                    None | Some(Value::Null) => false,
                    Some(_) => {
                        return Err(err(
                            &format!("spec.features[{i}].enabled"),
                            "expected a boolean",
                        ));
                    }
                };
                config.features.push((name.to_owned(), enabled));
            }
        }
        if let Some(tracing) = spec.and_then(|s| get_ci(s, "tracing")) {
            if let Some(rate) = get_ci(tracing, "samplingRate") {
                let rate = match rate {
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    Value::Number(n) => n.as_f64(),
                    _ => None,
                }
                .ok_or_else(|| {
                    err(
                        "spec.tracing.samplingRate",
                        "expected a number such as \"1\" or \"0.5\"",
                    )
                })?;
                config.sampling_rate = Some(rate);
            }
            if let Some(otel) = get_ci(tracing, "otel") {
                config.otel_endpoint = get_ci(otel, "endpointAddress")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                config.otel_secure = matches!(get_ci(otel, "isSecure"), Some(Value::Bool(true)));
                config.otel_protocol = get_ci(otel, "protocol")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        Ok(config)
    }

    /// The features in effect: daprd's defaults unless listed, plus every listed enabled one.
    pub fn enabled_features(&self) -> Vec<String> {
        let mut out: Vec<String> = DEFAULT_FEATURES
            .iter()
            .filter(|f| !self.features.iter().any(|(n, _)| n == *f))
            .map(|f| (*f).to_owned())
            .collect();
        out.extend(
            self.features
                .iter()
                .filter(|(_, on)| *on)
                .map(|(n, _)| n.clone()),
        );
        out
    }

    pub fn is_enabled(&self, feature: &str) -> bool {
        self.enabled_features().iter().any(|f| f == feature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_reload_is_on_unless_switched_off() {
        assert!(Configuration::default().is_enabled("HotReload"));
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: cfg\nspec:\n  features:\n  - name: HotReload\n    enabled: false\n  - name: Other\n    enabled: true\n  tracing:\n    samplingRate: \"0.5\"\n    otel:\n      endpointAddress: localhost:4317\n      isSecure: false\n      protocol: grpc\n";
        let c = Configuration::parse("c.yaml", text).unwrap();
        assert!(!c.is_enabled("HotReload"));
        assert_eq!(c.enabled_features(), vec!["Other"]);
        assert_eq!(c.sampling_rate, Some(0.5));
        assert_eq!(c.otel_endpoint.as_deref(), Some("localhost:4317"));
        assert_eq!(c.otel_protocol.as_deref(), Some("grpc"));
    }

    #[test]
    fn bad_values_are_located() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: cfg\nspec:\n  features:\n  - name: HotReload\n    enabled: \"no\"\n";
        let e = Configuration::parse("c.yaml", text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spec.features[0].enabled"));
        assert!(Configuration::parse("c.yaml", "kind: Other\n").is_err());
    }
}
