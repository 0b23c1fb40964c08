//! Go-style parsing helpers of the decoder, with daprd's error texts.

use bindery_core::ConfigError;

pub(super) fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(field, message)
}

/// Go's `strconv.ParseBool`.
pub(super) fn go_parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// sarama's `ParseKafkaVersion` shape check.
pub(super) fn valid_kafka_version(value: &str) -> bool {
    if value.len() < 5 {
        return false;
    }
    let parts: Vec<&str> = value.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if value.starts_with('0') {
        parts.len() == 4 && parts[0] == "0" && parts.iter().all(numeric)
    } else {
        parts.len() == 3 && parts.iter().all(numeric)
    }
}

/// Go `strconv.Atoi`-style integer parse with Go's error text.
pub(super) fn go_atoi<T: std::str::FromStr>(value: &str, func: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .map_err(|_| format!("strconv.{func}: parsing {value:?}: invalid syntax"))
}
