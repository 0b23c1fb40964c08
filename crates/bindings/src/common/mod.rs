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
#[allow(dead_code)] // used by the tests of some bindings only: unused in single-feature builds
pub(crate) fn corpus_tests_dir() -> Option<std::path::PathBuf> {
    dapr_data("corpus/components-contrib/tests")
}

/// The bindings' `metadata.yaml` files of components-contrib (`<dir>/<name>/metadata.yaml`).
#[cfg(test)]
pub(crate) fn metadata_bindings_dir() -> Option<std::path::PathBuf> {
    dapr_data("metadata/bindings")
}

/// Every component of `spec_type` (or one of `aliases`) in the corpus, as `(file, metadata)`.
/// Empty when the corpus is missing (callers print SKIP) or holds none of that type.
#[cfg(test)]
#[allow(dead_code)] // used by the tests of some bindings only: unused in single-feature builds
pub(crate) fn corpus_components(types: &[&str]) -> Vec<(String, bindery_core::Properties)> {
    use bindery_core::manifest::{Component, parse_documents};
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let Some(root) = corpus_tests_dir() else {
        return Vec::new();
    };
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut found = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for doc in parse_documents(&name, &text).into_iter().flatten() {
            let Ok(Some(c)) = Component::from_document(&doc) else {
                continue;
            };
            if types.iter().any(|t| c.spec_type.eq_ignore_ascii_case(t)) {
                let map = c
                    .metadata
                    .iter()
                    .map(|i| (i.name.clone(), i.value.clone()))
                    .collect();
                let props = bindery_core::Properties::new(map).expect("corpus metadata");
                found.push((name.clone(), props));
            }
        }
    }
    found
}

/// The metadata of the example component file `bindery components example` prints for `d`.
#[cfg(test)]
#[allow(dead_code)] // used by the tests of some bindings only: unused in single-feature builds
pub(crate) fn example_properties(d: &bindery_core::BindingDescriptor) -> bindery_core::Properties {
    use bindery_core::manifest::{Component, parse_documents};
    let text = d.example_yaml();
    let doc = parse_documents("example.yaml", &text)
        .into_iter()
        .next()
        .expect("one document")
        .expect("example parses");
    let c = Component::from_document(&doc)
        .expect("example component")
        .expect("a component");
    let map = c
        .metadata
        .iter()
        .map(|i| (i.name.clone(), i.value.clone()))
        .collect();
    bindery_core::Properties::new(map).expect("example metadata")
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
