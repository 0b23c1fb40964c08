//! The wait between attempts of a resiliency retry: [`bindery_core::backoff`] driven by a
//! [`RetryPolicy`].

use std::time::Duration;

use bindery_core::backoff::{self, Exponential, Schedule};
use bindery_core::resiliency::{BackoffKind, RetryPolicy};

/// One retry loop's schedule. Build a fresh one per operation.
#[derive(Debug, Clone)]
pub struct Backoff(backoff::Backoff);

impl Backoff {
    pub fn new(policy: &RetryPolicy) -> Self {
        let schedule = match policy.backoff {
            BackoffKind::Constant { interval } => Schedule::Constant(interval),
            BackoffKind::Exponential {
                initial,
                multiplier,
                randomization,
                max_interval,
                max_elapsed,
            } => Schedule::Exponential(Exponential {
                initial,
                multiplier,
                randomization,
                max_interval,
                max_elapsed,
            }),
        };
        Self(backoff::Backoff::new(schedule, policy.max_retries))
    }

    /// The wait before the next attempt, or `None` when the policy gives up. `elapsed` is the
    /// time since the first attempt began; `random` is uniform in `[0, 1)`.
    pub fn next_delay(&mut self, elapsed: Duration, random: f64) -> Option<Duration> {
        self.0.next_delay(elapsed, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::resiliency::RetryMatching;

    fn exponential(max_retries: Option<u64>) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::Exponential {
                initial: Duration::from_millis(500),
                multiplier: 1.5,
                randomization: 0.5,
                max_interval: Duration::from_secs(2),
                max_elapsed: Duration::from_secs(900),
            },
            max_retries,
            matching: RetryMatching::default(),
        }
    }

    #[test]
    fn constant_waits_the_same_and_counts_retries() {
        let mut b = Backoff::new(&RetryPolicy {
            backoff: BackoffKind::Constant {
                interval: Duration::from_secs(1),
            },
            max_retries: Some(2),
            matching: RetryMatching::default(),
        });
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.9),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.1),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.5),
            None,
            "maxRetries 2 = 3 attempts"
        );
    }

    #[test]
    fn zero_retries_means_one_attempt() {
        let mut b = Backoff::new(&exponential(Some(0)));
        assert_eq!(b.next_delay(Duration::ZERO, 0.5), None);
    }

    #[test]
    fn exponential_grows_by_the_multiplier_with_jitter_and_caps() {
        let mut b = Backoff::new(&exponential(None));
        let mid: Vec<u128> = (0..6)
            .map(|_| b.next_delay(Duration::ZERO, 0.5).unwrap().as_millis())
            .collect();
        // Centre of the jitter window: 500, 750, 1125, 1687.5, then capped at 2000.
        assert_eq!(mid, vec![500, 750, 1125, 1687, 2000, 2000]);
        let mut b = Backoff::new(&exponential(None));
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.0),
            Some(Duration::from_millis(250))
        );
        let high = b.next_delay(Duration::ZERO, 0.999_999).unwrap();
        assert!(
            high > Duration::from_millis(1124) && high <= Duration::from_millis(1125),
            "{high:?}"
        );
    }

    #[test]
    fn exponential_gives_up_after_the_elapsed_limit() {
        let mut b = Backoff::new(&exponential(None));
        assert!(b.next_delay(Duration::from_secs(899), 0.5).is_some());
        assert_eq!(b.next_delay(Duration::from_secs(900), 0.5), None);
    }
}
