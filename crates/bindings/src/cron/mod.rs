//! `bindings.cron`: an input binding that fires an empty event on a cron schedule.
//!
//! Like daprd's component, every tick is delivered on its own task (a slow app sees overlapping
//! deliveries, ticks are never skipped because of it), and the app's verdict is ignored: a
//! failed delivery is not retried here (an inbound resiliency policy in the runtime may).
//!
//! Deviation (bindery-only): `lockStore` names a Dapr lock component (`lock.redis`); then only
//! the replica holding a lease on the schedule fires it, so a schedule fires once across the
//! replicas of an app instead of once per replica as in daprd (see [`lease`]). `lockTTL` sets
//! the lease's length (default 10s; a dead holder is replaced within 4/3 of it).

pub mod lease;
pub mod schedule;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingDescriptor, BindingError, BuildContext, ConfigError, Field, FieldType, InputBinding,
    InputContext, InputEvent, Properties,
};
use bytes::Bytes;
use chrono::Utc;
use tokio_util::task::TaskTracker;

pub use schedule::{Schedule, go_utc_string, next_after};

/// The cron spec.
pub const SCHEDULE: Field = Field::new(
    "schedule",
    FieldType::String,
    "The cron schedule: 5 fields (minute first) or 6 fields (seconds first), Quartz `?`, \
     @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly, `@every <Go duration>`, \
     optionally prefixed by `TZ=<zone> ` or `CRON_TZ=<zone> `",
)
.required()
.example("@every 15m")
.input_only();

/// bindery-only: the lock store component that makes one replica fire the schedule.
pub const LOCK_STORE: Field = Field::new(
    "lockStore",
    FieldType::String,
    "bindery-only: name of a lock store component (lock.redis) in the same resources; only the \
     replica holding the schedule's lease fires it, so the schedule fires once across replicas",
)
.input_only();

/// bindery-only: the lease's length.
pub const LOCK_TTL: Field = Field::new(
    "lockTTL",
    FieldType::Duration,
    "bindery-only, with lockStore: how long the schedule's lease lasts without renewal (renewed \
     every third of it); another replica takes over a dead holder's schedule within 4/3 of it",
)
.default_value("10s")
.input_only();

const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);

pub const FIELDS: &[Field] = &[SCHEDULE, LOCK_STORE, LOCK_TTL];

/// Metadata key naming the scheduler's location. daprd reports its scheduler's location,
/// which is always Go's `time.Local` (printed `Local`), whatever `TZ=` prefix the spec has:
/// the prefix only changes where the schedule itself is evaluated.
pub const TIME_ZONE_KEY: &str = "timeZone";
/// Metadata key carrying the fire time, formatted like Go's `time.Time.String()` in UTC.
pub const READ_TIME_UTC_KEY: &str = "readTimeUTC";
const SCHEDULER_LOCATION: &str = "Local";

/// The decoded component metadata.
#[derive(Debug, Clone)]
pub struct CronConfig {
    /// The spec as written.
    pub spec: String,
    pub schedule: Schedule,
    /// `lockStore`, when the schedule fires once across replicas.
    pub lock_store: Option<String>,
    pub lock_ttl: Duration,
}

impl bindery_core::BindingConfig for CronConfig {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }
}

impl CronConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let spec = p.required_string(&SCHEDULE, "schedule not set")?;
        let schedule = spec.parse::<Schedule>().map_err(|e| {
            ConfigError::new(
                SCHEDULE.name,
                format!("invalid schedule format '{spec}': {e}"),
            )
        })?;
        let lock_store = p
            .string(&LOCK_STORE)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let lock_ttl = p.duration(&LOCK_TTL)?.unwrap_or(DEFAULT_LOCK_TTL);
        if lock_ttl < Duration::from_millis(300) {
            return Err(ConfigError::new(
                LOCK_TTL.name,
                format!("lockTTL must be at least 300ms, got {lock_ttl:?}"),
            ));
        }
        Ok(Self {
            spec,
            schedule,
            lock_store,
            lock_ttl,
        })
    }
}

pub const DESCRIPTOR: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.cron",
    aliases: &[],
    status: "stable",
    summary: "Fires an event with empty data on a cron schedule",
    fields: FIELDS,
    operations: &[] as &[Operation],
    decode: bindery_core::decode_as::<CronConfig>,
    build_input: Some(build_input),
    build_output: None,
};

fn build_input(cx: BuildContext) -> BoxFuture<Result<Box<dyn InputBinding>, BindingError>> {
    Box::pin(async move {
        let config = cx.config::<CronConfig>()?;
        let lock_stores = cx.lock_stores();
        let lease = match &config.lock_store {
            Some(store_name) => {
                let store = lock_stores.get(store_name).ok_or_else(|| {
                    BindingError::invalid(format!(
                        "lockStore {store_name:?} is not a loaded lock store component (loaded: {:?})",
                        lock_stores.names()
                    ))
                })?;
                Some(lease::LeaseConfig {
                    store,
                    store_name: store_name.clone(),
                    resource_id: format!("{}||bindings.cron||{}", cx.app_id, cx.name),
                    owner: format!("{}-{}", cx.app_id, uuid::Uuid::new_v4()),
                    ttl: config.lock_ttl,
                })
            }
            None => None,
        };
        Ok(Box::new(CronBinding {
            name: cx.name,
            config,
            lease,
        }) as Box<dyn InputBinding>)
    })
}

/// A running schedule.
pub struct CronBinding {
    name: String,
    config: CronConfig,
    lease: Option<lease::LeaseConfig>,
}

impl CronBinding {
    pub fn new(name: impl Into<String>, config: CronConfig) -> Self {
        Self {
            name: name.into(),
            config,
            lease: None,
        }
    }
}

#[async_trait]
impl InputBinding for CronBinding {
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let in_flight = TaskTracker::new();
        let lease_stop = cx.shutdown().child_token();
        let lease = self
            .lease
            .clone()
            .map(|config| lease::spawn(config, lease_stop.clone()));
        let mut after = Utc::now();
        loop {
            let Some(next) = self.config.schedule.next_after(after) else {
                tracing::warn!(component = %self.name, schedule = %self.config.spec, "Schedule never fires again.");
                cx.shutdown().cancelled().await;
                break;
            };
            tracing::debug!(component = %self.name, next = %next, "Next run scheduled.");
            let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = cx.shutdown().cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            let fired = Utc::now();
            // Never compute the next run from before this one, even if the timer woke early.
            after = fired.max(next);
            if lease.as_ref().is_some_and(|(lease, _)| !lease.held()) {
                tracing::debug!(component = %self.name, "Tick skipped: another replica holds the schedule's lease.");
                continue;
            }
            let event = InputEvent {
                data: Bytes::new(),
                metadata: HashMap::from([
                    (TIME_ZONE_KEY.to_owned(), SCHEDULER_LOCATION.to_owned()),
                    (READ_TIME_UTC_KEY.to_owned(), go_utc_string(fired)),
                ]),
            };
            let delivery = cx.clone();
            let name = self.name.clone();
            in_flight.spawn(async move {
                // daprd discards the handler's result; log it for operators.
                if let Err(e) = delivery.deliver(event).await {
                    tracing::debug!(component = %name, error = %e, "Cron event not accepted by the app.");
                }
            });
        }
        tracing::debug!(component = %self.name, schedule = %self.config.spec, "Stopping schedule.");
        lease_stop.cancel();
        if let Some((_, task)) = lease {
            let _ = task.await;
        }
        in_flight.close();
        in_flight.wait().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::testing::corpus_components;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn schedule_is_required() {
        let err = CronConfig::from_properties(&props(&[])).unwrap_err();
        assert_eq!(err.field, "schedule");
        assert_eq!(err.message, "schedule not set");
        let err = CronConfig::from_properties(&props(&[("schedule", "")])).unwrap_err();
        assert_eq!(err.message, "schedule not set");
    }

    #[test]
    fn invalid_schedule_names_the_spec() {
        let err = CronConfig::from_properties(&props(&[("schedule", "* * *")])).unwrap_err();
        assert_eq!(
            err.message,
            "invalid schedule format '* * *': expected 5 to 6 fields, found 3: [* * *]"
        );
    }

    #[test]
    fn key_matches_case_insensitively() {
        let c = CronConfig::from_properties(&props(&[("Schedule", "@every 2s")])).unwrap();
        assert_eq!(c.spec, "@every 2s");
        assert!(
            DESCRIPTOR
                .validate(&props(&[("SCHEDULE", "@hourly")]))
                .is_ok()
        );
    }

    #[test]
    fn lock_store_and_ttl_decode() {
        let c = CronConfig::from_properties(&props(&[("schedule", "@every 1s")])).unwrap();
        assert_eq!(c.lock_store, None);
        assert_eq!(c.lock_ttl, Duration::from_secs(10));
        let c = CronConfig::from_properties(&props(&[
            ("schedule", "@every 1s"),
            ("lockStore", " locks "),
            ("lockTTL", "3s"),
        ]))
        .unwrap();
        assert_eq!(c.lock_store.as_deref(), Some("locks"));
        assert_eq!(c.lock_ttl, Duration::from_secs(3));
        let err =
            CronConfig::from_properties(&props(&[("schedule", "@every 1s"), ("lockTTL", "100ms")]))
                .unwrap_err();
        assert_eq!(err.field, "lockTTL");
    }

    #[test]
    fn descriptor_shape() {
        assert!(DESCRIPTOR.has_input() && !DESCRIPTOR.has_output());
        assert!(DESCRIPTOR.matches("bindings.cron"));
        assert!(DESCRIPTOR.example_yaml().contains("@every 15m"));
    }

    #[test]
    fn corpus_components_decode() {
        let files = [
            "config/bindings/cron/bindings.yaml",
            "certification/bindings/cron/components/cron1s.yaml",
            "certification/bindings/cron/components/cron3s.yaml",
            "certification/bindings/cron/components/cron6h.yaml",
            "certification/bindings/cron/components/cron15m.yaml",
            "certification/bindings/cron/components/cronMonthly.yaml",
            "certification/bindings/cron/components_sameroute/cron.yaml",
            "certification/bindings/cron/components_sameroute/cron3s.yaml",
        ];
        let Some(components) = corpus_components(&DESCRIPTOR, &files) else {
            return;
        };
        let mut decoded = 0;
        for c in &components {
            assert_eq!(c.component.spec_type, "bindings.cron");
            CronConfig::from_properties(&c.properties())
                .unwrap_or_else(|e| panic!("{}: {e}", c.relative()));
            decoded += 1;
        }
        assert_eq!(decoded, files.len());
    }
}
