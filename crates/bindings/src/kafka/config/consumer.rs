//! The input side: consumer group, where to start, fetch sizes, the rebalance strategy and
//! what to do with an event the app failed (the `backOff*` retry policy).

use std::time::{Duration, Instant};

use bindery_core::backoff::{self, Exponential, Schedule};
use bindery_core::duration::parse_go_duration;
use bindery_core::{ConfigError, Field, Properties};

use super::fields::*;
use super::parse::{err, go_atoi};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialOffset {
    Newest,
    Oldest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceStrategy {
    Range,
    RoundRobin,
    Sticky,
}

impl RebalanceStrategy {
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            RebalanceStrategy::Range => "range",
            RebalanceStrategy::RoundRobin => "roundrobin",
            RebalanceStrategy::Sticky => "cooperative-sticky",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAppFailure {
    /// daprd's binding default: log and move on.
    Skip,
    /// daprd's `consumeRetryEnabled: true`: retry with the backOff policy.
    Retry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackOffPolicy {
    Constant,
    Exponential,
}

/// dapr/kit `retry.Config`, read from the `backOff*` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct BackOffConfig {
    pub policy: BackOffPolicy,
    pub duration: Duration,
    pub initial_interval: Duration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    pub max_interval: Duration,
    pub max_elapsed_time: Duration,
    /// `-1` (any negative) retries forever.
    pub max_retries: i64,
}

impl Default for BackOffConfig {
    fn default() -> Self {
        Self {
            policy: BackOffPolicy::Constant,
            duration: Duration::from_secs(5),
            initial_interval: Duration::from_millis(500),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(60),
            max_elapsed_time: Duration::from_secs(15 * 60),
            max_retries: -1,
        }
    }
}

impl BackOffConfig {
    pub fn start(&self) -> BackOff {
        BackOff {
            inner: backoff::Backoff::new(self.schedule(), u64::try_from(self.max_retries).ok()),
            started: Instant::now(),
        }
    }

    /// dapr/kit's clamps: a randomization factor within `[0, 1]`, a multiplier of at least 1.
    fn schedule(&self) -> Schedule {
        match self.policy {
            BackOffPolicy::Constant => Schedule::Constant(self.duration),
            BackOffPolicy::Exponential => Schedule::Exponential(Exponential {
                initial: self.initial_interval,
                multiplier: self.multiplier.max(1.0),
                randomization: self.randomization_factor.clamp(0.0, 1.0),
                max_interval: self.max_interval,
                max_elapsed: self.max_elapsed_time,
            }),
        }
    }
}

/// One retry sequence (cenkalti/backoff semantics, as dapr/kit builds it).
#[derive(Debug)]
pub struct BackOff {
    inner: backoff::Backoff,
    started: Instant,
}

impl BackOff {
    /// The delay before the next attempt, or `None` when the policy gives up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.inner
            .next_delay(self.started.elapsed(), rand::random::<f64>())
    }
}

pub(super) fn consumer_group(p: &Properties) -> String {
    match p.get(CONSUMER_GROUP.name) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => p.get(CONSUMER_ID.name).unwrap_or("").to_owned(),
    }
}

pub(super) fn topics(p: &Properties) -> Vec<String> {
    p.exact(TOPICS.name)
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

pub(super) fn initial_offset(p: &Properties) -> Result<InitialOffset, ConfigError> {
    Ok(match p.exact(INITIAL_OFFSET.name).unwrap_or("") {
        "" => InitialOffset::Newest,
        v if v.eq_ignore_ascii_case("oldest") => InitialOffset::Oldest,
        v if v.eq_ignore_ascii_case("newest") => InitialOffset::Newest,
        v => {
            return Err(err(
                INITIAL_OFFSET.name,
                format!("kafka error: invalid initialOffset: {v}"),
            ));
        }
    })
}

/// A bare number under the exact key means milliseconds here (daprd re-parses it); `decoded`
/// is the value read the usual way.
pub(super) fn consume_retry_interval(
    p: &Properties,
    decoded: Duration,
) -> Result<Duration, ConfigError> {
    let Some(v) = p
        .exact(CONSUME_RETRY_INTERVAL.name)
        .filter(|v| !v.is_empty() && v.parse::<i64>().is_ok())
    else {
        return Ok(decoded);
    };
    let ms = v.parse::<u32>().map_err(|_| {
        err(
            CONSUME_RETRY_INTERVAL.name,
            format!(
                "kafka error: invalid value for 'consumeRetryInterval' attribute: \
                 strconv.ParseUint: parsing {v:?}: invalid syntax"
            ),
        )
    })?;
    Ok(Duration::from_millis(u64::from(ms)))
}

/// `(consumerFetchMin, consumerFetchDefault)`, exact-case keys parsed like Go's `ParseInt`.
pub(super) fn fetch_sizes(p: &Properties) -> Result<(i32, i32), ConfigError> {
    let mut consumer_fetch_default = 1024 * 1024;
    if let Some(v) = p
        .exact(CONSUMER_FETCH_DEFAULT.name)
        .filter(|v| !v.is_empty())
    {
        consumer_fetch_default =
            go_atoi::<i32>(v, "ParseInt").map_err(|e| err(CONSUMER_FETCH_DEFAULT.name, e))?;
    }
    let mut consumer_fetch_min = 1;
    if let Some(v) = p.exact(CONSUMER_FETCH_MIN.name).filter(|v| !v.is_empty()) {
        consumer_fetch_min =
            go_atoi::<i32>(v, "ParseInt").map_err(|e| err(CONSUMER_FETCH_MIN.name, e))?;
    }
    Ok((consumer_fetch_min, consumer_fetch_default))
}

/// The strategy, and the value given when it was not one daprd knows (daprd warns and uses
/// range).
pub(super) fn rebalance_strategy(p: &Properties) -> (RebalanceStrategy, Option<String>) {
    let strategy_raw = p.get(REBALANCE_STRATEGY.name);
    match strategy_raw.map(str::to_ascii_lowercase).as_deref() {
        None | Some("range") => (RebalanceStrategy::Range, None),
        Some("sticky") => (RebalanceStrategy::Sticky, None),
        Some("roundrobin") => (RebalanceStrategy::RoundRobin, None),
        Some(_) => (RebalanceStrategy::Range, strategy_raw.map(str::to_owned)),
    }
}

pub(super) fn on_app_failure(
    p: &Properties,
    consume_retry_enabled: bool,
) -> Result<OnAppFailure, ConfigError> {
    Ok(match p.get(ON_APP_FAILURE.name).filter(|v| !v.is_empty()) {
        None if consume_retry_enabled => OnAppFailure::Retry,
        None => OnAppFailure::Skip,
        Some(v) if v.eq_ignore_ascii_case("skip") => OnAppFailure::Skip,
        Some(v) if v.eq_ignore_ascii_case("retry") => OnAppFailure::Retry,
        Some(v) => {
            return Err(err(
                ON_APP_FAILURE.name,
                format!(
                    "kafka error: invalid value for 'onAppFailure': {v:?} (must be \"skip\" or \"retry\")"
                ),
            ));
        }
    })
}

/// Reads one `backOff*` key: the prefix is matched exactly, the rest case-insensitively (dapr/kit
/// `config.PrefixedBy` then mapstructure).
fn backoff_raw<'a>(p: &'a Properties, suffix: &str) -> Option<&'a str> {
    p.as_map().iter().find_map(|(k, v)| {
        let rest = k.strip_prefix("backOff")?;
        rest.eq_ignore_ascii_case(suffix).then_some(v.as_str())
    })
}

/// dapr/kit config durations: a bare integer is milliseconds, else a Go duration.
fn kit_config_duration(field: &Field, value: &str) -> Result<Duration, ConfigError> {
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    parse_go_duration(value).map_err(|_| err(field.name, format!("invalid duration {value:?}")))
}

pub(super) fn decode_backoff(p: &Properties) -> Result<BackOffConfig, ConfigError> {
    let mut c = BackOffConfig::default();
    if let Some(v) = backoff_raw(p, "policy") {
        c.policy = match v.to_ascii_lowercase().as_str() {
            "constant" => BackOffPolicy::Constant,
            "exponential" => BackOffPolicy::Exponential,
            _ => {
                return Err(err(
                    BACKOFF_POLICY.name,
                    format!("invalid PolicyType {v:?}: unexpected back off policy type: {v}"),
                ));
            }
        };
    }
    let duration =
        |field: &Field, suffix: &str, target: &mut Duration| -> Result<(), ConfigError> {
            if let Some(v) = backoff_raw(p, suffix) {
                *target = kit_config_duration(field, v)?;
            }
            Ok(())
        };
    duration(&BACKOFF_DURATION, "duration", &mut c.duration)?;
    duration(
        &BACKOFF_INITIAL_INTERVAL,
        "initialInterval",
        &mut c.initial_interval,
    )?;
    duration(&BACKOFF_MAX_INTERVAL, "maxInterval", &mut c.max_interval)?;
    duration(
        &BACKOFF_MAX_ELAPSED_TIME,
        "maxElapsedTime",
        &mut c.max_elapsed_time,
    )?;
    let float = |field: &Field, suffix: &str, target: &mut f64| -> Result<(), ConfigError> {
        if let Some(v) = backoff_raw(p, suffix) {
            *target = v
                .parse::<f32>()
                .map_err(|_| err(field.name, format!("invalid float32 {v:?}")))?
                as f64;
        }
        Ok(())
    };
    float(&BACKOFF_MULTIPLIER, "multiplier", &mut c.multiplier)?;
    float(
        &BACKOFF_RANDOMIZATION_FACTOR,
        "randomizationFactor",
        &mut c.randomization_factor,
    )?;
    if let Some(v) = backoff_raw(p, "maxRetries") {
        c.max_retries = v
            .parse::<i64>()
            .map_err(|_| err(BACKOFF_MAX_RETRIES.name, format!("invalid int64 {v:?}")))?;
    }
    Ok(c)
}
