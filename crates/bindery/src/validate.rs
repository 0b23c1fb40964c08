//! `bindery validate`: checks component files offline with the same pure check start-up and
//! hot reload run (`bindery_core::check`), and prints every finding at its line and column.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bindery_core::check::{self, CheckedBinding, Diagnostic, Mode, Severity};
use bindery_core::manifest::{Component, LoadError, parse_documents};
use bindery_core::resiliency::{Resiliency, ResiliencyConfig};
use bindery_runtime::Registry;
use bindery_runtime::loader::resource_files;
use bindery_runtime::secrets;

pub fn main(paths: Vec<String>, strict: bool) -> ExitCode {
    let paths = if paths.is_empty() {
        vec!["./components".to_owned()]
    } else {
        paths
    };
    let registry = Registry::new(bindery_bindings::registry());
    let report = check_paths(&paths, &registry);
    report.print(strict)
}

/// Everything found in the given paths.
#[derive(Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    pub components: usize,
    pub resiliencies: usize,
    /// Component documents that could not be read (already reported).
    pub unreadable: usize,
    /// File texts, for the snippet under each finding.
    texts: Vec<(String, String)>,
}

impl Report {
    fn error(&mut self, error: LoadError) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            column: error.column,
            error,
        });
    }

    pub fn errors(&self, strict: bool) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.is_error() || strict)
            .count()
    }

    fn print(mut self, strict: bool) -> ExitCode {
        self.diagnostics.sort_by(|a, b| {
            (&a.error.file, a.error.line, a.column).cmp(&(&b.error.file, b.error.line, b.column))
        });
        for d in &self.diagnostics {
            let label = if strict { Severity::Error } else { d.severity };
            let shown = Diagnostic {
                severity: label,
                ..d.clone()
            };
            eprintln!("{shown}");
            if let Some(snippet) = self.snippet(d) {
                eprint!("{snippet}");
            }
        }
        let what = if self.resiliencies == 0 {
            format!("{} component(s)", self.components)
        } else {
            format!(
                "{} component(s) and {} resiliency document(s)",
                self.components, self.resiliencies
            )
        };
        let errors = self.errors(strict);
        let warnings = self.diagnostics.len() - self.errors(false);
        if errors == 0 {
            let note = if warnings == 0 {
                String::new()
            } else {
                format!(" ({warnings} warning(s))")
            };
            println!("{what} valid{note}.");
            ExitCode::SUCCESS
        } else {
            let note = if strict || warnings == 0 {
                String::new()
            } else {
                format!(" and {warnings} warning(s)")
            };
            eprintln!("{errors} error(s){note} in {what}.");
            ExitCode::FAILURE
        }
    }

    /// The line a finding is about, with a caret under its column.
    fn snippet(&self, d: &Diagnostic) -> Option<String> {
        let (line, column) = (d.error.line?, d.column?);
        let (_, text) = self.texts.iter().find(|(f, _)| *f == d.error.file)?;
        let source = text.lines().nth(line.checked_sub(1)? as usize)?;
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let caret = " ".repeat(column.saturating_sub(1) as usize);
        Some(format!(
            "{pad} --> {}:{line}:{column}\n{line} | {source}\n{pad} | {caret}^\n",
            d.error.file
        ))
    }
}

/// Checks every file of every path, as start-up would load them.
pub fn check_paths(paths: &[String], registry: &Registry) -> Report {
    let mut report = Report::default();
    let mut components = Vec::new();
    let mut resiliencies = Vec::new();
    for path in paths.iter().map(PathBuf::from) {
        let files = if path.is_dir() {
            match resource_files(&path) {
                Ok(files) => files,
                Err(e) => {
                    report.error(e);
                    continue;
                }
            }
        } else {
            vec![path]
        };
        for file in files {
            read_file(&file, &mut report, &mut components, &mut resiliencies);
        }
    }
    report.components = components.len() + report.unreadable;
    report.resiliencies = resiliencies.len();
    if components.is_empty() && resiliencies.is_empty() && report.unreadable == 0 {
        report.error(LoadError {
            file: paths.join(", "),
            line: None,
            column: None,
            component: None,
            field: None,
            message: "nothing to load: no `kind: Component` or `kind: Resiliency` document (apiVersion dapr.io/v1alpha1) in these paths".to_owned(),
        });
    }
    // Targets may name policies defined in another document, as daprd merges them all.
    if let Err(e) = ResiliencyConfig::merge(&resiliencies) {
        report.error(locate_resiliency_error(e));
    }
    check_components(&components, registry, &mut report);
    report
}

fn read_file(
    file: &Path,
    report: &mut Report,
    components: &mut Vec<Component>,
    resiliencies: &mut Vec<Resiliency>,
) {
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            report.error(LoadError {
                file: name,
                line: None,
                column: None,
                component: None,
                field: None,
                message: format!("cannot read file: {e}"),
            });
            return;
        }
    };
    for doc in parse_documents(&name, &text) {
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                report.error(e);
                continue;
            }
        };
        check::check_document(&doc, &mut report.diagnostics);
        match Resiliency::from_document(&doc) {
            Ok(Some(r)) => {
                resiliencies.push(r);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                report.error(locate(e, &text));
                continue;
            }
        }
        match Component::from_document(&doc) {
            Ok(Some(c)) => components.push(c),
            Ok(None) => {}
            Err(e) => {
                report.unreadable += 1;
                report.error(e);
            }
        }
    }
    report.texts.push((name, text));
}

/// The per-component and cross-component checks, offline: secret and env references count as
/// given, since their values are only known at start-up.
fn check_components(components: &[Component], registry: &Registry, report: &mut Report) {
    report
        .diagnostics
        .extend(check::duplicate_names(components));
    let stores: HashSet<&str> = components
        .iter()
        .filter(|c| secrets::is_secret_store_type(&c.spec_type))
        .map(|c| c.name.as_str())
        .collect();
    let mut checked: Vec<(&Component, CheckedBinding)> = Vec::new();
    for component in components {
        let spec_type = component.spec_type.to_lowercase();
        if spec_type.starts_with("secretstores.") || !spec_type.starts_with("bindings.") {
            continue;
        }
        check::check_references(component, &|s| stores.contains(s), &mut report.diagnostics);
        let (values, deferred) = offline_values(component);
        let binding = check::check_binding(
            component,
            check::Values {
                values,
                deferred: &deferred,
            },
            registry,
            Mode::Validate,
            &mut report.diagnostics,
        );
        if let Some(binding) = binding {
            checked.push((component, binding));
        }
    }
    let outputs: HashSet<&str> = checked
        .iter()
        .filter(|(_, b)| b.wants_output())
        .map(|(c, _)| c.name.as_str())
        .collect();
    report.diagnostics.extend(check::dangling_dead_letters(
        checked
            .iter()
            .filter(|(_, b)| b.wants_input())
            .map(|(c, b)| (*c, &b.delivery)),
        &|name| outputs.contains(name),
    ));
}

fn offline_values(
    component: &Component,
) -> (std::collections::HashMap<String, String>, HashSet<String>) {
    let mut values = std::collections::HashMap::new();
    let mut deferred = HashSet::new();
    for item in &component.metadata {
        let value = if item.secret_key_ref.is_some() || (item.env_ref.is_some() && !item.has_value)
        {
            deferred.insert(item.name.to_lowercase());
            "<resolved at start-up>".to_owned()
        } else {
            item.value.clone()
        };
        values.insert(item.name.clone(), value);
    }
    (values, deferred)
}

/// Points a Resiliency error at the line of its field, read from the file again.
fn locate_resiliency_error(e: LoadError) -> LoadError {
    match std::fs::read_to_string(&e.file) {
        Ok(text) => locate(e, &text),
        Err(_) => e,
    }
}

fn locate(mut e: LoadError, text: &str) -> LoadError {
    if let (Some(field), Some(line), None) = (&e.field, e.line, e.column) {
        e.line = Some(path_line(text, line, field));
    }
    e
}

/// The line of a dotted YAML path (`spec.policies.retries.fast.duration`) inside the
/// document starting at `start_line`: each key is looked for below the previous one; a key
/// written inline (`{retry: fast}`) keeps the line of its parent.
fn path_line(text: &str, start_line: u32, path: &str) -> u32 {
    let lines: Vec<&str> = text.lines().collect();
    let mut current = start_line.saturating_sub(1) as usize;
    for segment in path.split('.') {
        let key = format!("{}:", segment.to_lowercase());
        let found = lines
            .iter()
            .enumerate()
            .skip(current)
            .take_while(|(i, l)| *i == current || !l.trim_start().starts_with("---"))
            .find(|(_, l)| {
                let l = l.trim().trim_start_matches('-').trim().to_lowercase();
                l.starts_with(&key) || l.starts_with(&format!("\"{}\":", segment.to_lowercase()))
            });
        if let Some((i, _)) = found {
            current = i;
        }
    }
    u32::try_from(current + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resiliency_errors_point_at_their_line() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\nspec:\n  policies:\n    retries:\n      fast:\n        policy: constant\n        duration: 1x\n";
        let doc = parse_documents("r.yaml", text).remove(0).unwrap();
        let err = Resiliency::from_document(&doc).unwrap_err();
        let err = locate(err, text);
        assert_eq!(err.line, Some(10), "{err}");
        assert!(
            err.to_string()
                .starts_with("r.yaml:10: field spec.policies.retries.fast.duration"),
            "{err}"
        );
    }
}
