//! bindery-only: a lease that makes one replica fire a schedule (`lockStore`).
//!
//! Every replica runs the schedule; a tick is delivered only by the replica holding the lease,
//! a lock (Dapr's `lock.*` component) on `<appID>||bindings.cron||<component name>`. The
//! holder renews it every `lockTTL / 3`; the others try to take it just as often. A holder
//! counts itself the holder only until `lockTTL − lockTTL/10` after it *sent* the last
//! successful renewal, so it stops firing before the lock can expire on the server and
//! another replica take it: two replicas never fire the same tick (clocks running at the same
//! rate assumed, not synchronised). A graceful stop releases the lock.
//!
//! Takeover bound: when the holder dies without releasing, its lock expires at most `lockTTL`
//! after its last renewal, and another replica's next attempt, at most `lockTTL / 3` later,
//! takes it: a takeover within `4/3 × lockTTL` (13.3 s with the default 10 s). Ticks due in
//! that gap are not fired by anyone. While the lock store cannot be reached, nobody fires.

use std::sync::Arc;
use std::time::Duration;

use bindery_core::lock::{LockStore, UnlockStatus};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A replica's view of the lease.
#[derive(Clone)]
pub struct Lease {
    valid_until: watch::Receiver<Option<Instant>>,
}

impl Lease {
    /// Whether this replica holds the lease right now.
    pub fn held(&self) -> bool {
        self.valid_until
            .borrow()
            .is_some_and(|until| Instant::now() < until)
    }
}

/// The lock settings of one schedule.
#[derive(Clone)]
pub struct LeaseConfig {
    pub store: Arc<dyn LockStore>,
    pub store_name: String,
    pub resource_id: String,
    pub owner: String,
    pub ttl: Duration,
}

impl LeaseConfig {
    /// How often the lease is renewed (holder) or tried (others).
    pub fn interval(&self) -> Duration {
        self.ttl / 3
    }

    /// The bound on a takeover after the holder died.
    pub fn takeover_bound(&self) -> Duration {
        self.ttl + self.interval()
    }
}

/// Keeps (or tries to take) the lease until `stop`; then releases it if held.
pub fn spawn(config: LeaseConfig, stop: CancellationToken) -> (Lease, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(run(config, tx, stop));
    (Lease { valid_until: rx }, task)
}

async fn run(config: LeaseConfig, tx: watch::Sender<Option<Instant>>, stop: CancellationToken) {
    let margin = config.ttl / 10;
    let mut holding = false;
    loop {
        let sent = Instant::now();
        let result = if holding {
            config
                .store
                .renew(&config.resource_id, &config.owner, config.ttl)
                .await
        } else {
            config
                .store
                .try_lock(&config.resource_id, &config.owner, config.ttl)
                .await
        };
        match result {
            Ok(true) => {
                if !holding {
                    tracing::info!(lock = %config.resource_id, owner = %config.owner, store = %config.store_name,
                        "This replica holds the schedule's lease; it fires the ticks.");
                }
                holding = true;
                tx.send_replace(Some(sent + config.ttl - margin));
            }
            Ok(false) => {
                if holding {
                    tracing::warn!(lock = %config.resource_id, "The schedule's lease was lost; another replica fires the ticks.");
                }
                holding = false;
                tx.send_replace(None);
            }
            Err(e) => {
                // The lease stays valid locally until it runs out; renewal retries.
                tracing::warn!(lock = %config.resource_id, store = %config.store_name, error = %e,
                    "Cannot reach the lock store for the schedule's lease.");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(config.interval()) => {}
        }
    }
    tx.send_replace(None);
    if holding {
        match config
            .store
            .unlock(&config.resource_id, &config.owner)
            .await
        {
            Ok(UnlockStatus::Success) => {
                tracing::info!(lock = %config.resource_id, "Released the schedule's lease.");
            }
            Ok(status) => {
                tracing::debug!(lock = %config.resource_id, ?status, "The lease was no longer ours.");
            }
            Err(e) => {
                tracing::warn!(lock = %config.resource_id, error = %e, "Cannot release the schedule's lease; it expires by itself.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use bindery_core::BindingError;
    use std::sync::Mutex;

    /// An in-process lock with Dapr's semantics, to test the lease logic alone.
    #[derive(Default)]
    struct MemoryLock {
        held: Mutex<Option<(String, Instant)>>,
    }

    #[async_trait]
    impl LockStore for MemoryLock {
        async fn try_lock(
            &self,
            _: &str,
            owner: &str,
            expiry: Duration,
        ) -> Result<bool, BindingError> {
            let mut held = self.held.lock().unwrap();
            if held
                .as_ref()
                .is_some_and(|(_, until)| Instant::now() < *until)
            {
                return Ok(false);
            }
            *held = Some((owner.to_owned(), Instant::now() + expiry));
            Ok(true)
        }
        async fn renew(
            &self,
            _: &str,
            owner: &str,
            expiry: Duration,
        ) -> Result<bool, BindingError> {
            let mut held = self.held.lock().unwrap();
            match held.as_mut() {
                Some((o, until)) if o == owner && Instant::now() < *until => {
                    *until = Instant::now() + expiry;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
        async fn unlock(&self, _: &str, owner: &str) -> Result<UnlockStatus, BindingError> {
            let mut held = self.held.lock().unwrap();
            match held.as_ref() {
                None => Ok(UnlockStatus::LockDoesNotExist),
                Some((o, _)) if o != owner => Ok(UnlockStatus::LockBelongsToOthers),
                Some(_) => {
                    *held = None;
                    Ok(UnlockStatus::Success)
                }
            }
        }
    }

    fn config(store: &Arc<MemoryLock>, owner: &str) -> LeaseConfig {
        LeaseConfig {
            store: store.clone(),
            store_name: "locks".into(),
            resource_id: "app||bindings.cron||c".into(),
            owner: owner.into(),
            ttl: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn one_holder_and_a_bounded_takeover() {
        let store = Arc::new(MemoryLock::default());
        let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
        let (a, task_a) = spawn(config(&store, "a"), stop_a.clone());
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (b, task_b) = spawn(config(&store, "b"), stop_b.clone());
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(a.held() && !b.held(), "a keeps renewing, b never holds");
        }
        // a dies without releasing: b takes over within the bound.
        task_a.abort();
        let died = Instant::now();
        while !b.held() {
            assert!(
                died.elapsed() < config(&store, "b").takeover_bound() + Duration::from_millis(100)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            died.elapsed() >= Duration::from_millis(150),
            "not before a's lease ran out"
        );
        // A graceful stop releases: a newcomer takes over at its first attempt.
        stop_b.cancel();
        task_b.await.unwrap();
        assert!(store.held.lock().unwrap().is_none(), "released");
        let (c, _task) = spawn(config(&store, "c"), CancellationToken::new());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(c.held());
        drop(stop_a);
    }
}
