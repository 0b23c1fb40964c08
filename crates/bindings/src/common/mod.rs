//! Small helpers several components share.

use std::time::Duration;

use bindery_core::backoff::{self, Exponential, Schedule};

pub mod escape;
pub mod tls;

/// Go's `strconv.Unquote` for the double-quoted form daprd's HTTP API produces: `"hello"` (with
/// the quotes) becomes `hello`. Anything that is not a complete quoted string is returned as is.
pub fn unquote(data: &[u8]) -> Option<String> {
    if data.len() < 2 || data[0] != b'"' || data[data.len() - 1] != b'"' {
        return None;
    }
    serde_json::from_slice::<String>(data).ok()
}

/// Exponential backoff with jitter for reconnect loops: 100 ms doubling up to `max`, ±10 %
/// ([`Exponential::reconnect`]), never giving up.
#[derive(Debug, Clone)]
pub struct Backoff(backoff::Backoff);

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self(backoff::Backoff::new(
            Schedule::Exponential(Exponential::reconnect(max)),
            None,
        ))
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.0
            .next_delay(Duration::ZERO, rand::random::<f64>())
            .unwrap_or_default()
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }
}

/// The first `$DAPR_DATA_DIR`, `shared/dapr-data` beside the repository (as CI lays it out) or
/// the development machine's `/work/shared/dapr-data` that has `sub`, joined with it.
#[cfg(test)]
fn dapr_data(sub: &str) -> Option<std::path::PathBuf> {
    let beside = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dapr-data");
    std::env::var_os("DAPR_DATA_DIR")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain([beside, std::path::PathBuf::from("/work/shared/dapr-data")])
        .map(|d| d.join(sub))
        .find(|d| d.is_dir())
}

/// The components-contrib corpus (Dapr's conformance and certification component files).
#[cfg(test)]
pub(crate) fn corpus_tests_dir() -> Option<std::path::PathBuf> {
    dapr_data("corpus/components-contrib/tests")
}

/// The bindings' `metadata.yaml` files of components-contrib (`<dir>/<name>/metadata.yaml`).
#[cfg(test)]
pub(crate) fn metadata_bindings_dir() -> Option<std::path::PathBuf> {
    dapr_data("metadata/bindings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_only_complete_strings() {
        assert_eq!(unquote(br#""hello""#).as_deref(), Some("hello"));
        assert_eq!(unquote(br#""a\"b""#).as_deref(), Some("a\"b"));
        assert_eq!(unquote(b"hello"), None);
        assert_eq!(unquote(b"\""), None);
        assert_eq!(unquote(br#"{"a":1}"#), None);
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let first = b.next_delay();
        assert!(first <= Duration::from_millis(110));
        for _ in 0..10 {
            b.next_delay();
        }
        assert!(b.next_delay() <= Duration::from_millis(1100));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(110));
    }
}
