//! `kind: Resiliency` documents, decoded the way daprd reads them (`pkg/resiliency`), plus the
//! bindery-only delivery options every input binding accepts. Pure: the runtime turns these
//! typed policies into running retry loops, timeouts and circuit breakers.
//!
//! What daprd does and we copy:
//! - keys match case-insensitively (Go's `encoding/json`); policy and component names do not;
//! - retries default to `constant`, `duration` 5s, `maxInterval` 60s, `maxRetries` -1 (forever);
//!   exponential backoff starts at 500ms, grows ×1.5 with ±50% jitter, and gives up after 15
//!   minutes in total (cenkalti/backoff's `MaxElapsedTime`, which Resiliency cannot change);
//! - a bare integer duration means milliseconds (dapr/kit's decoder);
//! - circuit breakers default to `maxRequests` 1, `interval` 0 (never reset while closed),
//!   `timeout` 60s and the trip rule `consecutiveFailures > 5` (gobreaker's defaults);
//! - a component named under `targets.components` gets only the policies named there (no
//!   defaults, in either direction); any other component gets the reserved default policies,
//!   most specific name first.
//!
//! Where we are stricter: a target naming a policy that does not exist, an invalid status-code
//! range or a trip expression outside the supported subset is a load error naming the file and
//! field (daprd logs and drops the whole document, or ignores the reference).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::error::ConfigError;
use crate::field::{Field, FieldType};
use crate::manifest::{Document, LoadError, get_ci};
use crate::properties::Properties;

pub const RESILIENCY_KIND: &str = "Resiliency";

/// The `<Kind>` daprd uses for bindings in default policy names.
const COMPONENT_KIND: &str = "Binding";

pub const DEFAULT_RETRY_DURATION: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_INITIAL_INTERVAL: Duration = Duration::from_millis(500);
pub const DEFAULT_MULTIPLIER: f64 = 1.5;
pub const DEFAULT_RANDOMIZATION: f64 = 0.5;
pub const DEFAULT_MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_BREAKER_TIMEOUT: Duration = Duration::from_secs(60);

/// Which way a call goes, from bindery's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyDirection {
    /// bindery → app (input binding delivery).
    Inbound,
    /// app → bindery → external system (output binding invocation).
    Outbound,
}

impl PolicyDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyDirection::Inbound => "Inbound",
            PolicyDirection::Outbound => "Outbound",
        }
    }
}

/// How the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BackoffKind {
    Constant {
        interval: Duration,
    },
    /// cenkalti/backoff's exponential backoff with dapr/kit's settings.
    Exponential {
        initial: Duration,
        multiplier: f64,
        randomization: f64,
        max_interval: Duration,
        /// Stop once this much time has passed since the first attempt; zero = never.
        max_elapsed: Duration,
    },
}

/// An inclusive range of status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRange {
    pub start: u16,
    pub end: u16,
}

/// `matching`: which failures a retry policy retries. An absent list retries every failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryMatching {
    pub http_status_codes: Option<Vec<CodeRange>>,
    pub grpc_status_codes: Option<Vec<CodeRange>>,
}

impl RetryMatching {
    pub fn retries_http(&self, status: u16) -> bool {
        matches_codes(self.http_status_codes.as_deref(), status)
    }
    pub fn retries_grpc(&self, code: u16) -> bool {
        matches_codes(self.grpc_status_codes.as_deref(), code)
    }
}

fn matches_codes(ranges: Option<&[CodeRange]>, code: u16) -> bool {
    ranges.is_none_or(|ranges| ranges.iter().any(|r| r.start <= code && code <= r.end))
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub backoff: BackoffKind,
    /// `None` = retry forever (daprd's `-1`); `Some(0)` = one attempt only.
    pub max_retries: Option<u64>,
    pub matching: RetryMatching,
}

impl RetryPolicy {
    /// A policy of `attempts` attempts in total, with exponential backoff (bindery's
    /// `deliveryAttempts`).
    pub fn attempts(attempts: u32) -> Self {
        Self {
            backoff: BackoffKind::Exponential {
                initial: DEFAULT_INITIAL_INTERVAL,
                multiplier: DEFAULT_MULTIPLIER,
                randomization: DEFAULT_RANDOMIZATION,
                max_interval: Duration::from_secs(10),
                max_elapsed: Duration::ZERO,
            },
            max_retries: Some(u64::from(attempts.saturating_sub(1))),
            matching: RetryMatching::default(),
        }
    }
}

/// The counters a trip expression reads (gobreaker's `Counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u32,
    pub total_successes: u32,
    pub total_failures: u32,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerPolicy {
    /// Requests let through while half-open (at least 1).
    pub max_requests: u32,
    /// Period after which the closed state's counters reset; zero = never.
    pub interval: Duration,
    /// How long the breaker stays open before it half-opens.
    pub timeout: Duration,
    pub trip: TripExpr,
}

/// The policy names a target uses in one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyNames {
    pub timeout: Option<String>,
    pub retry: Option<String>,
    pub circuit_breaker: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentTargets {
    pub inbound: PolicyNames,
    pub outbound: PolicyNames,
}

/// One `kind: Resiliency` document.
#[derive(Debug, Clone, PartialEq)]
pub struct Resiliency {
    pub name: String,
    pub scopes: Vec<String>,
    pub file: String,
    pub line: u32,
    pub timeouts: BTreeMap<String, Duration>,
    pub retries: BTreeMap<String, RetryPolicy>,
    pub circuit_breakers: BTreeMap<String, CircuitBreakerPolicy>,
    pub components: BTreeMap<String, ComponentTargets>,
}

impl Resiliency {
    /// Decodes a document. `Ok(None)` for documents of other kinds.
    pub fn from_document(doc: &Document) -> Result<Option<Self>, LoadError> {
        if !doc.is_dapr_kind(RESILIENCY_KIND) {
            return Ok(None);
        }
        let name = doc.name().unwrap_or_default().to_owned();
        let err = |field: &str, message: String| {
            doc.error(None, Some(field), format!("Resiliency {name:?}: {message}"))
        };
        let scopes = match get_ci(&doc.value, "scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| err("scopes", "expected a list of strings".to_owned()))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err("scopes", "expected a list of strings".to_owned())),
        };
        let spec = get_ci(&doc.value, "spec");
        let policies = spec.and_then(|s| get_ci(s, "policies"));
        let mut out = Resiliency {
            name: name.clone(),
            scopes,
            file: doc.file.clone(),
            line: doc.line,
            timeouts: BTreeMap::new(),
            retries: BTreeMap::new(),
            circuit_breakers: BTreeMap::new(),
            components: BTreeMap::new(),
        };

        for (key, value) in entries(policies.and_then(|p| get_ci(p, "timeouts")))
            .map_err(|e| err("spec.policies.timeouts", e))?
        {
            let field = format!("spec.policies.timeouts.{key}");
            let timeout = policy_duration(value).map_err(|e| err(&field, e))?;
            out.timeouts
                .insert(key.clone(), timeout.unwrap_or_default());
        }
        for (key, value) in entries(policies.and_then(|p| get_ci(p, "retries")))
            .map_err(|e| err("spec.policies.retries", e))?
        {
            let field = format!("spec.policies.retries.{key}");
            let retry = retry_policy(value).map_err(|(f, e)| err(&join(&field, f), e))?;
            out.retries.insert(key.clone(), retry);
        }
        for (key, value) in entries(policies.and_then(|p| get_ci(p, "circuitBreakers")))
            .map_err(|e| err("spec.policies.circuitBreakers", e))?
        {
            let field = format!("spec.policies.circuitBreakers.{key}");
            let breaker = circuit_breaker(value).map_err(|(f, e)| err(&join(&field, f), e))?;
            out.circuit_breakers.insert(key.clone(), breaker);
        }
        let targets = spec.and_then(|s| get_ci(s, "targets"));
        for (key, value) in entries(targets.and_then(|t| get_ci(t, "components")))
            .map_err(|e| err("spec.targets.components", e))?
        {
            let field = format!("spec.targets.components.{key}");
            if !value.is_object() && !value.is_null() {
                return Err(err(&field, "expected {inbound, outbound}".to_owned()));
            }
            let mut target = ComponentTargets::default();
            for (direction, slot) in [
                ("inbound", &mut target.inbound),
                ("outbound", &mut target.outbound),
            ] {
                *slot = policy_names(get_ci(value, direction))
                    .map_err(|(f, e)| err(&join(&format!("{field}.{direction}"), f), e))?;
            }
            out.components.insert(key.clone(), target);
        }
        Ok(Some(out))
    }

    /// daprd's scope filter: no scopes, or the app id among them.
    pub fn applies_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }

    fn error(&self, field: &str, message: String) -> LoadError {
        LoadError {
            file: self.file.clone(),
            line: Some(self.line),
            column: None,
            component: None,
            field: Some(field.to_owned()),
            message: format!("Resiliency {:?}: {message}", self.name),
        }
    }
}

fn join(prefix: &str, field: &str) -> String {
    if field.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

fn entries(value: Option<&Value>) -> Result<Vec<(&String, &Value)>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map.iter().collect()),
        Some(other) => Err(format!("expected a map of named policies, got {other}")),
    }
}

/// A duration as dapr/kit reads one: a bare integer is milliseconds, else a Go duration.
fn policy_duration(value: &Value) -> Result<Option<Duration>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| format!("invalid duration {n}")),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            if let Ok(ms) = s.trim().parse::<u64>() {
                return Ok(Some(Duration::from_millis(ms)));
            }
            parse_go_duration(s)
                .map(Some)
                .map_err(|_| format!("invalid duration {s:?}"))
        }
        other => Err(format!("expected a duration string, got {other}")),
    }
}

fn integer(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("expected an integer, got {n}")),
        other => Err(format!("expected an integer, got {other}")),
    }
}

fn string(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("expected a string, got {other}")),
    }
}

type FieldResult<T> = Result<T, (&'static str, String)>;

fn retry_policy(value: &Value) -> FieldResult<RetryPolicy> {
    if !value.is_object() {
        return Err(("", format!("expected a retry policy map, got {value}")));
    }
    let field = |name: &'static str| get_ci(value, name).unwrap_or(&Value::Null);
    let exponential = match string(Some(field("policy"))).map_err(|e| ("policy", e))? {
        None => false,
        Some(p) if p.eq_ignore_ascii_case("constant") => false,
        Some(p) if p.eq_ignore_ascii_case("exponential") => true,
        Some(p) => {
            return Err((
                "policy",
                format!("unexpected back off policy type: {p} (expected constant or exponential)"),
            ));
        }
    };
    let duration = policy_duration(field("duration")).map_err(|e| ("duration", e))?;
    let max_interval = policy_duration(field("maxInterval")).map_err(|e| ("maxInterval", e))?;
    let max_retries = integer(field("maxRetries")).map_err(|e| ("maxRetries", e))?;
    let backoff = if exponential {
        BackoffKind::Exponential {
            initial: DEFAULT_INITIAL_INTERVAL,
            multiplier: DEFAULT_MULTIPLIER,
            randomization: DEFAULT_RANDOMIZATION,
            max_interval: max_interval.unwrap_or(DEFAULT_MAX_INTERVAL),
            max_elapsed: DEFAULT_MAX_ELAPSED,
        }
    } else {
        BackoffKind::Constant {
            interval: duration.unwrap_or(DEFAULT_RETRY_DURATION),
        }
    };
    let matching = match field("matching") {
        Value::Null => RetryMatching::default(),
        m if m.is_object() => RetryMatching {
            http_status_codes: code_ranges(get_ci(m, "httpStatusCodes"), 100, 599)
                .map_err(|e| ("matching.httpStatusCodes", e))?,
            grpc_status_codes: code_ranges(get_ci(m, "gRPCStatusCodes"), 0, 16)
                .map_err(|e| ("matching.gRPCStatusCodes", e))?,
        },
        other => return Err(("matching", format!("expected a map, got {other}"))),
    };
    Ok(RetryPolicy {
        backoff,
        max_retries: max_retries.and_then(|n| u64::try_from(n).ok()),
        matching,
    })
}

/// `"500-599,429"`: comma-separated codes and inclusive ranges within `[min, max]`.
pub fn parse_code_ranges(text: &str, min: u16, max: u16) -> Result<Vec<CodeRange>, String> {
    let mut out = Vec::new();
    for pattern in text.split(',').filter(|p| !p.is_empty()) {
        let parts: Vec<&str> = pattern.split('-').collect();
        if parts.len() > 2 {
            return Err(format!(
                "invalid pattern {pattern}, more than one '-' exists"
            ));
        }
        let code = |s: &str| -> Result<u16, String> {
            let n: i64 = s
                .trim()
                .parse()
                .map_err(|_| format!("invalid pattern {pattern}: {s:?} is not a number"))?;
            u16::try_from(n)
                .ok()
                .filter(|c| (min..=max).contains(c))
                .ok_or_else(|| {
                    format!("invalid pattern {pattern}, code {n} is not within {min}-{max}")
                })
        };
        let start = code(parts[0])?;
        let end = match parts.get(1) {
            Some(e) => code(e)?,
            None => start,
        };
        if end < start {
            return Err(format!(
                "invalid pattern {pattern}, start value should not be bigger than end value"
            ));
        }
        out.push(CodeRange { start, end });
    }
    Ok(out)
}

fn code_ranges(
    value: Option<&Value>,
    min: u16,
    max: u16,
) -> Result<Option<Vec<CodeRange>>, String> {
    match string(value)? {
        None => Ok(None),
        Some(text) => parse_code_ranges(&text, min, max).map(Some),
    }
}

fn circuit_breaker(value: &Value) -> FieldResult<CircuitBreakerPolicy> {
    if !value.is_object() {
        return Err(("", format!("expected a circuit breaker map, got {value}")));
    }
    let field = |name: &'static str| get_ci(value, name).unwrap_or(&Value::Null);
    let max_requests = integer(field("maxRequests")).map_err(|e| ("maxRequests", e))?;
    let max_requests = match max_requests {
        None | Some(0) => 1,
        Some(n) => u32::try_from(n)
            .map_err(|_| ("maxRequests", format!("expected a count from 0, got {n}")))?,
    };
    let interval = policy_duration(field("interval")).map_err(|e| ("interval", e))?;
    let timeout = policy_duration(field("timeout")).map_err(|e| ("timeout", e))?;
    let trip = match string(Some(field("trip"))).map_err(|e| ("trip", e))? {
        None => TripExpr::default(),
        Some(text) => TripExpr::parse(&text).map_err(|e| ("trip", e))?,
    };
    Ok(CircuitBreakerPolicy {
        max_requests,
        interval: interval.unwrap_or_default(),
        timeout: timeout
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_BREAKER_TIMEOUT),
        trip,
    })
}

fn policy_names(value: Option<&Value>) -> FieldResult<PolicyNames> {
    let value = match value {
        None | Some(Value::Null) => return Ok(PolicyNames::default()),
        Some(v) if v.is_object() => v,
        Some(other) => {
            return Err((
                "",
                format!("expected {{timeout, retry, circuitBreaker}}, got {other}"),
            ));
        }
    };
    Ok(PolicyNames {
        timeout: string(get_ci(value, "timeout")).map_err(|e| ("timeout", e))?,
        retry: string(get_ci(value, "retry")).map_err(|e| ("retry", e))?,
        circuit_breaker: string(get_ci(value, "circuitBreaker"))
            .map_err(|e| ("circuitBreaker", e))?,
    })
}

/// The policies of every Resiliency document that applies to the app, merged in load order as
/// daprd merges them: a later policy or target of the same name replaces an earlier one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResiliencyConfig {
    pub timeouts: BTreeMap<String, Duration>,
    pub retries: BTreeMap<String, RetryPolicy>,
    pub circuit_breakers: BTreeMap<String, CircuitBreakerPolicy>,
    pub components: BTreeMap<String, ComponentTargets>,
}

/// The policies that apply to one component in one direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedPolicy {
    /// Per attempt; `None` when absent or zero.
    pub timeout: Option<Duration>,
    pub retry: Option<(String, RetryPolicy)>,
    pub circuit_breaker: Option<(String, CircuitBreakerPolicy)>,
}

impl ResolvedPolicy {
    pub fn is_empty(&self) -> bool {
        self.timeout.is_none() && self.retry.is_none() && self.circuit_breaker.is_none()
    }
}

impl ResiliencyConfig {
    /// Merges documents (already filtered by scope), then checks every target's references.
    pub fn merge(documents: &[Resiliency]) -> Result<Self, LoadError> {
        let mut config = Self::default();
        for doc in documents {
            config.timeouts.extend(doc.timeouts.clone());
            config.retries.extend(doc.retries.clone());
            config.circuit_breakers.extend(doc.circuit_breakers.clone());
            config.components.extend(doc.components.clone());
        }
        for doc in documents {
            for (component, targets) in &doc.components {
                for (direction, names) in [
                    ("inbound", &targets.inbound),
                    ("outbound", &targets.outbound),
                ] {
                    let missing = [
                        (&names.timeout, "timeout", "timeout"),
                        (&names.retry, "retry", "retry"),
                        (&names.circuit_breaker, "circuitBreaker", "circuit breaker"),
                    ]
                    .into_iter()
                    .find_map(|(name, key, what)| {
                        name.as_deref()
                            .filter(|n| !config.has_policy(key, n))
                            .map(|n| (n.to_owned(), key, what))
                    });
                    if let Some((name, key, what)) = missing {
                        return Err(doc.error(
                            &format!("spec.targets.components.{component}.{direction}.{key}"),
                            format!("no {what} policy named {name:?} is defined"),
                        ));
                    }
                }
            }
        }
        Ok(config)
    }

    fn has_policy(&self, kind: &str, name: &str) -> bool {
        match kind {
            "timeout" => self.timeouts.contains_key(name),
            "retry" => self.retries.contains_key(name),
            _ => self.circuit_breakers.contains_key(name),
        }
    }

    /// The policies for a binding, as daprd's `ComponentOutboundPolicy` /
    /// `ComponentInboundPolicy` choose them.
    pub fn component_policy(&self, name: &str, direction: PolicyDirection) -> ResolvedPolicy {
        let (timeout, retry, breaker) = match self.components.get(name) {
            Some(targets) => {
                let names = match direction {
                    PolicyDirection::Inbound => &targets.inbound,
                    PolicyDirection::Outbound => &targets.outbound,
                };
                (
                    names.timeout.clone(),
                    names.retry.clone(),
                    names.circuit_breaker.clone(),
                )
            }
            None => (
                default_policy_name(direction, "Timeout", |n| self.timeouts.contains_key(n)),
                default_policy_name(direction, "Retry", |n| self.retries.contains_key(n)),
                default_policy_name(direction, "CircuitBreaker", |n| {
                    self.circuit_breakers.contains_key(n)
                }),
            ),
        };
        ResolvedPolicy {
            timeout: timeout
                .and_then(|t| self.timeouts.get(&t).copied())
                .filter(|t| !t.is_zero()),
            retry: retry.and_then(|r| self.retries.get(&r).map(|p| (r, p.clone()))),
            circuit_breaker: breaker
                .and_then(|b| self.circuit_breakers.get(&b).map(|p| (b, p.clone()))),
        }
    }
}

/// The reserved default policy names for a binding, most specific first.
pub fn default_policy_names(direction: PolicyDirection, policy: &str) -> [String; 4] {
    let d = direction.as_str();
    [
        format!("Default{COMPONENT_KIND}Component{d}{policy}Policy"),
        format!("DefaultComponent{d}{policy}Policy"),
        format!("DefaultComponent{policy}Policy"),
        format!("Default{policy}Policy"),
    ]
}

fn default_policy_name(
    direction: PolicyDirection,
    policy: &str,
    exists: impl Fn(&str) -> bool,
) -> Option<String> {
    default_policy_names(direction, policy)
        .into_iter()
        .find(|n| exists(n))
}

// ---------------------------------------------------------------------------------------------
// Trip expressions: the CEL subset people write for circuit breakers.

/// A circuit breaker's trip rule: comparisons of the five counters with integers, combined
/// with `&&`, `||`, `!` and parentheses (`consecutiveFailures > 5`,
/// `requests >= 10 && totalFailures * 2 > requests` is NOT supported: no arithmetic).
#[derive(Debug, Clone, PartialEq)]
pub struct TripExpr {
    text: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Bool(bool),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Operand {
    Int(i64),
    Var(Counter),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Counter {
    Requests,
    TotalSuccesses,
    TotalFailures,
    ConsecutiveSuccesses,
    ConsecutiveFailures,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Default for TripExpr {
    /// gobreaker's default: trip after more than 5 consecutive failures.
    fn default() -> Self {
        Self {
            text: "consecutiveFailures > 5".to_owned(),
            root: Node::Compare(
                Operand::Var(Counter::ConsecutiveFailures),
                CmpOp::Gt,
                Operand::Int(5),
            ),
        }
    }
}

impl fmt::Display for TripExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TripExpr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, pos: 0 };
        let root = parser.or()?;
        if let Some(t) = parser.tokens.get(parser.pos) {
            return Err(format!(
                "unsupported trip expression {text:?}: unexpected {t}; bindery supports comparisons of requests, totalSuccesses, totalFailures, consecutiveSuccesses and consecutiveFailures with integers, combined with &&, || and !"
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            root,
        })
    }

    pub fn eval(&self, counts: &Counts) -> bool {
        eval(&self.root, counts)
    }
}

fn eval(node: &Node, c: &Counts) -> bool {
    match node {
        Node::Bool(b) => *b,
        Node::Not(n) => !eval(n, c),
        Node::And(a, b) => eval(a, c) && eval(b, c),
        Node::Or(a, b) => eval(a, c) || eval(b, c),
        Node::Compare(a, op, b) => {
            let value = |o: &Operand| match o {
                Operand::Int(n) => *n,
                Operand::Var(v) => i64::from(match v {
                    Counter::Requests => c.requests,
                    Counter::TotalSuccesses => c.total_successes,
                    Counter::TotalFailures => c.total_failures,
                    Counter::ConsecutiveSuccesses => c.consecutive_successes,
                    Counter::ConsecutiveFailures => c.consecutive_failures,
                }),
            };
            let (a, b) = (value(a), value(b));
            match op {
                CmpOp::Gt => a > b,
                CmpOp::Ge => a >= b,
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Op(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "{s:?}"),
            Token::Int(n) => write!(f, "{n}"),
            Token::Op(o) => write!(f, "{o:?}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    const OPS: [&str; 12] = [
        "&&", "||", ">=", "<=", "==", "!=", ">", "<", "!", "(", ")", "-",
    ];
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    'outer: while !rest.is_empty() {
        for op in OPS {
            if let Some(after) = rest.strip_prefix(op) {
                tokens.push(Token::Op(op));
                rest = after.trim_start();
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        if c.is_ascii_digit() {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let n = rest[..end]
                .parse()
                .map_err(|_| format!("number {} is too large", &rest[..end]))?;
            tokens.push(Token::Int(n));
            rest = rest[end..].trim_start();
        } else if c.is_ascii_alphabetic() || c == '_' {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            tokens.push(Token::Ident(rest[..end].to_owned()));
            rest = rest[end..].trim_start();
        } else {
            return Err(format!(
                "unsupported trip expression {text:?}: unexpected character {c:?}"
            ));
        }
    }
    if tokens.is_empty() {
        return Err("empty trip expression".to_owned());
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            left = Node::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.eat("!") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err("missing ')' in trip expression".to_owned());
            }
            return Ok(inner);
        }
        if let Some(Token::Ident(word)) = self.peek()
            && (word == "true" || word == "false")
        {
            let value = word == "true";
            self.pos += 1;
            return Ok(Node::Bool(value));
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Token::Op(">")) => CmpOp::Gt,
            Some(Token::Op(">=")) => CmpOp::Ge,
            Some(Token::Op("<")) => CmpOp::Lt,
            Some(Token::Op("<=")) => CmpOp::Le,
            Some(Token::Op("==")) => CmpOp::Eq,
            Some(Token::Op("!=")) => CmpOp::Ne,
            Some(t) => return Err(format!("expected a comparison operator, found {t}")),
            None => return Err("expected a comparison operator at the end".to_owned()),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Node::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let negative = self.eat("-");
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Int(n)) => {
                self.pos += 1;
                Ok(Operand::Int(if negative { -n } else { n }))
            }
            Some(Token::Ident(name)) if !negative => {
                self.pos += 1;
                let counter = match name.as_str() {
                    "requests" => Counter::Requests,
                    "totalSuccesses" => Counter::TotalSuccesses,
                    "totalFailures" => Counter::TotalFailures,
                    "consecutiveSuccesses" => Counter::ConsecutiveSuccesses,
                    "consecutiveFailures" => Counter::ConsecutiveFailures,
                    other => {
                        return Err(format!(
                            "undeclared reference to {other:?}: the trip expression can use requests, totalSuccesses, totalFailures, consecutiveSuccesses and consecutiveFailures"
                        ));
                    }
                };
                Ok(Operand::Var(counter))
            }
            Some(t) => Err(format!("expected a counter or an integer, found {t}")),
            None => Err("expected a counter or an integer at the end".to_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// bindery-only delivery options, read by the runtime from any input binding's metadata.

pub const DEAD_LETTER_BINDING: Field = Field::new(
    "deadLetterBinding",
    FieldType::String,
    "bindery only: an output binding that receives an event the app did not accept after every attempt (operation create, the event's data and metadata plus bindery.failure.reason and bindery.failure.binding); the event is then acknowledged to its source.",
)
.input_only();
pub const ON_DELIVERY_FAILURE: Field = Field::new(
    "onDeliveryFailure",
    FieldType::String,
    "bindery only: what to do once every attempt failed: nack (hand the failure to the component, which does what daprd's does), drop (log and acknowledge) or deadletter (send to deadLetterBinding). Default: deadletter when deadLetterBinding is set, else nack.",
)
.input_only();
pub const DELIVERY_ATTEMPTS: Field = Field::new(
    "deliveryAttempts",
    FieldType::Number,
    "bindery only: attempts per event, with exponential backoff, when no Resiliency inbound retry policy covers the binding.",
)
.default_value("1")
.input_only();
pub const MAX_CONCURRENT_DELIVERIES: Field = Field::new(
    "maxConcurrentDeliveries",
    FieldType::Number,
    "bindery only: most events of this binding in delivery at once; further deliveries wait, holding the source back. The rabbitmq, mqtt3, nats, aws.sqs and azure.storagequeues inputs then hand up to that many events to the app at once, each acknowledged by its own verdict; without it they deliver one at a time as daprd does (mqtt3: all at once, as daprd). 0 or absent = no limit here (still bounded by --app-max-concurrency).",
)
.input_only();

/// The fields above, for documentation.
pub const DELIVERY_FIELDS: [Field; 4] = [
    DEAD_LETTER_BINDING,
    ON_DELIVERY_FAILURE,
    DELIVERY_ATTEMPTS,
    MAX_CONCURRENT_DELIVERIES,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDeliveryFailure {
    /// Report the failure to the component (daprd's behaviour).
    Nack,
    /// Log at warn and report success so the component acknowledges.
    Drop,
    /// Invoke the dead-letter binding; acknowledge only if that succeeded.
    DeadLetter,
}

/// How the runtime delivers one input binding's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    pub on_failure: OnDeliveryFailure,
    pub dead_letter_binding: Option<String>,
    /// Attempts per event when no Resiliency inbound retry applies (at least 1).
    pub attempts: u32,
    pub max_concurrent: Option<usize>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            on_failure: OnDeliveryFailure::Nack,
            dead_letter_binding: None,
            attempts: 1,
            max_concurrent: None,
        }
    }
}

impl DeliveryOptions {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let dead_letter_binding = p
            .string(&DEAD_LETTER_BINDING)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let on_failure = match p
            .string(&ON_DELIVERY_FAILURE)
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
        {
            None if dead_letter_binding.is_some() => OnDeliveryFailure::DeadLetter,
            None => OnDeliveryFailure::Nack,
            Some(v) => match v.as_str() {
                "nack" => OnDeliveryFailure::Nack,
                "drop" => OnDeliveryFailure::Drop,
                "deadletter" | "dead-letter" => OnDeliveryFailure::DeadLetter,
                other => {
                    return Err(ConfigError::new(
                        ON_DELIVERY_FAILURE.name,
                        format!("invalid value {other:?}: expected nack, drop or deadletter"),
                    ));
                }
            },
        };
        if on_failure == OnDeliveryFailure::DeadLetter && dead_letter_binding.is_none() {
            return Err(ConfigError::new(
                DEAD_LETTER_BINDING.name,
                "onDeliveryFailure is deadletter but no deadLetterBinding is given",
            ));
        }
        let attempts: u32 = p.number(&DELIVERY_ATTEMPTS)?.unwrap_or(1);
        if attempts == 0 {
            return Err(ConfigError::new(
                DELIVERY_ATTEMPTS.name,
                "must be at least 1",
            ));
        }
        let max_concurrent: Option<usize> = p
            .number(&MAX_CONCURRENT_DELIVERIES)?
            .filter(|n: &usize| *n > 0);
        Ok(Self {
            on_failure,
            dead_letter_binding,
            attempts,
            max_concurrent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_documents;

    fn decode(text: &str) -> Result<Option<Resiliency>, LoadError> {
        let doc = parse_documents("r.yaml", text).remove(0).unwrap();
        Resiliency::from_document(&doc)
    }

    const FULL: &str = r#"apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: myresiliency
scopes: [app1]
spec:
  policies:
    timeouts:
      short: 5s
      ms: "250"
    retries:
      fast:
        policy: constant
        duration: 1s
        maxRetries: 3
        matching:
          httpStatusCodes: "500-599,429"
          gRPCStatusCodes: "1-4,14"
      slow:
        Policy: Exponential
        maxInterval: 15s
      forever: {}
    circuitBreakers:
      cb:
        maxRequests: 2
        interval: 10s
        timeout: 30s
        trip: consecutiveFailures >= 3 || (requests > 10 && totalFailures > 5)
      plain: {}
  targets:
    components:
      files:
        outbound: {timeout: short, retry: fast, circuitBreaker: cb}
      mycron:
        INBOUND: {retry: slow}
    apps:
      other: {retry: fast}
"#;

    #[test]
    fn decodes_every_policy_with_daprs_defaults() {
        let r = decode(FULL).unwrap().unwrap();
        assert_eq!(r.name, "myresiliency");
        assert!(r.applies_to("app1") && !r.applies_to("app2"));
        assert_eq!(r.timeouts["short"], Duration::from_secs(5));
        assert_eq!(
            r.timeouts["ms"],
            Duration::from_millis(250),
            "bare numbers are ms"
        );
        let fast = &r.retries["fast"];
        assert_eq!(
            fast.backoff,
            BackoffKind::Constant {
                interval: Duration::from_secs(1)
            }
        );
        assert_eq!(fast.max_retries, Some(3));
        assert!(fast.matching.retries_http(503) && fast.matching.retries_http(429));
        assert!(!fast.matching.retries_http(404));
        assert!(fast.matching.retries_grpc(14) && !fast.matching.retries_grpc(5));
        match r.retries["slow"].backoff {
            BackoffKind::Exponential {
                initial,
                max_interval,
                max_elapsed,
                ..
            } => {
                assert_eq!(initial, Duration::from_millis(500));
                assert_eq!(max_interval, Duration::from_secs(15));
                assert_eq!(max_elapsed, Duration::from_secs(900));
            }
            other => panic!("{other:?}"),
        }
        let forever = &r.retries["forever"];
        assert_eq!(forever.max_retries, None);
        assert_eq!(
            forever.backoff,
            BackoffKind::Constant {
                interval: Duration::from_secs(5)
            }
        );
        assert!(
            forever.matching.retries_http(404),
            "no matching retries all"
        );
        let cb = &r.circuit_breakers["cb"];
        assert_eq!(cb.max_requests, 2);
        assert_eq!(cb.interval, Duration::from_secs(10));
        assert_eq!(cb.timeout, Duration::from_secs(30));
        let plain = &r.circuit_breakers["plain"];
        assert_eq!(plain.max_requests, 1);
        assert_eq!(plain.timeout, Duration::from_secs(60));
        assert_eq!(plain.trip.to_string(), "consecutiveFailures > 5");
        assert_eq!(
            r.components["files"].outbound.retry.as_deref(),
            Some("fast")
        );
        assert_eq!(
            r.components["mycron"].inbound.retry.as_deref(),
            Some("slow")
        );
        assert_eq!(r.components["mycron"].outbound, PolicyNames::default());
    }

    #[test]
    fn other_kinds_are_not_resiliency() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: bindings.cron\n";
        assert!(decode(text).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_file_resource_and_field() {
        let bad = FULL.replace("duration: 1s", "duration: 1x");
        let err = decode(&bad).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.policies.retries.fast.duration")
        );
        assert!(err.to_string().starts_with("r.yaml:14: field spec.policies.retries.fast.duration: Resiliency \"myresiliency\": invalid duration"), "{err}");
        let bad = FULL.replace("policy: constant", "policy: linear");
        let err = decode(&bad).unwrap_err();
        assert!(
            err.message
                .contains("unexpected back off policy type: linear"),
            "{err}"
        );
        let bad = FULL.replace("500-599,429", "500-599-600");
        let err = decode(&bad).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.policies.retries.fast.matching.httpStatusCodes")
        );
        let bad = FULL.replace("1-4,14", "1-17");
        assert!(decode(&bad).is_err());
        let bad = FULL.replace("maxRetries: 3", "maxRetries: three");
        assert_eq!(
            decode(&bad).unwrap_err().field.as_deref(),
            Some("spec.policies.retries.fast.maxRetries")
        );
        let bad = FULL.replace("consecutiveFailures >= 3", "size(x) > 3");
        let err = decode(&bad).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.policies.circuitBreakers.cb.trip")
        );
    }

    #[test]
    fn code_ranges_follow_daprs_rules() {
        assert_eq!(
            parse_code_ranges("500,502-504,", 100, 599).unwrap(),
            vec![
                CodeRange {
                    start: 500,
                    end: 500
                },
                CodeRange {
                    start: 502,
                    end: 504
                }
            ]
        );
        assert!(parse_code_ranges("504-502", 100, 599).is_err());
        assert!(parse_code_ranges("15", 100, 599).is_err());
        assert!(parse_code_ranges("-1", 100, 599).is_err());
        assert!(parse_code_ranges("0-16", 0, 16).is_ok());
    }

    fn counts(requests: u32, failures: u32, consecutive_failures: u32) -> Counts {
        Counts {
            requests,
            total_successes: requests - failures,
            total_failures: failures,
            consecutive_successes: 0,
            consecutive_failures,
        }
    }

    #[test]
    fn trip_expressions_evaluate() {
        let t = TripExpr::parse("consecutiveFailures > 5").unwrap();
        assert!(!t.eval(&counts(5, 5, 5)));
        assert!(t.eval(&counts(6, 6, 6)));
        let t = TripExpr::parse("consecutiveFailures >= 3 || (requests > 10 && totalFailures > 5)")
            .unwrap();
        assert!(t.eval(&counts(3, 3, 3)));
        assert!(!t.eval(&counts(10, 6, 1)));
        assert!(t.eval(&counts(11, 6, 1)));
        let t =
            TripExpr::parse("!(totalSuccesses == requests) && consecutiveSuccesses < 1").unwrap();
        assert!(t.eval(&counts(2, 1, 1)));
        assert!(!t.eval(&counts(2, 0, 0)));
        assert!(TripExpr::parse("true").unwrap().eval(&Counts::default()));
        assert!(
            TripExpr::parse("totalFailures != -1")
                .unwrap()
                .eval(&Counts::default())
        );
        assert!(
            TripExpr::parse("5 < requests")
                .unwrap()
                .eval(&counts(6, 0, 0))
        );
        assert!(
            TripExpr::parse("failures > 5")
                .unwrap_err()
                .contains("undeclared reference")
        );
        assert!(TripExpr::parse("totalFailures * 2 > requests").is_err());
        assert!(TripExpr::parse("requests > 5 &&").is_err());
        assert!(TripExpr::parse("(requests > 5").is_err());
        assert!(TripExpr::parse("requests").is_err());
        assert!(TripExpr::parse("").is_err());
        assert!(TripExpr::parse("requests > 5 requests").is_err());
    }

    fn config(text: &str) -> Result<ResiliencyConfig, LoadError> {
        let docs: Vec<Resiliency> = parse_documents("r.yaml", text)
            .into_iter()
            .map(|d| Resiliency::from_document(&d.unwrap()).unwrap().unwrap())
            .collect();
        ResiliencyConfig::merge(&docs)
    }

    #[test]
    fn named_targets_win_and_get_no_defaults() {
        let c = config(FULL).unwrap();
        let p = c.component_policy("files", PolicyDirection::Outbound);
        assert_eq!(p.timeout, Some(Duration::from_secs(5)));
        assert_eq!(p.retry.as_ref().unwrap().0, "fast");
        assert_eq!(p.circuit_breaker.as_ref().unwrap().0, "cb");
        assert!(
            c.component_policy("files", PolicyDirection::Inbound)
                .is_empty()
        );
        assert!(
            c.component_policy("unknown", PolicyDirection::Outbound)
                .is_empty()
        );
    }

    #[test]
    fn default_policies_are_looked_up_most_specific_first() {
        let names = default_policy_names(PolicyDirection::Outbound, "Retry");
        assert_eq!(
            names,
            [
                "DefaultBindingComponentOutboundRetryPolicy",
                "DefaultComponentOutboundRetryPolicy",
                "DefaultComponentRetryPolicy",
                "DefaultRetryPolicy"
            ]
        );
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: d\nspec:\n  policies:\n    timeouts:\n      DefaultTimeoutPolicy: 9s\n      DefaultComponentInboundTimeoutPolicy: 3s\n    retries:\n      DefaultRetryPolicy: {maxRetries: 1}\n      DefaultComponentRetryPolicy: {maxRetries: 2}\n      DefaultComponentOutboundRetryPolicy: {maxRetries: 3}\n      DefaultBindingComponentOutboundRetryPolicy: {maxRetries: 4}\n    circuitBreakers:\n      DefaultComponentCircuitBreakerPolicy: {}\n  targets:\n    components:\n      named:\n        outbound: {timeout: DefaultTimeoutPolicy}\n";
        let c = config(text).unwrap();
        let out = c.component_policy("x", PolicyDirection::Outbound);
        assert_eq!(out.retry.unwrap().1.max_retries, Some(4));
        assert_eq!(out.timeout, Some(Duration::from_secs(9)));
        assert_eq!(
            out.circuit_breaker.unwrap().0,
            "DefaultComponentCircuitBreakerPolicy"
        );
        let inbound = c.component_policy("x", PolicyDirection::Inbound);
        assert_eq!(inbound.retry.unwrap().1.max_retries, Some(2));
        assert_eq!(inbound.timeout, Some(Duration::from_secs(3)));
        let named = c.component_policy("named", PolicyDirection::Outbound);
        assert!(named.retry.is_none(), "a named target gets no defaults");
        assert_eq!(named.timeout, Some(Duration::from_secs(9)));
    }

    #[test]
    fn later_documents_replace_and_references_are_checked() {
        let second = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: two\nspec:\n  policies:\n    timeouts:\n      short: 1s\n";
        let c = config(&format!("{FULL}---\n{second}")).unwrap();
        assert_eq!(c.timeouts["short"], Duration::from_secs(1));
        let broken = FULL.replace(
            "retry: fast, circuitBreaker",
            "retry: missing, circuitBreaker",
        );
        let err = config(&broken).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.targets.components.files.outbound.retry")
        );
        assert!(
            err.message.contains("no retry policy named \"missing\""),
            "{err}"
        );
    }

    #[test]
    fn delivery_options_decode() {
        let d = DeliveryOptions::from_properties(&Properties::from_pairs([])).unwrap();
        assert_eq!(d, DeliveryOptions::default());
        let d = DeliveryOptions::from_properties(&Properties::from_pairs([
            ("DeadLetterBinding", "dlq"),
            ("deliveryAttempts", "3"),
            ("maxConcurrentDeliveries", "2"),
        ]))
        .unwrap();
        assert_eq!(d.on_failure, OnDeliveryFailure::DeadLetter);
        assert_eq!(d.dead_letter_binding.as_deref(), Some("dlq"));
        assert_eq!(d.attempts, 3);
        assert_eq!(d.max_concurrent, Some(2));
        let d = DeliveryOptions::from_properties(&Properties::from_pairs([(
            "onDeliveryFailure",
            "Drop",
        )]))
        .unwrap();
        assert_eq!(d.on_failure, OnDeliveryFailure::Drop);
        let e = DeliveryOptions::from_properties(&Properties::from_pairs([(
            "onDeliveryFailure",
            "deadletter",
        )]))
        .unwrap_err();
        assert_eq!(e.field, "deadLetterBinding");
        let e = DeliveryOptions::from_properties(&Properties::from_pairs([(
            "onDeliveryFailure",
            "retry",
        )]))
        .unwrap_err();
        assert_eq!(e.field, "onDeliveryFailure");
        assert!(
            DeliveryOptions::from_properties(&Properties::from_pairs([("deliveryAttempts", "0")]))
                .is_err()
        );
    }
}
