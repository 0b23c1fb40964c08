//! Reads resources folders the way daprd's standalone loader does, then resolves each
//! component's metadata (env refs, secret refs, templates) into the flat map components see.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bindery_core::manifest::{Component, Document, LoadError, parse_documents};

use crate::config::RuntimeConfig;
use crate::secrets::{SecretStore, is_denied_env_name};
use crate::templates;

/// Everything found in the resources paths.
#[derive(Debug, Default)]
pub struct Resources {
    /// Components kept after the namespace and scope filters, in load order.
    pub components: Vec<Component>,
    /// Every `dapr.io/v1alpha1` document, for other kinds (Resiliency, Configuration).
    pub documents: Vec<Document>,
    /// Documents skipped because they could not be read; daprd logs and skips these.
    pub skipped: Vec<LoadError>,
}

impl Resources {
    /// The files in which at least one document could not be read, in name order.
    pub fn unreadable_files(&self) -> BTreeSet<&str> {
        self.skipped.iter().map(|e| e.file.as_str()).collect()
    }

    /// For a reload: a file with a document that cannot be read is refused as a whole. Every
    /// component it defined before (`running`, by name) stays exactly as it runs, and nothing
    /// new from that file is added; the file's other documents are not applied either, so a
    /// half-read file never removes or changes a working component. Returns the names whose
    /// definition the reload therefore did not apply (changed, gone or new), for the summary's
    /// `rejected`. Start-up keeps daprd's behaviour (skip the document, load the rest).
    pub fn hold_unreadable_files(&mut self, running: &HashMap<String, Component>) -> Vec<String> {
        let files: BTreeSet<String> = self
            .unreadable_files()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut rejected = Vec::new();
        for file in &files {
            let held_before = rejected.len();
            let (from_file, rest): (Vec<Component>, Vec<Component>) =
                std::mem::take(&mut self.components)
                    .into_iter()
                    .partition(|c| &c.file == file);
            self.components = rest;
            let mut before: Vec<&Component> =
                running.values().filter(|c| &c.file == file).collect();
            before.sort_by_key(|c| c.line);
            for new in &from_file {
                if !before
                    .iter()
                    .any(|old| old.name == new.name && same_but_position(old, new))
                {
                    rejected.push(new.name.clone());
                }
            }
            for old in before {
                // A component moved to a readable file takes its new definition from there.
                if self.components.iter().any(|c| c.name == old.name) {
                    continue;
                }
                if !from_file
                    .iter()
                    .any(|c| c.name == old.name && same_but_position(old, c))
                    && !rejected.contains(&old.name)
                {
                    rejected.push(old.name.clone());
                }
                self.components.push(old.clone());
            }
            tracing::error!(file = %file, held = ?&rejected[held_before..],
                "Reload refused a file with a document that cannot be read; the components it defined stay as they were.");
        }
        rejected
    }
}

fn same_but_position(a: &Component, b: &Component) -> bool {
    let mut a = a.clone();
    a.line = b.line;
    a == *b
}

/// Lists the resource files of a folder: top level only, `.yaml`/`.yml`, sorted by name.
pub fn resource_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
        file: dir.display().to_string(),
        line: None,
        column: None,
        component: None,
        field: None,
        message: format!("cannot read resources path: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .filter(|p| {
            let yaml = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_lowercase().as_str(), "yaml" | "yml"));
            if !yaml {
                tracing::warn!(file = %p.display(), "Skipping a file that is not .yaml or .yml.");
            }
            yaml
        })
        .collect())
}

/// Loads every folder in order, applying daprd's filters. Duplicate component names are fatal.
pub fn load_resources(config: &RuntimeConfig) -> Result<Resources, LoadError> {
    let mut resources = Resources::default();
    for dir in &config.resources_paths {
        for file in resource_files(dir)? {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| LoadError {
                file: name.clone(),
                line: None,
                column: None,
                component: None,
                field: None,
                message: format!("cannot read file: {e}"),
            })?;
            add_file(&mut resources, &name, &text, config);
        }
    }
    if let Some(duplicate) = bindery_core::check::duplicate_names(&resources.components)
        .into_iter()
        .next()
    {
        return Err(duplicate.error);
    }
    Ok(resources)
}

fn add_file(resources: &mut Resources, file: &str, text: &str, config: &RuntimeConfig) {
    for doc in parse_documents(file, text) {
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(error = %e, "Skipping a document that cannot be read.");
                resources.skipped.push(e);
                continue;
            }
        };
        match Component::from_document(&doc) {
            Ok(Some(component)) => {
                if !config.namespace.is_empty()
                    && !component.namespace.is_empty()
                    && component.namespace != config.namespace
                {
                    tracing::debug!(component = %component.name, "Skipping a component of another namespace.");
                } else if !component.scopes.is_empty() && !component.scopes.contains(&config.app_id)
                {
                    tracing::debug!(component = %component.name, "Skipping a component scoped to other apps.");
                } else {
                    resources.components.push(component);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "Skipping a component that cannot be read.");
                resources.skipped.push(e);
            }
        }
        if doc.api_version() == Some(bindery_core::manifest::API_VERSION) {
            resources.documents.push(doc);
        }
    }
}

/// Resolves one component's metadata into the map its binding receives.
pub fn resolve_metadata(
    component: &Component,
    stores: &HashMap<String, std::sync::Arc<dyn SecretStore>>,
    config: &RuntimeConfig,
) -> Result<HashMap<String, String>, LoadError> {
    let error = |field: String, message: String| LoadError {
        file: component.file.clone(),
        line: Some(component.line),
        column: None,
        component: Some(component.name.clone()),
        field: Some(field),
        message,
    };
    let env_allow_list = std::env::var("DAPR_ENV_KEYS").ok();
    let mut secret_cache: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut out = HashMap::new();
    for (i, item) in component.metadata.iter().enumerate() {
        let field = || format!("spec.metadata[{i}] ({})", item.name);
        let mut value = item.value.clone();
        if let (Some(var), false) = (&item.env_ref, item.has_value) {
            let allowed = !is_denied_env_name(var)
                && env_allow_list
                    .as_deref()
                    .is_none_or(|list| list.split_whitespace().any(|k| k == var));
            if allowed {
                value = std::env::var(var).unwrap_or_default();
            } else {
                tracing::warn!(component = %component.name, field = %item.name, variable = %var,
                    "envRef names a variable components may not read; the value stays empty.");
            }
        }
        if let Some(secret) = &item.secret_key_ref {
            if component.secret_store.is_empty() {
                return Err(error(
                    field(),
                    "uses secretKeyRef but the component has no auth.secretStore (daprd would never initialise it)".to_owned(),
                ));
            }
            let store = stores.get(&component.secret_store).ok_or_else(|| {
                error(
                    "auth.secretStore".to_owned(),
                    format!("secret store {:?} is not loaded", component.secret_store),
                )
            })?;
            if !secret_cache.contains_key(&secret.name) {
                match store.get_secret(&secret.name) {
                    Ok(pairs) => {
                        secret_cache.insert(secret.name.clone(), pairs);
                    }
                    Err(e) => {
                        tracing::warn!(component = %component.name, field = %item.name, error = %e,
                            "Cannot read the secret; the value stays as written.");
                    }
                }
            }
            let key = if secret.key.is_empty() {
                &secret.name
            } else {
                &secret.key
            };
            if let Some(v) = secret_cache
                .get(&secret.name)
                .and_then(|p| p.get(key))
                .filter(|v| !v.is_empty())
            {
                value = v.clone();
            }
        }
        let value = templates::apply(
            &value,
            &config.app_id,
            &config.namespace,
            config.pod_name.as_deref(),
        )
        .map_err(|e| error(field(), e))?;
        out.insert(item.name.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn component(name: &str, extra: &str) -> String {
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n{extra}spec:\n  type: bindings.cron\n  metadata:\n  - name: schedule\n    value: '@every 1s'\n"
        )
    }

    fn config(dir: &Path) -> RuntimeConfig {
        RuntimeConfig {
            app_id: "myapp".into(),
            resources_paths: vec![dir.to_path_buf()],
            ..RuntimeConfig::default()
        }
    }

    #[test]
    fn reads_top_level_yaml_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.yaml"), component("second", "")).unwrap();
        fs::write(dir.path().join("a.YML"), component("first", "")).unwrap();
        fs::write(dir.path().join("c.txt"), component("ignored", "")).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/d.yaml"), component("nested", "")).unwrap();
        let r = load_resources(&config(dir.path())).unwrap();
        let names: Vec<&str> = r.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
    }

    #[test]
    fn scopes_and_namespaces_filter() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("a.yaml"),
            component("mine", "")
                + "scopes: [myapp]\n---\n"
                + &component("theirs", "")
                + "scopes: [other]\n---\n"
                + &component("nsother", "  namespace: prod\n")
                + "---\n"
                + &component("nsmine", "  namespace: dev\n"),
        )
        .unwrap();
        let mut cfg = config(dir.path());
        cfg.namespace = "dev".into();
        let r = load_resources(&cfg).unwrap();
        let names: Vec<&str> = r.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["mine", "nsmine"]);
    }

    #[test]
    fn duplicates_are_fatal_and_bad_documents_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("a.yaml"),
            component("x", "") + "---\nkind: [broken\n",
        )
        .unwrap();
        let r = load_resources(&config(dir.path())).unwrap();
        assert_eq!(r.components.len(), 1);
        assert_eq!(r.skipped.len(), 1);
        fs::write(dir.path().join("b.yaml"), component("x", "")).unwrap();
        let err = load_resources(&config(dir.path())).unwrap_err();
        assert!(
            err.message
                .contains("duplicate definition of Component name x"),
            "{err}"
        );
    }

    fn running_from(dir: &Path) -> HashMap<String, Component> {
        load_resources(&config(dir))
            .unwrap()
            .components
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect()
    }

    #[test]
    fn an_unreadable_file_keeps_every_component_it_defined() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.yaml");
        fs::write(
            &f,
            component("a", "")
                + "---
" + &component("b", ""),
        )
        .unwrap();
        fs::write(dir.path().join("g.yaml"), component("g", "")).unwrap();
        let running = running_from(dir.path());

        // A typo that makes the whole file unreadable.
        fs::write(
            &f,
            component("a", "").replace("kind: Component", "kind: [Component"),
        )
        .unwrap();
        fs::write(dir.path().join("g.yaml"), component("g2", "")).unwrap();
        let mut r = load_resources(&config(dir.path())).unwrap();
        assert_eq!(r.unreadable_files().len(), 1);
        let mut held = r.hold_unreadable_files(&running);
        held.sort();
        assert_eq!(held, ["a", "b"]);
        let mut names: Vec<&str> = r.components.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["a", "b", "g2"], "the readable file still applies");
        assert_eq!(
            r.components.iter().find(|c| c.name == "a"),
            running.get("a")
        );

        // One bad document: the readable ones in the same file are not applied either.
        fs::write(
            &f,
            component("a", "").replace("@every 1s", "@every 2s")
                + "---
kind: [broken
---
" + &component("c", ""),
        )
        .unwrap();
        let mut r = load_resources(&config(dir.path())).unwrap();
        let mut held = r.hold_unreadable_files(&running);
        held.sort();
        assert_eq!(held, ["a", "b", "c"]);
        let a = r.components.iter().find(|c| c.name == "a").unwrap();
        assert_eq!(
            a.metadata, running["a"].metadata,
            "a keeps its running definition"
        );
        assert!(
            !r.components.iter().any(|c| c.name == "c"),
            "nothing new from a refused file"
        );

        // Fixed: nothing is held any more.
        fs::write(&f, component("a", "")).unwrap();
        let mut r = load_resources(&config(dir.path())).unwrap();
        assert!(r.hold_unreadable_files(&running).is_empty());
        assert!(
            !r.components.iter().any(|c| c.name == "b"),
            "b is really deleted now"
        );
    }

    #[test]
    fn an_unchanged_component_of_a_broken_file_is_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.yaml");
        fs::write(
            &f,
            component("a", "")
                + "---
kind: [broken
",
        )
        .unwrap();
        let running = running_from(dir.path());
        let mut r = load_resources(&config(dir.path())).unwrap();
        assert!(r.hold_unreadable_files(&running).is_empty());
        assert_eq!(r.components.len(), 1);
    }

    #[test]
    fn missing_folder_is_an_error_naming_it() {
        let err = load_resources(&config(Path::new("/nonexistent/bindery"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/bindery"), "{err}");
    }

    #[test]
    fn env_refs_secrets_and_templates_resolve() {
        struct Fixed;
        impl SecretStore for Fixed {
            fn get_secret(&self, name: &str) -> Result<HashMap<String, String>, String> {
                Ok(HashMap::from([
                    (name.to_owned(), format!("secret-{name}")),
                    ("other".to_owned(), "o".to_owned()),
                ]))
            }
        }
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\nspec:\n  type: bindings.http\n  metadata:\n  - name: home\n    envRef: PATH\n  - name: denied\n    envRef: DAPR_API_TOKEN\n  - name: token\n    secretKeyRef: {name: TOKEN}\n  - name: keyed\n    secretKeyRef: {name: TOKEN, key: other}\n  - name: id\n    value: '{appID}'\nauth:\n  secretStore: s\n";
        let doc = parse_documents("f.yaml", text).remove(0).unwrap();
        let c = Component::from_document(&doc).unwrap().unwrap();
        let stores: HashMap<String, std::sync::Arc<dyn SecretStore>> = HashMap::from([(
            "s".to_owned(),
            std::sync::Arc::new(Fixed) as std::sync::Arc<dyn SecretStore>,
        )]);
        let cfg = RuntimeConfig {
            app_id: "app1".into(),
            ..RuntimeConfig::default()
        };
        let m = resolve_metadata(&c, &stores, &cfg).unwrap();
        assert_eq!(m["home"], std::env::var("PATH").unwrap());
        assert_eq!(m["denied"], "");
        assert_eq!(m["token"], "secret-TOKEN");
        assert_eq!(m["keyed"], "o");
        assert_eq!(m["id"], "app1");
        let err = resolve_metadata(&c, &HashMap::new(), &cfg).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("auth.secretStore"));
    }
}
