//! Property-based fuzzing of the component loader and of `Properties` decoding: bad input never
//! panics, every failure names its file (and a line), and nothing a valid file says is lost.
//!
//! Short by default (256 cases per property); a long run:
//! `PROPTEST_CASES=100000 cargo test -p bindery-core --test fuzz_manifest --release`.
//! The corpus in `fuzz/corpus/{manifest,properties}` is replayed by `corpus_*` tests; add a file
//! there for every input that once broke something.

use std::collections::HashMap;
use std::path::PathBuf;

use bindery_core::manifest::{Component, parse_documents, split_documents};
use bindery_core::properties::parse_quantity;
use bindery_core::{Field, FieldType, Properties};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    // PROPTEST_CASES overrides this default.
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

/// Loads a text the way the runtime does; checks the shape of every failure.
fn load(file: &str, text: &str) -> Vec<Result<Option<Component>, String>> {
    // The end-of-input position is one line past the last line break; YAML's line breaks are
    // CR LF, CR and LF (a bare CR starts a line too, as the parser counts).
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .lines()
        .count()
        .max(1) as u32
        + 1;
    parse_documents(file, text)
        .into_iter()
        .map(|doc| {
            let result = doc.and_then(|d| Component::from_document(&d));
            match result {
                Ok(c) => Ok(c),
                Err(e) => {
                    assert_eq!(e.file, file, "error names its file: {e}");
                    let line = e.line.expect("error has a line");
                    assert!(line >= 1 && line <= lines, "line {line} out of range: {e}");
                    assert!(!e.message.is_empty());
                    // Display never panics and names the file.
                    assert!(e.to_string().starts_with(file));
                    Err(e.to_string())
                }
            }
        })
        .collect()
}

// --- structured component documents -------------------------------------------------------

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9 :@/._-]{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "true",
            "no",
            "on",
            "y",
            "1s",
            "@every 1s",
            "0x1F",
            "1e3",
            "~",
            "null",
            "-",
            "---",
            "...",
            "#",
            "&a",
            "*a",
            "!!str",
            "{",
            "[",
            "'",
            "\"",
            "\\",
            "\t",
            "\r\n",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn dynamic() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::hash_map("[a-z]{1,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A metadata name daprd accepts: non-empty, any characters.
fn item_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z][a-zA-Z0-9_.-]{0,15}", "\\PC{1,12}"]
}

fn component_doc() -> impl Strategy<Value = (Value, Vec<(String, Value)>)> {
    (
        "[a-z0-9][a-z0-9-]{0,20}",
        prop::sample::select(vec!["bindings.cron", "bindings.redis", "state.redis", "x"]),
        prop::sample::select(vec!["", "v1", "V1", "v0"]),
        prop::collection::vec((item_name(), dynamic()), 0..8),
        prop::option::of(prop::collection::vec("[a-z]{1,8}", 0..3)),
    )
        .prop_map(|(name, ty, version, items, scopes)| {
            let metadata: Vec<Value> = items
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect();
            let mut doc = json!({
                "apiVersion": "dapr.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": name},
                "spec": {"type": ty, "version": version, "metadata": metadata},
            });
            if let Some(scopes) = scopes {
                doc["scopes"] = json!(scopes);
            }
            (doc, items)
        })
}

/// Block-style YAML for a JSON value (strings always double-quoted JSON, which YAML reads).
fn to_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                out.push_str(&format!("{pad}{}:", Value::String(k.clone())));
                block_child(v, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for v in items {
                out.push_str(&format!("{pad}-"));
                block_child(v, indent, out);
            }
        }
        other => out.push_str(&format!("{pad}{other}\n")),
    }
}

fn block_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            to_yaml(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            to_yaml(v, indent + 2, out);
        }
        other => out.push_str(&format!(" {other}\n")),
    }
}

fn mutate(text: &str, at: usize, bytes: &[u8]) -> String {
    let mut raw = text.as_bytes().to_vec();
    let at = at % (raw.len() + 1);
    raw.splice(at..at, bytes.iter().copied());
    String::from_utf8_lossy(&raw).into_owned()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        load("fuzz.yaml", &text);
    }

    #[test]
    fn yaml_ish_text_never_panics(text in "(([ \\t]{0,4}(- )?[a-zA-Z&*!%@`|>\"'{}\\[\\],#:?-]{0,8}(: )?[a-zA-Z0-9 &*!{}\\[\\]\"',:#-]{0,10})?\\r?\\n(---\\n)?){0,30}") {
        load("fuzz.yaml", &text);
    }

    #[test]
    fn every_metadata_item_of_a_valid_component_survives((doc, items) in component_doc(), flow in any::<bool>()) {
        let text = if flow {
            doc.to_string()
        } else {
            let mut s = String::new();
            to_yaml(&doc, 0, &mut s);
            s
        };
        let results = load("c.yaml", &text);
        prop_assert_eq!(results.len(), 1, "{}", text);
        let component = results.into_iter().next().unwrap();
        let component = match component {
            Ok(Some(c)) => c,
            other => return Err(TestCaseError::fail(format!("{other:?}\n{text}"))),
        };
        prop_assert_eq!(component.metadata.len(), items.len());
        for ((name, value), item) in items.iter().zip(&component.metadata) {
            prop_assert_eq!(&item.name, name);
            prop_assert_eq!(item.has_value, !value.is_null());
            if let Value::String(s) = value {
                prop_assert_eq!(&item.value, s, "string values arrive unchanged");
            }
            if let Some(i) = value.as_i64() {
                prop_assert_eq!(&item.value, &i.to_string());
            }
            if let Some(b) = value.as_bool() {
                prop_assert_eq!(&item.value, &b.to_string());
            }
        }
    }

    #[test]
    fn mutated_components_never_panic(
        (doc, _) in component_doc(),
        at in any::<usize>(),
        bytes in prop::collection::vec(any::<u8>(), 1..12),
    ) {
        let mut text = String::new();
        to_yaml(&doc, 0, &mut text);
        load("m.yaml", &mutate(&text, at, &bytes));
    }

    #[test]
    fn documents_split_cover_the_file(text in "((a: b|---|--- x|  - c: d|)\\n){0,20}") {
        let docs = split_documents(&text);
        prop_assert!(!docs.is_empty());
        let total = text.lines().count() + 1;
        for (line, body) in &docs {
            prop_assert!(*line >= 1 && *line <= total);
            prop_assert!(text.contains(body));
        }
    }

    #[test]
    fn properties_never_panic_and_never_print_values(
        map in prop::collection::hash_map("\\PC{1,10}", "\\PC{0,20}", 0..8),
    ) {
        let lowered: std::collections::HashSet<String> = map.keys().map(|k| k.to_lowercase()).collect();
        match Properties::new(map.clone()) {
            Ok(p) => {
                prop_assert_eq!(lowered.len(), map.len());
                for (k, v) in &map {
                    prop_assert_eq!(p.exact(k), Some(v.as_str()));
                    // Lookups fold ASCII case only (every field name is ASCII).
                    prop_assert_eq!(p.get(&k.to_ascii_uppercase()), Some(v.as_str()));
                }
                decode_everything(&p);
                let debug = format!("{p:?}");
                for v in map.values().filter(|v| v.len() >= 12) {
                    if !map.keys().any(|k| k.contains(v.as_str())) {
                        prop_assert!(!debug.contains(v.as_str()), "Debug leaks a value");
                    }
                }
            }
            Err(e) => {
                prop_assert!(lowered.len() < map.len(), "refused without a collision: {}", e);
            }
        }
    }

    #[test]
    fn typed_decoders_take_any_text(value in prop_oneof!["\\PC{0,30}", "[0-9.+-]{0,12}[a-zA-Z]{0,3}", "-?[0-9]{1,25}(ms|s|m|h|us|ns|Ki|Mi|Gi|k|M|G|E|Ei)?"]) {
        let p = Properties::from_pairs([
            ("n", value.as_str()), ("d", value.as_str()), ("b", value.as_str()), ("q", value.as_str()),
        ]);
        decode_everything(&p);
        let _ = parse_quantity(&value);
    }
}

const FIELDS: &[Field] = &[
    Field::new("n", FieldType::Number, "n").default_value("5"),
    Field::new("d", FieldType::Duration, "d"),
    Field::new("b", FieldType::Bool, "b"),
    Field::new("q", FieldType::String, "q"),
    Field::new("x", FieldType::String, "x").aliases(&["n", "d"]),
    Field::new("e", FieldType::Bool, "e").exact_case(),
];

fn decode_everything(p: &Properties) {
    for f in FIELDS {
        let _ = p.raw(f);
        let _ = p.number::<u16>(f);
        let _ = p.number::<i64>(f);
        let _ = p.number::<f64>(f);
        let _ = p.duration(f);
        let _ = p.bytesize(f);
        let _ = p.bool(f);
        let _ = p.required_string(f, "required");
        if matches!(f.ty, FieldType::String) {
            let _ = p.string(f);
        }
    }
}

#[test]
fn corpus_manifest_replays() {
    for (name, bytes) in corpus("manifest") {
        let text = String::from_utf8_lossy(&bytes);
        let started = std::time::Instant::now();
        let results = load(&name, &text);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{name} took {:?}",
            started.elapsed()
        );
        if name.starts_with("ok-") {
            assert!(
                results.iter().all(|r| r.is_ok())
                    && results.iter().any(|r| matches!(r, Ok(Some(_)))),
                "{name}: {results:?}"
            );
        }
    }
}

#[test]
fn corpus_properties_replays() {
    for (name, bytes) in corpus("properties") {
        let text = String::from_utf8_lossy(&bytes);
        let mut map = HashMap::new();
        for line in text.lines() {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            map.insert(k.to_owned(), v.to_owned());
        }
        match Properties::new(map) {
            Ok(p) => decode_everything(&p),
            Err(e) => assert!(!e.to_string().is_empty(), "{name}"),
        }
        for line in text.lines() {
            let _ = parse_quantity(line.split_once('=').map_or(line, |(_, v)| v));
        }
    }
}
