//! The wait between attempts, as cenkalti/backoff (which daprd uses) computes it.

use std::time::Duration;

use bindery_core::resiliency::{BackoffKind, RetryPolicy};

/// One retry loop's schedule. Build a fresh one per operation.
#[derive(Debug, Clone)]
pub struct Backoff {
    kind: BackoffKind,
    max_retries: Option<u64>,
    retries: u64,
    /// The exponential schedule's current (un-jittered) interval.
    current: Duration,
}

impl Backoff {
    pub fn new(policy: &RetryPolicy) -> Self {
        let current = match policy.backoff {
            BackoffKind::Constant { interval } => interval,
            BackoffKind::Exponential { initial, .. } => initial,
        };
        Self {
            kind: policy.backoff,
            max_retries: policy.max_retries,
            retries: 0,
            current,
        }
    }

    /// The wait before the next attempt, or `None` when the policy gives up. `elapsed` is the
    /// time since the first attempt began; `random` is uniform in `[0, 1)`.
    pub fn next_delay(&mut self, elapsed: Duration, random: f64) -> Option<Duration> {
        if self.max_retries.is_some_and(|max| self.retries >= max) {
            return None;
        }
        self.retries += 1;
        match self.kind {
            BackoffKind::Constant { interval } => Some(interval),
            BackoffKind::Exponential {
                multiplier,
                randomization,
                max_interval,
                max_elapsed,
                ..
            } => {
                let current = self.current.as_secs_f64();
                let delta = randomization * current;
                let low = current - delta;
                let high = current + delta;
                let next = Duration::from_secs_f64((low + random * (high - low)).max(0.0));
                self.current = if current >= max_interval.as_secs_f64() / multiplier {
                    max_interval
                } else {
                    Duration::from_secs_f64(current * multiplier)
                };
                if !max_elapsed.is_zero() && elapsed + next > max_elapsed {
                    return None;
                }
                Some(next)
            }
        }
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
