//! Hot reload: the resources folders are watched, and a change is applied as a diff. Only the
//! components whose definition changed restart. A definition that does not build leaves the
//! running component untouched. Output calls never see a gap: the new binding replaces the old
//! one in a single map update, and the old one closes once its in-flight calls have finished.
//! An input binding being replaced stops taking events and finishes (or nacks) those in
//! flight before the new one starts.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bindery_core::manifest::Component;
use notify::{RecursiveMode, Watcher};

use crate::loader::load_resources;
use crate::resiliency::Resiliency;
use crate::runtime::{OutputEntry, Runtime, resiliency_documents};
use crate::secrets;
use crate::telemetry::Reloaded;

/// What one reload did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    /// Components whose new definition was refused; the running one stays.
    pub rejected: Vec<String>,
}

impl ReloadSummary {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.updated.is_empty()
            && self.removed.is_empty()
            && self.rejected.is_empty()
    }
}

/// Two definitions are the same component when everything but their position in a file is.
fn same_definition(a: &Component, b: &Component) -> bool {
    a.spec_type == b.spec_type
        && a.version == b.version
        && a.ignore_errors == b.ignore_errors
        && a.init_timeout == b.init_timeout
        && a.metadata == b.metadata
        && a.secret_store == b.secret_store
        && a.scopes == b.scopes
        && a.namespace == b.namespace
}

fn is_binding(c: &Component) -> bool {
    c.spec_type.to_lowercase().starts_with("bindings.")
}

impl Runtime {
    /// Reads the resources folders again and applies what changed.
    pub async fn reload(self: &Arc<Self>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut resources = match load_resources(&self.config) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "Reload refused: the resources cannot be loaded; the running components stay.");
                self.telemetry.emit(Reloaded { summary: None });
                return summary;
            }
        };
        self.reload_resiliency(&resources.documents, &mut summary);
        let running: HashMap<String, Component> = self.specs.lock().clone();
        // A file with an unreadable document keeps what it defined (loader.rs).
        summary
            .rejected
            .extend(resources.hold_unreadable_files(&running));
        let wanted: HashMap<&str, &Component> = resources
            .components
            .iter()
            .filter(|c| is_binding(c) || secrets::is_secret_store_type(&c.spec_type))
            .map(|c| (c.name.as_str(), c))
            .collect();

        // Secret stores first, as at start-up; bindings that use a changed store rebuild.
        let mut changed_stores = HashSet::new();
        for component in resources
            .components
            .iter()
            .filter(|c| secrets::is_secret_store_type(&c.spec_type))
        {
            let previous = running.get(&component.name);
            if previous.is_some_and(|p| same_definition(p, component)) {
                continue;
            }
            match self.build_secret_store(component) {
                Ok(store) => {
                    self.install_secret_store(component, store);
                    changed_stores.insert(component.name.clone());
                    if previous.is_some() {
                        &mut summary.updated
                    } else {
                        &mut summary.added
                    }
                    .push(component.name.clone());
                }
                Err(e) => {
                    tracing::error!(component = %component.name, error = %e, "Reload refused this secret store; the running one stays.");
                    summary.rejected.push(component.name.clone());
                }
            }
        }

        for component in resources.components.iter().filter(|c| is_binding(c)) {
            let previous = running.get(&component.name);
            let unchanged = previous.is_some_and(|p| same_definition(p, component))
                && !changed_stores.contains(&component.secret_store);
            if unchanged {
                continue;
            }
            tracing::info!(component = %component.name, r#type = %component.spec_type, "Reloading component.");
            match self.build_binding(component).await {
                Ok(built) => {
                    // The old input finishes its in-flight events before the new one reads.
                    self.stop_input(&component.name).await;
                    if let Some(old) = self.install(component, built) {
                        self.close_when_idle(component.name.clone(), old);
                    }
                    tracing::info!(component = %component.name, "Component loaded.");
                    if previous.is_some() {
                        &mut summary.updated
                    } else {
                        &mut summary.added
                    }
                    .push(component.name.clone());
                }
                Err(e) => {
                    tracing::error!(component = %component.name, error = %e,
                        "Reload refused the new definition; the running component stays.");
                    summary.rejected.push(component.name.clone());
                }
            }
        }

        for name in running.keys().filter(|n| !wanted.contains_key(n.as_str())) {
            tracing::info!(component = %name, "Removing component.");
            self.stop_input(name).await;
            if let Some(old) = self.outputs.write().remove(name) {
                self.close_when_idle(name.clone(), old);
            }
            self.stores.write().remove(name);
            self.specs.lock().remove(name);
            self.components.write().retain(|c| &c.name != name);
            summary.removed.push(name.clone());
        }
        if !summary.is_empty() {
            tracing::info!(added = ?summary.added, updated = ?summary.updated, removed = ?summary.removed,
                rejected = ?summary.rejected, "Reload applied.");
        }
        self.telemetry.emit(Reloaded {
            summary: Some(&summary),
        });
        summary
    }

    /// Swaps the resiliency policies when a Resiliency resource changed and still loads.
    fn reload_resiliency(
        &self,
        documents: &[bindery_core::manifest::Document],
        summary: &mut ReloadSummary,
    ) {
        let source = resiliency_documents(documents);
        if *self.resiliency_source.lock() == source {
            return;
        }
        match Resiliency::from_documents(documents, &self.config.app_id) {
            Ok(policies) => {
                *self.resiliency.write() = Arc::new(policies);
                *self.resiliency_source.lock() = source;
                tracing::info!("Resiliency policies reloaded.");
                summary.updated.push("resiliency".to_owned());
            }
            Err(e) => {
                tracing::error!(error = %e, "Reload refused the Resiliency change; the running policies stay.");
                summary.rejected.push("resiliency".to_owned());
            }
        }
    }

    /// Stops one input binding and waits for its in-flight events.
    async fn stop_input(&self, name: &str) {
        let entry = {
            let mut inputs = self.inputs.lock();
            inputs
                .iter()
                .position(|i| i.name() == name)
                .map(|i| inputs.remove(i))
        };
        let Some(mut entry) = entry else { return };
        entry.stop.cancel();
        if let Some(task) = entry.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(self.config.graceful_shutdown, task)
                .await
                .is_err()
            {
                tracing::warn!(binding = %name, "Input binding did not stop in time; aborting it.");
                abort.abort();
            }
        }
    }

    /// Closes a replaced output binding once no call holds it any more.
    fn close_when_idle(&self, name: String, entry: Arc<OutputEntry>) {
        let deadline = self.config.graceful_shutdown;
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            while Arc::strong_count(&entry) > 1 && started.elapsed() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Err(e) = entry.binding.close().await {
                tracing::warn!(binding = %name, error = %e, "Closing the replaced binding failed.");
            }
        });
    }

    /// Watches the resources folders and reloads on every change (debounced), until shutdown.
    pub fn watch_resources(self: &Arc<Self>) -> Result<(), String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = tx.send(());
                }
            })
            .map_err(|e| format!("cannot watch the resources paths: {e}"))?;
        let paths: Vec<PathBuf> = self.config.resources_paths.clone();
        for path in &paths {
            watcher
                .watch(path, RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
        }
        let runtime = Arc::downgrade(self);
        let shutdown = self.shutdown_token().clone();
        tokio::spawn(async move {
            let _watcher = watcher;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    event = rx.recv() => if event.is_none() { return },
                }
                // Editors save in several steps: wait for the folder to settle.
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => break,
                        more = rx.recv() => if more.is_none() { return },
                    }
                }
                let Some(runtime) = runtime.upgrade() else {
                    return;
                };
                runtime.reload().await;
            }
        });
        Ok(())
    }
}
