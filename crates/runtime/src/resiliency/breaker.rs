//! A circuit breaker with sony/gobreaker's semantics (which daprd uses): closed, open,
//! half-open; the trip rule is evaluated on every failure while closed; after `timeout` open it
//! half-opens and lets `maxRequests` calls through; that many consecutive successes close it,
//! any failure opens it again. Counters reset every `interval` while closed (0 = never).

use std::fmt;
use std::sync::Arc;

use bindery_core::resiliency::{CircuitBreakerPolicy, Counts};
use parking_lot::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    HalfOpen,
    Open,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::HalfOpen => "half-open",
            State::Open => "open",
        })
    }
}

/// Why the breaker refused a call (gobreaker's `ErrOpenState`, `ErrTooManyRequests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("circuit breaker is open")]
    Open,
    #[error("too many requests")]
    TooManyRequests,
}

#[derive(Debug)]
struct Inner {
    state: State,
    generation: u64,
    counts: Counts,
    expiry: Option<Instant>,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    name: String,
    policy: CircuitBreakerPolicy,
    inner: Mutex<Inner>,
}

/// A call the breaker let through. Report its outcome with [`Permit::record`]; dropping it
/// unreported (a cancelled call) counts as a failure, so a half-open slot is never lost.
pub struct Permit {
    breaker: Arc<CircuitBreaker>,
    generation: u64,
    done: bool,
}

impl Permit {
    pub fn record(mut self, success: bool) {
        self.done = true;
        self.breaker.after(self.generation, success, Instant::now());
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.after(self.generation, false, Instant::now());
        }
    }
}

impl CircuitBreaker {
    pub fn new(name: impl Into<String>, policy: CircuitBreakerPolicy) -> Self {
        let expiry = interval_expiry(&policy, Instant::now());
        Self {
            name: name.into(),
            policy,
            inner: Mutex::new(Inner {
                state: State::Closed,
                generation: 0,
                counts: Counts::default(),
                expiry,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> State {
        let mut inner = self.inner.lock();
        self.current_state(&mut inner, Instant::now());
        inner.state
    }

    /// Asks to make a call now.
    pub fn try_acquire(self: &Arc<Self>) -> Result<Permit, Rejected> {
        let generation = self.before(Instant::now())?;
        Ok(Permit {
            breaker: self.clone(),
            generation,
            done: false,
        })
    }

    fn before(&self, now: Instant) -> Result<u64, Rejected> {
        let mut inner = self.inner.lock();
        self.current_state(&mut inner, now);
        match inner.state {
            State::Open => return Err(Rejected::Open),
            State::HalfOpen if inner.counts.requests >= self.policy.max_requests => {
                return Err(Rejected::TooManyRequests);
            }
            _ => {}
        }
        inner.counts.requests = inner.counts.requests.saturating_add(1);
        Ok(inner.generation)
    }

    fn after(&self, generation: u64, success: bool, now: Instant) {
        let mut inner = self.inner.lock();
        self.current_state(&mut inner, now);
        if inner.generation != generation {
            return;
        }
        let c = &mut inner.counts;
        if success {
            c.total_successes = c.total_successes.saturating_add(1);
            c.consecutive_successes = c.consecutive_successes.saturating_add(1);
            c.consecutive_failures = 0;
            if inner.state == State::HalfOpen
                && inner.counts.consecutive_successes >= self.policy.max_requests
            {
                self.set_state(&mut inner, State::Closed, now);
            }
        } else {
            c.total_failures = c.total_failures.saturating_add(1);
            c.consecutive_failures = c.consecutive_failures.saturating_add(1);
            c.consecutive_successes = 0;
            match inner.state {
                State::Closed if self.policy.trip.eval(&inner.counts) => {
                    self.set_state(&mut inner, State::Open, now);
                }
                State::HalfOpen => self.set_state(&mut inner, State::Open, now),
                _ => {}
            }
        }
    }

    fn current_state(&self, inner: &mut Inner, now: Instant) {
        match inner.state {
            State::Closed => {
                if inner.expiry.is_some_and(|e| e <= now) {
                    self.new_generation(inner, now);
                }
            }
            State::Open => {
                if inner.expiry.is_some_and(|e| e <= now) {
                    self.set_state(inner, State::HalfOpen, now);
                }
            }
            State::HalfOpen => {}
        }
    }

    fn set_state(&self, inner: &mut Inner, state: State, now: Instant) {
        if inner.state == state {
            return;
        }
        let from = inner.state;
        inner.state = state;
        self.new_generation(inner, now);
        tracing::info!(breaker = %self.name, from = %from, to = %state,
            "Circuit breaker {:?} changed state from {from} to {state}.", self.name);
    }

    fn new_generation(&self, inner: &mut Inner, now: Instant) {
        inner.generation += 1;
        inner.counts = Counts::default();
        inner.expiry = match inner.state {
            State::Closed => interval_expiry(&self.policy, now),
            State::Open => Some(now + self.policy.timeout),
            State::HalfOpen => None,
        };
    }
}

fn interval_expiry(policy: &CircuitBreakerPolicy, now: Instant) -> Option<Instant> {
    (!policy.interval.is_zero()).then(|| now + policy.interval)
}

/// Only for tests: how long until an open breaker half-opens.
#[cfg(test)]
fn remaining(b: &CircuitBreaker, now: Instant) -> Option<std::time::Duration> {
    b.inner
        .lock()
        .expiry
        .map(|e| e.saturating_duration_since(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::resiliency::TripExpr;
    use std::time::Duration;

    fn breaker(max_requests: u32, interval: u64, trip: &str) -> CircuitBreaker {
        CircuitBreaker::new(
            "cb-test",
            CircuitBreakerPolicy {
                max_requests,
                interval: Duration::from_secs(interval),
                timeout: Duration::from_secs(10),
                trip: TripExpr::parse(trip).unwrap(),
            },
        )
    }

    fn call(b: &CircuitBreaker, now: Instant, success: bool) -> Result<(), Rejected> {
        let generation = b.before(now)?;
        b.after(generation, success, now);
        Ok(())
    }

    fn state_at(b: &CircuitBreaker, now: Instant) -> State {
        let mut inner = b.inner.lock();
        b.current_state(&mut inner, now);
        inner.state
    }

    #[tokio::test]
    async fn trips_open_then_half_opens_then_closes() {
        let b = breaker(2, 0, "consecutiveFailures >= 3");
        let t0 = Instant::now();
        call(&b, t0, false).unwrap();
        call(&b, t0, true).unwrap();
        call(&b, t0, false).unwrap();
        call(&b, t0, false).unwrap();
        assert_eq!(
            state_at(&b, t0),
            State::Closed,
            "a success reset the streak"
        );
        call(&b, t0, false).unwrap();
        assert_eq!(state_at(&b, t0), State::Open);
        assert_eq!(remaining(&b, t0), Some(Duration::from_secs(10)));
        assert_eq!(
            call(&b, t0 + Duration::from_secs(9), true),
            Err(Rejected::Open)
        );
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(state_at(&b, t1), State::HalfOpen);
        // Two probes allowed at once; a third is refused.
        let g1 = b.before(t1).unwrap();
        let g2 = b.before(t1).unwrap();
        assert_eq!(b.before(t1), Err(Rejected::TooManyRequests));
        b.after(g1, true, t1);
        assert_eq!(state_at(&b, t1), State::HalfOpen);
        b.after(g2, true, t1);
        assert_eq!(state_at(&b, t1), State::Closed);
    }

    #[tokio::test]
    async fn a_half_open_failure_reopens() {
        let b = breaker(1, 0, "consecutiveFailures > 0");
        let t0 = Instant::now();
        call(&b, t0, false).unwrap();
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(state_at(&b, t1), State::HalfOpen);
        call(&b, t1, false).unwrap();
        assert_eq!(state_at(&b, t1), State::Open);
        assert_eq!(remaining(&b, t1), Some(Duration::from_secs(10)));
    }

    #[tokio::test]
    async fn counters_reset_every_interval_while_closed() {
        let b = breaker(1, 5, "totalFailures >= 3");
        let t0 = Instant::now();
        call(&b, t0, false).unwrap();
        call(&b, t0, false).unwrap();
        let t1 = t0 + Duration::from_secs(6);
        call(&b, t1, false).unwrap();
        assert_eq!(state_at(&b, t1), State::Closed, "the window reset");
        call(&b, t1, false).unwrap();
        call(&b, t1, false).unwrap();
        assert_eq!(state_at(&b, t1), State::Open);
    }

    #[tokio::test]
    async fn results_of_an_older_generation_are_ignored_and_dropped_permits_fail() {
        let b = Arc::new(breaker(1, 0, "consecutiveFailures > 0"));
        let t0 = Instant::now();
        let stale = b.before(t0).unwrap();
        call(&b, t0, false).unwrap();
        assert_eq!(state_at(&b, t0), State::Open);
        b.after(stale, true, t0);
        assert_eq!(state_at(&b, t0), State::Open);

        let b = Arc::new(breaker(1, 0, "consecutiveFailures > 0"));
        drop(b.try_acquire().unwrap());
        assert_eq!(
            b.state(),
            State::Open,
            "a cancelled call counts as a failure"
        );
    }
}
