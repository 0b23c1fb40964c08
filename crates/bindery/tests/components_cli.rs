//! `bindery components` and `bindery validate`, through the real binary.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run bindery");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_reference_document_is_in_sync_with_the_code() {
    let (ok, generated, _) = run(&["components", "docs"]);
    assert!(ok);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/components.md");
    let committed = std::fs::read_to_string(path).expect("docs/components.md");
    assert!(
        committed == generated,
        "docs/components.md is stale: regenerate it with `cargo run -- components docs > docs/components.md`"
    );
}

#[test]
fn every_example_validates() {
    let (ok, list, _) = run(&["components"]);
    assert!(ok);
    let types: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(types.len() >= 3, "{list}");
    let dir = tempfile::tempdir().unwrap();
    for t in &types {
        let (ok, example, err) = run(&["components", "example", t]);
        assert!(ok, "{t}: {err}");
        assert!(example.contains(&format!("type: {t}")), "{example}");
        std::fs::write(
            dir.path().join(format!("{}.yaml", t.replace('.', "-"))),
            example,
        )
        .unwrap();
    }
    let (ok, out, err) = run(&["validate", &dir.path().display().to_string()]);
    assert!(ok, "examples must validate:\n{out}\n{err}");
    let (ok, _, err) = run(&["components", "example", "bindings.nope"]);
    assert!(!ok && err.contains("unknown binding type"), "{err}");
}

#[test]
fn validate_reports_file_line_component_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  metadata:\n  - name: other\n    value: x\n  - name: schedule\n    value: \"not a schedule\"\n---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: ghost\nspec:\n  type: bindings.ghost\n---\nkind: [broken\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["validate", &dir.path().display().to_string()]);
    assert!(!ok);
    let file = dir.path().join("bad.yaml").display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:10: component \"tick\": field schedule: invalid schedule format"
        )),
        "{err}"
    );
    assert!(
        err.contains("component \"ghost\": field spec.type: unknown binding type bindings.ghost"),
        "{err}"
    );
    assert!(err.contains("malformed YAML"), "{err}");
    assert!(err.contains("3 error(s)"), "{err}");
}

#[test]
fn every_dapr_conformance_component_file_for_our_types_validates() {
    let corpus = [
        "../shared/dapr-data",
        "../../shared/dapr-data",
        "/work/shared/dapr-data",
    ]
    .iter()
    .map(|p| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(p)
    })
    .chain(
        std::env::var("DAPR_DATA_DIR")
            .ok()
            .map(std::path::PathBuf::from),
    )
    .find(|p| p.join("corpus").is_dir());
    let Some(corpus) = corpus else {
        assert!(
            std::env::var("CI").is_err(),
            "the Dapr corpus (shared/dapr-data) is missing under CI"
        );
        eprintln!("SKIP: shared/dapr-data not found");
        return;
    };
    let (_, list, _) = run(&["components"]);
    let ours: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    let mut checked = 0;
    for entry in walk(&corpus.join("corpus")) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        let mentions_ours = ours.iter().any(|t| text.contains(&format!("type: {t}")));
        // `${{VAR}}` placeholders are filled in by Dapr's test harness, not by daprd.
        let templated = text.contains("${{");
        if !mentions_ours
            || templated
            || !(entry.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        {
            continue;
        }
        let (ok, out, err) = run(&["validate", &entry.display().to_string()]);
        assert!(ok, "{}: {out}{err}", entry.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} corpus files checked");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// People type `cron`, `Cron`, `bindings.cron` or an alias (`postgresql`, `mqtt`): each gives the
/// example of the type it names, and the list shows every alias.
#[test]
fn example_accepts_short_names_aliases_and_any_case() {
    let (ok, list, _) = run(&["components", "list"]);
    assert!(ok);
    let registry = bindery_bindings::registry();
    assert!(!registry.is_empty());
    for d in &registry {
        let short = d.type_name.trim_start_matches("bindings.");
        let (ok, canonical, err) = run(&["components", "example", d.type_name]);
        assert!(ok, "{}: {err}", d.type_name);
        for name in [short.to_owned(), short.to_uppercase()] {
            let (ok, example, err) = run(&["components", "example", &name]);
            assert!(ok, "{name}: {err}");
            assert_eq!(example, canonical, "{name}");
        }
        let line = list
            .lines()
            .find(|l| l.split_whitespace().next() == Some(d.type_name))
            .unwrap_or_else(|| panic!("{} missing from the list:\n{list}", d.type_name));
        assert!(
            line.split_whitespace().any(|w| w == d.status),
            "{line}: no status {}",
            d.status
        );
        for alias in d.aliases {
            assert!(line.contains(alias), "alias {alias} not listed: {line}");
            let alias_short = alias.trim_start_matches("bindings.");
            for name in [*alias, alias_short] {
                let (ok, example, err) = run(&["components", "example", name]);
                assert!(ok, "{name}: {err}");
                assert_eq!(example, canonical, "{name}");
            }
        }
    }
    for (name, wanted) in [
        ("postgresql", "bindings.postgres"),
        ("mqtt", "bindings.mqtt3"),
    ] {
        if registry.iter().any(|d| d.type_name == wanted) {
            let (ok, example, err) = run(&["components", "example", name]);
            assert!(
                ok && example.contains(&format!("type: {wanted}")),
                "{name}: {err}"
            );
        }
    }
    let (ok, _, err) = run(&["components", "example", "nope"]);
    assert!(
        !ok && err.contains("unknown binding type") && err.contains("cron"),
        "{err}"
    );
}

#[test]
fn every_status_is_alpha_beta_or_stable() {
    for d in bindery_bindings::registry() {
        assert!(
            ["alpha", "beta", "stable"].contains(&d.status),
            "{}: status {:?}",
            d.type_name,
            d.status
        );
    }
}

/// A field without a default shows an empty cell, never an empty code span (``).
#[test]
fn the_reference_has_no_empty_code_spans() {
    let (ok, docs, _) = run(&["components", "docs"]);
    assert!(ok);
    for line in docs.lines().filter(|l| !l.trim_start().starts_with("```")) {
        assert!(!line.contains("``"), "empty code span: {line}");
    }
}
