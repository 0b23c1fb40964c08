//! The wait between attempts, computed as cenkalti/backoff (which daprd and dapr/kit use) does:
//! a constant interval, or an exponential one with jitter, a cap and an optional time limit.
//! Pure: the caller passes the time elapsed and a uniform random number, so the schedule is
//! testable and this crate stays free of clocks and randomness. Used by the runtime's resiliency
//! retries, Kafka's `backOff*` policy and the bindings' reconnect loops.

use std::time::Duration;

/// cenkalti/backoff's exponential schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponential {
    pub initial: Duration,
    pub multiplier: f64,
    /// The jitter: each wait is drawn uniformly from `current ± randomization × current`.
    pub randomization: f64,
    /// The largest (un-jittered) interval.
    pub max_interval: Duration,
    /// Give up once this much time has passed since the first attempt; zero = never.
    pub max_elapsed: Duration,
}

impl Exponential {
    /// The reconnect schedule of the bindings' connection loops: 100 ms doubling up to `max`,
    /// ±10 % jitter, never giving up.
    pub fn reconnect(max: Duration) -> Self {
        Self {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            randomization: 0.1,
            max_interval: max,
            max_elapsed: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant(Duration),
    Exponential(Exponential),
}

/// One retry loop's state. Build a fresh one per operation, or [`Backoff::reset`] it.
#[derive(Debug, Clone)]
pub struct Backoff {
    schedule: Schedule,
    /// `None` retries forever; `Some(0)` allows no retry.
    max_retries: Option<u64>,
    retries: u64,
    /// The exponential schedule's current (un-jittered) interval.
    current: Duration,
}

impl Backoff {
    pub fn new(schedule: Schedule, max_retries: Option<u64>) -> Self {
        Self {
            schedule,
            max_retries,
            retries: 0,
            current: Self::first_interval(schedule),
        }
    }

    fn first_interval(schedule: Schedule) -> Duration {
        match schedule {
            Schedule::Constant(interval) => interval,
            Schedule::Exponential(e) => e.initial,
        }
    }

    /// Back to the first interval and no retries counted (after a success).
    pub fn reset(&mut self) {
        self.retries = 0;
        self.current = Self::first_interval(self.schedule);
    }

    /// The wait before the next attempt, or `None` when the schedule gives up. `elapsed` is the
    /// time since the first attempt began; `random` is uniform in `[0, 1)`.
    pub fn next_delay(&mut self, elapsed: Duration, random: f64) -> Option<Duration> {
        if self.max_retries.is_some_and(|max| self.retries >= max) {
            return None;
        }
        self.retries += 1;
        match self.schedule {
            Schedule::Constant(interval) => Some(interval),
            Schedule::Exponential(e) => {
                let current = self.current.as_secs_f64();
                let delta = e.randomization * current;
                let low = current - delta;
                let high = current + delta;
                let next = Duration::from_secs_f64((low + random * (high - low)).max(0.0));
                self.current = if current >= e.max_interval.as_secs_f64() / e.multiplier {
                    e.max_interval
                } else {
                    Duration::from_secs_f64(current * e.multiplier)
                };
                if !e.max_elapsed.is_zero() && elapsed + next > e.max_elapsed {
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

    fn exponential() -> Schedule {
        Schedule::Exponential(Exponential {
            initial: Duration::from_millis(500),
            multiplier: 1.5,
            randomization: 0.5,
            max_interval: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(900),
        })
    }

    #[test]
    fn constant_counts_retries() {
        let mut b = Backoff::new(Schedule::Constant(Duration::from_secs(1)), Some(2));
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.9),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.1),
            Some(Duration::from_secs(1))
        );
        assert_eq!(b.next_delay(Duration::ZERO, 0.5), None);
        b.reset();
        assert!(b.next_delay(Duration::ZERO, 0.5).is_some());
    }

    #[test]
    fn exponential_grows_jitters_caps_and_gives_up() {
        let mut b = Backoff::new(exponential(), None);
        let mid: Vec<u128> = (0..6)
            .map(|_| b.next_delay(Duration::ZERO, 0.5).unwrap().as_millis())
            .collect();
        assert_eq!(mid, vec![500, 750, 1125, 1687, 2000, 2000]);
        b.reset();
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(b.next_delay(Duration::from_secs(900), 0.5), None);
    }

    #[test]
    fn reconnect_schedule_stays_within_ten_percent() {
        let mut b = Backoff::new(
            Schedule::Exponential(Exponential::reconnect(Duration::from_secs(1))),
            None,
        );
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.0),
            Some(Duration::from_millis(90))
        );
        let second = b.next_delay(Duration::ZERO, 0.999_999).unwrap();
        assert!(second > Duration::from_millis(219) && second <= Duration::from_millis(220));
        for _ in 0..10 {
            b.next_delay(Duration::from_secs(3600), 0.5).unwrap();
        }
        assert_eq!(
            b.next_delay(Duration::ZERO, 0.5),
            Some(Duration::from_secs(1))
        );
    }
}
