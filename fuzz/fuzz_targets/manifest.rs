//! The component-file loader and the one component check, as `bindery validate` and start-up
//! run them on a file: documents split and parsed, `Component`/`Resiliency`/`Configuration`
//! read, then every per-component and cross-component check in both modes. Nothing panics,
//! and every error names its file and a line inside it.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use bindery_core::Component;
use bindery_core::check::{self, Diagnostic, Mode};
use bindery_core::configuration::Configuration;
use bindery_core::manifest::{LoadError, parse_documents};
use bindery_core::registry::Registry;
use bindery_core::resiliency::Resiliency;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz.yaml";

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::new(bindery_bindings::registry()));

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 and refuses others before parsing; keep the rest.
    let text = String::from_utf8_lossy(data);
    // YAML's line breaks (CR LF, CR, LF), as the parser counts lines and editors show them: a
    // bare CR starts a line too (`str::lines` alone would count fewer).
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .lines()
        .count() as u32
        + 1;
    let assert_located = |e: &LoadError| {
        assert_eq!(e.file, FILE, "{e}");
        if let Some(line) = e.line {
            assert!(line >= 1 && line <= lines, "line {line} of {lines}: {e}");
        }
        assert!(!e.message.is_empty());
        assert!(e.to_string().starts_with(FILE));
    };
    let mut diagnostics = Vec::new();
    let mut components = Vec::new();
    for doc in parse_documents(FILE, &text) {
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                assert!(e.line.is_some(), "a parse error has a line: {e}");
                assert_located(&e);
                continue;
            }
        };
        check::check_document(&doc, &mut diagnostics);
        if let Err(e) = Resiliency::from_document(&doc) {
            assert_located(&e);
        }
        if let Err(e) = Configuration::from_document(&doc) {
            assert_located(&e);
        }
        match Component::from_document(&doc) {
            Ok(Some(c)) => components.push(c),
            Ok(None) => {}
            Err(e) => {
                assert!(e.line.is_some(), "a component error has a line: {e}");
                assert_located(&e);
            }
        }
    }
    check_components(&components, &mut diagnostics);
    for d in &diagnostics {
        assert_located(&d.error);
        let _ = d.to_string();
    }
});

/// `bindery validate`'s cross-component pass, then start-up's (its values as given).
fn check_components(components: &[Component], out: &mut Vec<Diagnostic>) {
    out.extend(check::duplicate_names(components));
    let stores: HashSet<&str> = components
        .iter()
        .filter(|c| c.spec_type.to_lowercase().starts_with("secretstores."))
        .map(|c| c.name.as_str())
        .collect();
    for mode in [Mode::Validate, Mode::Runtime] {
        let mut inputs = Vec::new();
        let mut outputs = HashSet::new();
        for component in components {
            if !component.spec_type.to_lowercase().starts_with("bindings.") {
                continue;
            }
            check::check_references(component, &|s| stores.contains(s), out);
            let deferred: HashSet<String> = component
                .metadata
                .iter()
                .filter(|i| mode == Mode::Validate && i.secret_key_ref.is_some())
                .map(|i| i.name.to_lowercase())
                .collect();
            let values: HashMap<String, String> = component
                .metadata
                .iter()
                .map(|i| (i.name.clone(), i.value.clone()))
                .collect();
            let values = check::Values {
                values,
                deferred: &deferred,
            };
            if let Some(binding) = check::check_binding(component, values, &REGISTRY, mode, out) {
                if binding.wants_output() {
                    outputs.insert(component.name.as_str());
                }
                if binding.wants_input() {
                    inputs.push((component, binding.delivery));
                }
            }
        }
        out.extend(check::dangling_dead_letters(
            inputs.iter().map(|(c, d)| (*c, d)),
            &|name| outputs.contains(name),
        ));
    }
}
