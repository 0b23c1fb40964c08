//! The output side: compression, required acks and retries of the producer.

use bindery_core::{ConfigError, ConfigWarning, Properties};

use super::fields::*;
use super::parse::err;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredAcks {
    All,
    Local,
    None,
}

impl RequiredAcks {
    pub fn librdkafka_value(self) -> &'static str {
        match self {
            RequiredAcks::All => "-1",
            RequiredAcks::Local => "1",
            RequiredAcks::None => "0",
        }
    }
}

pub(super) fn compression(p: &Properties) -> Result<Compression, ConfigError> {
    Ok(match p.get(COMPRESSION.name).unwrap_or("") {
        "" | "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => {
            return Err(err(
                COMPRESSION.name,
                format!("kafka error: invalid compression: {other}"),
            ));
        }
    })
}

pub(super) fn required_acks(
    p: &Properties,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<RequiredAcks, ConfigError> {
    let acks_raw = p.get(PRODUCER_REQUIRED_ACKS.name).unwrap_or("all");
    Ok(match acks_raw.to_ascii_lowercase().as_str() {
        "all" | "" => RequiredAcks::All,
        "local" => RequiredAcks::Local,
        "none" => {
            warnings.push(ConfigWarning::new(
                PRODUCER_REQUIRED_ACKS.name,
                "producerRequiredAcks is 'none' (fire-and-forget): messages may be lost \
                 silently if a broker fails to write them",
            ));
            RequiredAcks::None
        }
        _ => {
            return Err(err(
                PRODUCER_REQUIRED_ACKS.name,
                format!(
                    "kafka error: invalid value for 'producerRequiredAcks': {acks_raw:?} \
                     (must be \"all\", \"local\", or \"none\")"
                ),
            ));
        }
    })
}

/// `producerRetryMax` as decoded, which must not be negative.
pub(super) fn retry_max(producer_retry_max: i64) -> Result<u32, ConfigError> {
    if producer_retry_max < 0 {
        return Err(err(
            PRODUCER_RETRY_MAX.name,
            format!(
                "kafka error: invalid value for 'producerRetryMax': {producer_retry_max} \
                 (must be >= 0)"
            ),
        ));
    }
    Ok(u32::try_from(producer_retry_max).unwrap_or(u32::MAX))
}
