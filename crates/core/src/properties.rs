//! Component metadata as daprd's components see it: a flat string map, decoded with dapr/kit's
//! rules (names matched case-insensitively, aliases used only when the primary name is absent,
//! truthy booleans, Go durations or bare seconds, Kubernetes quantities).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::descriptor::{Field, FieldType};
use crate::duration::parse_duration_or_seconds;
use crate::error::ConfigError;

/// The resolved metadata of one component. `Debug` prints names only: values may be secrets.
#[derive(Clone, Default)]
pub struct Properties {
    values: HashMap<String, String>,
}

impl Properties {
    /// Builds the map, refusing names that collide once lower-cased, as dapr/kit does.
    pub fn new(values: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for key in values.keys() {
            if let Some(previous) = seen.insert(key.to_lowercase(), key) {
                let (a, b) = if previous < key.as_str() {
                    (previous, key.as_str())
                } else {
                    (key.as_str(), previous)
                };
                return Err(ConfigError::new(
                    b,
                    format!("key {b} is duplicate in the metadata (also given as {a})"),
                ));
            }
        }
        Ok(Self { values })
    }

    /// A map already checked by [`Properties::new`] (or a subset of one).
    pub fn from_map(values: HashMap<String, String>) -> Self {
        Self { values }
    }

    /// Test and tooling helper.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    pub fn as_map(&self) -> &HashMap<String, String> {
        &self.values
    }

    /// Exact-case lookup, for the keys daprd's components read with a plain map index.
    pub fn exact(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Case-insensitive lookup.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.exact(name).or_else(|| {
            self.values
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })
    }

    /// The raw text given for `field` (its name, then its aliases), before defaults.
    pub fn raw(&self, field: &Field) -> Option<&str> {
        if field.exact_case {
            return self.exact(field.name);
        }
        self.get(field.name)
            .or_else(|| field.aliases.iter().find_map(|alias| self.get(alias)))
    }

    /// The value, or the field's default. Empty strings count as given for strings.
    pub fn string(&self, field: &Field) -> Option<String> {
        debug_assert!(
            matches!(field.ty, FieldType::String),
            "{} is not a string field",
            field.name
        );
        self.raw(field)
            .map(str::to_owned)
            .or_else(|| field.default.map(str::to_owned))
    }

    /// A string that must be present and non-empty; `message` is daprd's error text.
    pub fn required_string(&self, field: &Field, message: &str) -> Result<String, ConfigError> {
        match self.raw(field) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(ConfigError::new(field.name, message)),
        }
    }

    /// Text for non-string types: empty counts as absent, so the default applies.
    fn typed_raw<'a>(&'a self, field: &'a Field) -> Option<&'a str> {
        match self.raw(field).map(str::trim) {
            Some(v) if !v.is_empty() => Some(v),
            _ => field.default,
        }
    }

    /// dapr/kit's `IsTruthy`: y, yes, true, t, on, 1 are true; anything else is false.
    pub fn bool(&self, field: &Field) -> bool {
        self.typed_raw(field).is_some_and(is_truthy)
    }

    pub fn duration(&self, field: &Field) -> Result<Option<Duration>, ConfigError> {
        self.typed_raw(field)
            .map(|v| parse_duration_or_seconds(v).map_err(|e| ConfigError::new(field.name, e)))
            .transpose()
    }

    pub fn number<T: FromStr>(&self, field: &Field) -> Result<Option<T>, ConfigError> {
        self.typed_raw(field)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| ConfigError::new(field.name, format!("invalid number {v:?}")))
            })
            .transpose()
    }

    /// A Kubernetes resource quantity (`100Mi`, `1k`, `10Ki`), in bytes.
    pub fn bytesize(&self, field: &Field) -> Result<Option<i64>, ConfigError> {
        self.typed_raw(field)
            .map(|v| parse_quantity(v).map_err(|e| ConfigError::new(field.name, e)))
            .transpose()
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.values.keys().collect();
        names.sort();
        f.debug_struct("Properties").field("names", &names).finish()
    }
}

/// dapr/kit `strings.IsTruthy`.
pub fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "y" | "yes" | "true" | "t" | "on" | "1"
    )
}

/// Parses a Kubernetes resource quantity into bytes.
pub fn parse_quantity(input: &str) -> Result<i64, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid quantity {input:?}"))?;
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return Err(format!("invalid quantity suffix in {input:?}")),
    };
    Ok((number * multiplier).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: Field = Field::new("redisPort", FieldType::Number, "port").default_value("6379");
    const URL: Field = Field::new("connectionString", FieldType::String, "dsn").aliases(&["url"]);
    const STRICT: Field = Field::new("errorIfNot2XX", FieldType::Bool, "x")
        .default_value("true")
        .exact_case();

    #[test]
    fn names_match_case_insensitively_and_aliases_apply_only_when_absent() {
        let p = Properties::from_pairs([
            ("REDISPORT", "6380"),
            ("url", "a"),
            ("ConnectionString", "b"),
        ]);
        assert_eq!(p.number::<u16>(&PORT).unwrap(), Some(6380));
        assert_eq!(p.string(&URL).as_deref(), Some("b"));
        let p = Properties::from_pairs([("url", "a")]);
        assert_eq!(p.string(&URL).as_deref(), Some("a"));
    }

    #[test]
    fn defaults_fill_empty_typed_values() {
        let p = Properties::from_pairs([("redisPort", "")]);
        assert_eq!(p.number::<u16>(&PORT).unwrap(), Some(6379));
        let p = Properties::from_pairs([("redisPort", "five")]);
        let err = p.number::<u16>(&PORT).unwrap_err();
        assert_eq!(err.field, "redisPort");
    }

    #[test]
    fn exact_case_fields_ignore_other_spellings() {
        let p = Properties::from_pairs([("errorifnot2xx", "false")]);
        assert!(p.bool(&STRICT), "differently cased key must be ignored");
        let p = Properties::from_pairs([("errorIfNot2XX", "false")]);
        assert!(!p.bool(&STRICT));
    }

    #[test]
    fn truthy_follows_dapr_kit() {
        for v in ["y", "YES", "true", "T", "on", "1", " true "] {
            assert!(is_truthy(v), "{v}");
        }
        for v in ["no", "false", "2", "", "enabled"] {
            assert!(!is_truthy(v), "{v}");
        }
    }

    #[test]
    fn colliding_names_are_refused() {
        let map = HashMap::from([
            ("queueName".to_owned(), "a".to_owned()),
            ("QUEUENAME".to_owned(), "b".to_owned()),
        ]);
        let err = Properties::new(map).unwrap_err();
        assert!(
            err.message.contains("is duplicate in the metadata"),
            "{err}"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100Mi").unwrap(), 100 * 1024 * 1024);
        assert_eq!(parse_quantity("1k").unwrap(), 1000);
        assert_eq!(parse_quantity("10Ki").unwrap(), 10240);
        assert_eq!(parse_quantity("100").unwrap(), 100);
        assert!(parse_quantity("10Q").is_err());
    }

    #[test]
    fn debug_never_prints_values() {
        let p = Properties::from_pairs([("password", "hunter2")]);
        let shown = format!("{p:?}");
        assert!(
            shown.contains("password") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
