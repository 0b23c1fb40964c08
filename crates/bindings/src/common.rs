//! Small helpers several components share.

use std::time::Duration;

/// Go's `strconv.Unquote` for the double-quoted form daprd's HTTP API produces: `"hello"` (with
/// the quotes) becomes `hello`. Anything that is not a complete quoted string is returned as is.
pub fn unquote(data: &[u8]) -> Option<String> {
    if data.len() < 2 || data[0] != b'"' || data[data.len() - 1] != b'"' {
        return None;
    }
    serde_json::from_slice::<String>(data).ok()
}

/// Exponential backoff with jitter for reconnect loops: 100 ms doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self {
            next: Duration::from_millis(100),
            max,
        }
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let current = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand_fraction() * 0.2 + 0.9;
        current.mul_f64(jitter)
    }

    pub fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }
}

fn rand_fraction() -> f64 {
    (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0
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
