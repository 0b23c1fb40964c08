//! Resiliency as reusable layers: a retry loop with backoff and jitter, a per-attempt timeout
//! and a circuit breaker, composed in one place ([`Policy::run`]) and used around every output
//! invocation and every input delivery. The policies come from `kind: Resiliency` documents
//! (decoded in `bindery_core::resiliency`); callers only classify their failures.
//!
//! Composition, outermost first, as daprd's policy runner: retry → circuit breaker → timeout →
//! the call. A timeout counts as a failed attempt (retried, and counted by the breaker); an
//! open breaker ends the retry loop at once.

pub mod backoff;
pub mod breaker;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bindery_core::duration::format_go_duration;
use bindery_core::manifest::{Document, LoadError, get_ci};
use bindery_core::resiliency::{
    PolicyDirection, Resiliency as ResiliencyDocument, ResiliencyConfig, RetryPolicy,
};
use bindery_core::{BindingError, InvokeRequest, InvokeResponse, OutputBinding};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::AppStatus;
use backoff::Backoff;
use breaker::{CircuitBreaker, Rejected};

/// Every policy that applies to this app, and the circuit breakers' state.
#[derive(Debug, Default)]
pub struct Resiliency {
    config: ResiliencyConfig,
    /// One breaker per component name and direction.
    breakers: Mutex<HashMap<(String, PolicyDirection), Arc<CircuitBreaker>>>,
}

/// The policies in force, swapped as a whole when a reload changes a Resiliency resource.
pub type SharedResiliency = Arc<parking_lot::RwLock<Arc<Resiliency>>>;

impl Resiliency {
    pub fn new(config: ResiliencyConfig) -> Self {
        Self {
            config,
            breakers: Mutex::new(HashMap::new()),
        }
    }

    /// Decodes the `kind: Resiliency` documents whose `scopes` include the app (or that have
    /// none), in load order. A document for another app is skipped even if it is invalid.
    pub fn from_documents(documents: &[Document], app_id: &str) -> Result<Self, LoadError> {
        let mut applicable = Vec::new();
        for doc in documents {
            let scoped_out = get_ci(&doc.value, "scopes")
                .and_then(|s| s.as_array())
                .is_some_and(|s| !s.is_empty() && !s.iter().any(|v| v.as_str() == Some(app_id)));
            if scoped_out {
                if doc.is_dapr_kind(bindery_core::resiliency::RESILIENCY_KIND) {
                    tracing::debug!(file = %doc.file, resiliency = doc.name().unwrap_or_default(),
                        "Skipping a Resiliency scoped to other apps.");
                }
                continue;
            }
            if let Some(resiliency) = ResiliencyDocument::from_document(doc)? {
                tracing::info!(file = %doc.file, "Loading Resiliency configuration: {}", resiliency.name);
                applicable.push(resiliency);
            }
        }
        Ok(Self::new(ResiliencyConfig::merge(&applicable)?))
    }

    pub fn config(&self) -> &ResiliencyConfig {
        &self.config
    }

    /// The policy for one binding in one direction (possibly empty: one plain attempt).
    pub fn policy(&self, name: &str, direction: PolicyDirection) -> Policy {
        let resolved = self.config.component_policy(name, direction);
        let breaker = resolved.circuit_breaker.map(|(policy_name, policy)| {
            self.breakers
                .lock()
                .entry((name.to_owned(), direction))
                .or_insert_with(|| {
                    let label =
                        format!("{policy_name}-{name}-{}", direction.as_str().to_lowercase());
                    Arc::new(CircuitBreaker::new(label, policy))
                })
                .clone()
        });
        Policy {
            label: format!(
                "component[{name}] {}",
                match direction {
                    PolicyDirection::Inbound => "input",
                    PolicyDirection::Outbound => "output",
                }
            ),
            timeout: resolved.timeout,
            retry: resolved.retry.map(|(_, r)| r),
            breaker,
        }
    }
}

/// How a caller sees one failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    /// Whether another attempt could help (a component's `ErrorKind`).
    pub retriable: bool,
    /// Whether the failure counts against the circuit breaker.
    pub trips: bool,
    /// The app's status code, for `matching.httpStatusCodes` / `gRPCStatusCodes`.
    pub status: Option<AppStatus>,
}

/// Why a policy-wrapped call failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError<E> {
    /// The call itself failed (the last attempt's error).
    #[error("{0}")]
    Failed(E),
    #[error(transparent)]
    Policy(#[from] ResiliencyError),
}

/// A failure the policy itself produced, in daprd's words.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResiliencyError {
    #[error("context deadline exceeded (resiliency timeout {})", format_go_duration(*.0))]
    TimedOut(Duration),
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

/// The policies for one call path, ready to run.
#[derive(Debug, Clone)]
pub struct Policy {
    label: String,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    breaker: Option<Arc<CircuitBreaker>>,
}

impl Policy {
    pub fn has_retry(&self) -> bool {
        self.retry.is_some()
    }

    /// Uses `retry` when no Resiliency retry policy applies.
    pub fn or_retry(mut self, retry: RetryPolicy) -> Self {
        if self.retry.is_none() {
            self.retry = Some(retry);
        }
        self
    }

    /// Runs `op` under the timeout, breaker and retry policies. `stop` ends a retry loop
    /// early (the last error is returned); an attempt in progress always finishes.
    pub async fn run<T, E, F, Fut>(
        &self,
        stop: Option<&CancellationToken>,
        classify: impl Fn(&E) -> Failure,
        mut op: F,
    ) -> Result<T, PolicyError<E>>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let start = Instant::now();
        let mut backoff = self.retry.as_ref().map(Backoff::new);
        let mut retried = false;
        loop {
            let error = match self.attempt(&classify, &mut op).await {
                Ok(value) => {
                    if retried {
                        tracing::info!("Recovered processing operation {}.", self.label);
                    }
                    return Ok(value);
                }
                Err(error) => error,
            };
            let retriable = match &error {
                PolicyError::Failed(e) => {
                    let failure = classify(e);
                    failure.retriable && self.status_matches(failure.status)
                }
                PolicyError::Policy(ResiliencyError::TimedOut(_)) => true,
                PolicyError::Policy(ResiliencyError::Rejected(_)) => false,
            };
            let delay = match backoff.as_mut() {
                Some(b) if retriable => b.next_delay(start.elapsed(), rand::random::<f64>()),
                _ => None,
            };
            let Some(delay) = delay else {
                return Err(error);
            };
            if !retried {
                tracing::info!("Error processing operation {}. Retrying…", self.label);
                retried = true;
            }
            tracing::debug!(error = %error, delay = ?delay, "Error for operation {} was: {error}", self.label);
            match stop {
                Some(stop) => tokio::select! {
                    _ = stop.cancelled() => return Err(error),
                    _ = tokio::time::sleep(delay) => {}
                },
                None => tokio::time::sleep(delay).await,
            }
        }
    }

    fn status_matches(&self, status: Option<AppStatus>) -> bool {
        let Some(retry) = &self.retry else {
            return true;
        };
        match status {
            Some(AppStatus::Http(code)) => retry.matching.retries_http(code),
            Some(AppStatus::Grpc(code)) => retry.matching.retries_grpc(code),
            None => true,
        }
    }

    async fn attempt<T, E, F, Fut>(
        &self,
        classify: &impl Fn(&E) -> Failure,
        op: &mut F,
    ) -> Result<T, PolicyError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = match &self.breaker {
            Some(breaker) => Some(breaker.try_acquire().map_err(ResiliencyError::from)?),
            None => None,
        };
        let result = match self.timeout {
            Some(timeout) => match tokio::time::timeout(timeout, op()).await {
                Ok(result) => result.map_err(PolicyError::Failed),
                Err(_) => Err(ResiliencyError::TimedOut(timeout).into()),
            },
            None => op().await.map_err(PolicyError::Failed),
        };
        if let Some(permit) = permit {
            let success = match &result {
                Ok(_) => true,
                Err(PolicyError::Failed(e)) => !classify(e).trips,
                Err(PolicyError::Policy(_)) => false,
            };
            permit.record(success);
        }
        result
    }
}

/// How output bindings' errors are classified: the component's `ErrorKind` decides whether a
/// retry may help; only retriable errors count against the breaker (a rejected request shows
/// the system is answering).
pub fn classify_binding_error(error: &BindingError) -> Failure {
    let retriable = error.kind().is_retriable();
    Failure {
        retriable,
        trips: retriable,
        status: None,
    }
}

/// One output invocation under its outbound policy. Policy failures become component errors
/// (the API answers them with `ERR_INVOKE_OUTPUT_BINDING`, as daprd does).
pub async fn invoke_output(
    policy: &Policy,
    binding: &dyn OutputBinding,
    request: InvokeRequest,
    on_retry: impl Fn(),
) -> Result<Option<InvokeResponse>, BindingError> {
    let mut attempts = 0u32;
    policy
        .run(None, classify_binding_error, || {
            attempts += 1;
            if attempts > 1 {
                on_retry();
            }
            binding.invoke(request.clone())
        })
        .await
        .map_err(|e| match e {
            PolicyError::Failed(e) => e,
            PolicyError::Policy(p) => BindingError::unavailable(p.to_string()).with_source(p),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::resiliency::{
        BackoffKind, CircuitBreakerPolicy, RetryMatching, TripExpr, parse_code_ranges,
    };
    use std::sync::atomic::{AtomicU32, Ordering};

    fn retry(max: u64) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::Constant {
                interval: Duration::from_millis(10),
            },
            max_retries: Some(max),
            matching: RetryMatching::default(),
        }
    }

    fn policy(retry: Option<RetryPolicy>, timeout: Option<Duration>) -> Policy {
        Policy {
            label: "component[t] output".into(),
            timeout,
            retry,
            breaker: None,
        }
    }

    fn always(retriable: bool) -> impl Fn(&BindingError) -> Failure {
        move |_| Failure {
            retriable,
            trips: true,
            status: None,
        }
    }

    #[tokio::test]
    async fn retries_until_success_and_stops_on_permanent_errors() {
        let calls = AtomicU32::new(0);
        let p = policy(Some(retry(5)), None);
        let out = p
            .run(None, classify_binding_error, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(BindingError::unavailable("503"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let out: Result<(), _> = p
            .run(None, classify_binding_error, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(BindingError::invalid("404"))
            })
            .await;
        assert_eq!(out.unwrap_err().to_string(), "404");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "InvalidRequest is never retried"
        );
    }

    #[tokio::test]
    async fn gives_up_after_max_retries_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = policy(Some(retry(2)), None)
            .run(None, always(true), || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                Err(BindingError::unavailable(format!("fail {n}")))
            })
            .await;
        assert_eq!(out.unwrap_err().to_string(), "fail 2");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn timeouts_are_per_attempt_and_retried() {
        let calls = AtomicU32::new(0);
        let out: Result<(), PolicyError<BindingError>> =
            policy(Some(retry(1)), Some(Duration::from_millis(20)))
                .run(None, always(true), || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(())
                })
                .await;
        let err = out.unwrap_err();
        assert!(matches!(
            err,
            PolicyError::Policy(ResiliencyError::TimedOut(_))
        ));
        assert_eq!(
            err.to_string(),
            "context deadline exceeded (resiliency timeout 20ms)"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn status_matching_limits_retries() {
        let mut r = retry(5);
        r.matching.http_status_codes = Some(parse_code_ranges("500-599", 100, 599).unwrap());
        let p = policy(Some(r), None);
        for (status, expected_calls) in [(503, 6), (404, 1)] {
            let calls = AtomicU32::new(0);
            let _ = p
                .run(
                    None,
                    |_: &BindingError| Failure {
                        retriable: true,
                        trips: true,
                        status: Some(AppStatus::Http(status)),
                    },
                    || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err::<(), _>(BindingError::other("app"))
                    },
                )
                .await;
            assert_eq!(
                calls.load(Ordering::SeqCst),
                expected_calls,
                "status {status}"
            );
        }
    }

    #[tokio::test]
    async fn an_open_breaker_fails_fast_and_ends_the_retry_loop() {
        let breaker = Arc::new(CircuitBreaker::new(
            "cb",
            CircuitBreakerPolicy {
                max_requests: 1,
                interval: Duration::ZERO,
                timeout: Duration::from_secs(60),
                trip: TripExpr::parse("consecutiveFailures >= 2").unwrap(),
            },
        ));
        let mut p = policy(Some(retry(10)), None);
        p.breaker = Some(breaker.clone());
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = p
            .run(None, always(true), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(BindingError::unavailable("down"))
            })
            .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "tripped after two failures"
        );
        assert_eq!(out.unwrap_err().to_string(), "circuit breaker is open");
        assert_eq!(breaker.state(), breaker::State::Open);
    }

    #[tokio::test]
    async fn stop_ends_the_wait_between_attempts() {
        let stop = CancellationToken::new();
        let mut r = retry(100);
        r.backoff = BackoffKind::Constant {
            interval: Duration::from_secs(60),
        };
        let p = policy(Some(r), None);
        let calls = AtomicU32::new(0);
        let canceller = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            canceller.cancel();
        });
        let out: Result<(), _> = tokio::time::timeout(
            Duration::from_secs(5),
            p.run(Some(&stop), always(true), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(BindingError::unavailable("down"))
            }),
        )
        .await
        .expect("stop ends the loop");
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn breakers_are_kept_per_component_and_direction() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\nspec:\n  policies:\n    circuitBreakers:\n      DefaultCircuitBreakerPolicy: {}\n";
        let docs: Vec<Document> = bindery_core::manifest::parse_documents("r.yaml", text)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let r = Resiliency::from_documents(&docs, "app").unwrap();
        let a = r.policy("a", PolicyDirection::Outbound).breaker.unwrap();
        let again = r.policy("a", PolicyDirection::Outbound).breaker.unwrap();
        let inbound = r.policy("a", PolicyDirection::Inbound).breaker.unwrap();
        let b = r.policy("b", PolicyDirection::Outbound).breaker.unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &inbound));
        assert!(!Arc::ptr_eq(&a, &b));
        let scoped = text
            .replace("spec:", "scopes: [other]\nspec:")
            .replace("{}", "{trip: nonsense}");
        let docs: Vec<Document> = bindery_core::manifest::parse_documents("r.yaml", &scoped)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let r =
            Resiliency::from_documents(&docs, "app").expect("other apps' documents are skipped");
        assert!(r.policy("a", PolicyDirection::Outbound).breaker.is_none());
    }
}
