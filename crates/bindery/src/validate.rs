//! `bindery validate`: checks component files offline, with every error located.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bindery_core::Properties;
use bindery_core::manifest::{Component, LoadError, parse_documents};
use bindery_core::resiliency::{DeliveryOptions, Resiliency, ResiliencyConfig};
use bindery_runtime::Registry;
use bindery_runtime::loader::resource_files;

pub fn main(paths: Vec<String>) -> ExitCode {
    let paths = if paths.is_empty() {
        vec!["./components".to_owned()]
    } else {
        paths
    };
    let registry = Registry::new(bindery_bindings::registry());
    let mut errors = Vec::new();
    let mut checked = 0usize;
    let mut resiliencies = Vec::new();
    for path in paths.iter().map(PathBuf::from) {
        let files = if path.is_dir() {
            match resource_files(&path) {
                Ok(files) => files,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        } else {
            vec![path]
        };
        for file in files {
            checked += check_file(&file, &registry, &mut errors, &mut resiliencies);
        }
    }
    // Targets may name policies defined in another document, as daprd merges them all.
    if let Err(e) = ResiliencyConfig::merge(&resiliencies) {
        errors.push(locate_resiliency_error(e));
    }
    let resiliency_count = resiliencies.len();
    for e in &errors {
        eprintln!("error: {e}");
    }
    let what = if resiliency_count == 0 {
        format!("{checked} component(s)")
    } else {
        format!("{checked} component(s) and {resiliency_count} resiliency document(s)")
    };
    if errors.is_empty() {
        println!("{what} valid.");
        ExitCode::SUCCESS
    } else {
        eprintln!("{} error(s) in {what}.", errors.len());
        ExitCode::FAILURE
    }
}

/// Validates one file; returns how many components it held. Resiliency documents are decoded
/// and collected for the cross-document reference check.
pub fn check_file(
    file: &Path,
    registry: &Registry,
    errors: &mut Vec<LoadError>,
    resiliencies: &mut Vec<Resiliency>,
) -> usize {
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            errors.push(LoadError {
                file: name,
                line: None,
                column: None,
                component: None,
                field: None,
                message: format!("cannot read file: {e}"),
            });
            return 0;
        }
    };
    let mut count = 0;
    for doc in parse_documents(&name, &text) {
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match Resiliency::from_document(&doc) {
            Ok(Some(r)) => {
                resiliencies.push(r);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                errors.push(locate(e, &text));
                continue;
            }
        }
        let component = match Component::from_document(&doc) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        count += 1;
        if let Err(e) = check_component(&component, registry, &text) {
            errors.push(e);
        }
    }
    count
}

fn check_component(
    component: &Component,
    registry: &Registry,
    text: &str,
) -> Result<(), LoadError> {
    let spec_type = component.spec_type.to_lowercase();
    if spec_type.starts_with("secretstores.") || !spec_type.starts_with("bindings.") {
        return Ok(());
    }
    let error = |field: Option<String>, message: String| LoadError {
        file: component.file.clone(),
        line: Some(
            field
                .as_deref()
                .and_then(|f| field_line(text, component.line, f))
                .unwrap_or(component.line),
        ),
        column: None,
        component: Some(component.name.clone()),
        field,
        message,
    };
    let descriptor = registry
        .lookup(&component.spec_type, &component.version)
        .ok_or_else(|| {
            error(
                Some("spec.type".to_owned()),
                format!(
                    "unknown binding type {} (version {:?})",
                    component.spec_type, component.version
                ),
            )
        })?;
    // Offline: secret and env references count as given, since their values are not known here.
    let mut values = HashMap::new();
    let mut from_refs = Vec::new();
    for item in &component.metadata {
        let value = if item.secret_key_ref.is_some() || (item.env_ref.is_some() && !item.has_value)
        {
            from_refs.push(item.name.to_lowercase());
            "<resolved at start-up>".to_owned()
        } else {
            item.value.clone()
        };
        values.insert(item.name.clone(), value);
    }
    let properties =
        Properties::new(values).map_err(|e| error(Some(e.field.clone()), e.message))?;
    if descriptor.has_input() {
        DeliveryOptions::from_properties(&properties)
            .map_err(|e| error(Some(e.field.clone()), e.message))?;
    }
    match (descriptor.decode)(&properties, &mut Vec::new()).map(drop) {
        Err(e) if !from_refs.contains(&e.field.to_lowercase()) => {
            Err(error(Some(e.field.clone()), e.message))
        }
        _ => Ok(()),
    }
}

/// The line of `- name: <field>` inside the component's document, to point at the field.
fn field_line(text: &str, start_line: u32, field: &str) -> Option<u32> {
    text.lines()
        .enumerate()
        .skip(start_line.saturating_sub(1) as usize)
        .find(|(_, line)| {
            let l = line.trim().trim_start_matches('-').trim();
            l.strip_prefix("name:")
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == field)
        })
        .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX))
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
