//! Start-up and hot reload are one path: [`Runtime::apply`] turns a set of resources into the
//! next state snapshot, starting from the current one (empty at start-up), and swaps it in one
//! step. Only the components whose definition changed are rebuilt; a definition that does not
//! pass its check or does not build leaves the running component untouched (at start-up it is
//! fatal unless `ignoreErrors`). Output calls never see a gap: the old binding serves until the
//! swap, and closes once its in-flight calls have finished. An input binding being replaced
//! stops taking events and finishes (or nacks) those in flight before the new one starts.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bindery_core::check;
use bindery_core::manifest::{Component, Document, LoadError};
use bindery_core::resiliency::DeliveryOptions;
use notify::{RecursiveMode, Watcher};

pub use crate::state::ReloadSummary;

use crate::loader::{Resources, load_resources};
use crate::resiliency::Resiliency;
use crate::runtime::{Built, InputEntry, Runtime, StartupError, resiliency_documents};
use crate::secrets;
use crate::state::{Apply, ComponentInfo, OutputEntry, State};
use crate::telemetry::Reloaded;

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

/// A reload under construction: the next snapshot and what changes when it is swapped in.
struct Plan {
    next: State,
    summary: ReloadSummary,
    /// Newly built inputs, started after the swap.
    inputs: Vec<(Component, InputEntry)>,
    /// Components whose running input must stop before the swap (updated or removed).
    stopping: Vec<String>,
    /// Output bindings the swap retires; closed once idle.
    retired: Vec<(String, Arc<OutputEntry>)>,
}

impl Plan {
    fn record(&mut self, name: &str, previous: bool) {
        if previous {
            &mut self.summary.updated
        } else {
            &mut self.summary.added
        }
        .push(name.to_owned());
    }
}

impl Runtime {
    /// Reads the resources folders again and applies what changed.
    pub async fn reload(self: &Arc<Self>) -> ReloadSummary {
        let mut resources = match load_resources(&self.config) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "Reload refused: the resources cannot be loaded; the running components stay.");
                self.telemetry.emit(Reloaded { summary: None });
                return ReloadSummary::default();
            }
        };
        // A file with an unreadable document keeps what it defined (loader.rs).
        let running = self.state.read().specs.clone();
        let held = resources.hold_unreadable_files(&running);
        match self.apply(&resources, Apply::Reload).await {
            Ok(mut summary) => {
                summary.rejected.extend(held);
                if !summary.is_empty() {
                    tracing::info!(added = ?summary.added, updated = ?summary.updated, removed = ?summary.removed,
                        rejected = ?summary.rejected, "Reload applied.");
                }
                self.telemetry.emit(Reloaded {
                    summary: Some(&summary),
                });
                summary
            }
            // A reload never fails as a whole: every refusal is a rejection.
            Err(e) => {
                tracing::error!(error = %e, "Reload refused.");
                ReloadSummary::default()
            }
        }
    }

    /// Builds the next state from `resources` and swaps it in.
    pub(crate) async fn apply(
        self: &Arc<Self>,
        resources: &Resources,
        mode: Apply,
    ) -> Result<ReloadSummary, StartupError> {
        let current = self.state.read().clone();
        let mut plan = Plan {
            next: (*current).clone(),
            summary: ReloadSummary::default(),
            inputs: Vec::new(),
            stopping: Vec::new(),
            retired: Vec::new(),
        };
        drop(current);
        self.plan_resiliency(&resources.documents, &mut plan, mode)?;
        let changed_stores = self.plan_secret_stores(resources, &mut plan, mode)?;
        if mode == Apply::Startup {
            self.start_lock_stores(&resources.components, &mut plan.next)
                .await?;
        }
        self.plan_bindings(resources, &changed_stores, &mut plan, mode)
            .await?;
        if mode == Apply::Reload {
            plan_removals(resources, &mut plan);
        }
        self.plan_dead_letters(&mut plan, mode).await?;
        self.commit(plan).await
    }

    /// Swaps the plan's snapshot in: replaced inputs stop first, new ones start after.
    async fn commit(self: &Arc<Self>, plan: Plan) -> Result<ReloadSummary, StartupError> {
        for name in &plan.stopping {
            self.stop_input(name).await;
        }
        *self.state.write() = Arc::new(plan.next);
        for (component, entry) in plan.inputs {
            self.install_input(&component, entry);
        }
        for (name, entry) in plan.retired {
            self.close_when_idle(name, entry);
        }
        Ok(plan.summary)
    }

    /// Swaps the resiliency policies when a Resiliency resource changed and still loads.
    fn plan_resiliency(
        &self,
        documents: &[Document],
        plan: &mut Plan,
        mode: Apply,
    ) -> Result<(), StartupError> {
        let source = resiliency_documents(documents);
        if plan.next.resiliency_source == source {
            return Ok(());
        }
        match Resiliency::from_documents(documents, &self.config.app_id) {
            Ok(policies) => {
                plan.next.resiliency = Arc::new(policies);
                plan.next.resiliency_source = source;
                if mode == Apply::Reload {
                    tracing::info!("Resiliency policies reloaded.");
                    plan.summary.updated.push("resiliency".to_owned());
                }
                Ok(())
            }
            Err(e) if mode == Apply::Startup => Err(e.into()),
            Err(e) => {
                tracing::error!(error = %e, "Reload refused the Resiliency change; the running policies stay.");
                plan.summary.rejected.push("resiliency".to_owned());
                Ok(())
            }
        }
    }

    /// Secret stores first, as daprd does; returns the names of those that changed.
    fn plan_secret_stores(
        &self,
        resources: &Resources,
        plan: &mut Plan,
        mode: Apply,
    ) -> Result<HashSet<String>, StartupError> {
        let mut changed = HashSet::new();
        for component in resources
            .components
            .iter()
            .filter(|c| secrets::is_secret_store_type(&c.spec_type))
        {
            let previous = plan.next.specs.get(&component.name);
            if previous.is_some_and(|p| same_definition(p, component)) {
                continue;
            }
            let previous = previous.is_some();
            match self.build_secret_store(component, &plan.next) {
                Ok(store) => {
                    tracing::info!(component = %component.name, r#type = %component.spec_type, "Component loaded.");
                    self.telemetry.component_running(&component.name);
                    plan.next.stores.insert(component.name.clone(), store);
                    plan.next.set_info(ComponentInfo {
                        name: component.name.clone(),
                        spec_type: component.spec_type.clone(),
                        version: component.version.clone(),
                        input: false,
                        output: false,
                    });
                    plan.next
                        .specs
                        .insert(component.name.clone(), component.clone());
                    changed.insert(component.name.clone());
                    if mode == Apply::Reload {
                        plan.record(&component.name, previous);
                    }
                }
                Err(e) => self.refuse(component, e, plan, mode)?,
            }
        }
        Ok(changed)
    }

    async fn plan_bindings(
        &self,
        resources: &Resources,
        changed_stores: &HashSet<String>,
        plan: &mut Plan,
        mode: Apply,
    ) -> Result<(), StartupError> {
        for component in resources
            .components
            .iter()
            .filter(|c| !secrets::is_secret_store_type(&c.spec_type))
        {
            if !is_binding(component) {
                if mode == Apply::Startup
                    && !bindery_core::lock::is_lock_store_type(&component.spec_type)
                {
                    tracing::warn!(component = %component.name, r#type = %component.spec_type,
                        "Skipping a component that is not a binding or a secret store; bindery serves bindings only.");
                }
                continue;
            }
            let previous = plan.next.specs.get(&component.name);
            let unchanged = previous.is_some_and(|p| same_definition(p, component))
                && !changed_stores.contains(&component.secret_store);
            if unchanged {
                continue;
            }
            let previous = previous.is_some();
            match mode {
                Apply::Startup => {
                    tracing::info!(component = %component.name, r#type = %component.spec_type,
                    version = %component.version, "Initialising component.")
                }
                Apply::Reload => {
                    tracing::info!(component = %component.name, r#type = %component.spec_type,
                    "Reloading component.")
                }
            }
            match self.build_binding(component, &plan.next).await {
                Ok(built) => {
                    tracing::info!(component = %component.name, "Component loaded.");
                    self.place(component, built, plan);
                    if mode == Apply::Reload {
                        plan.record(&component.name, previous);
                    }
                }
                Err(e) => self.refuse(component, e, plan, mode)?,
            }
        }
        Ok(())
    }

    /// Puts a built binding into the plan.
    fn place(&self, component: &Component, built: Built, plan: &mut Plan) {
        let name = component.name.clone();
        self.telemetry.component_running(&name);
        plan.next.set_info(built.info);
        plan.next.specs.insert(name.clone(), component.clone());
        let replaced = match built.output {
            Some(entry) => plan.next.outputs.insert(name.clone(), entry),
            None => plan.next.outputs.remove(&name),
        };
        if let Some(old) = replaced {
            plan.retired.push((name.clone(), old));
        }
        plan.stopping.push(name.clone());
        plan.inputs.retain(|(c, _)| c.name != name);
        if let Some(entry) = built.input {
            plan.inputs.push((component.clone(), entry));
        }
    }

    /// A definition that failed: fatal at start-up (unless `ignoreErrors`), rejected on reload.
    fn refuse(
        &self,
        component: &Component,
        error: LoadError,
        plan: &mut Plan,
        mode: Apply,
    ) -> Result<(), StartupError> {
        match mode {
            Apply::Startup => self.init_failed(component, error),
            Apply::Reload => {
                tracing::error!(component = %component.name, error = %error,
                    "Reload refused the new definition; the running component stays.");
                plan.summary.rejected.push(component.name.clone());
                Ok(())
            }
        }
    }

    /// Every `deadLetterBinding` of the next state must name one of its output bindings. On a
    /// reload, a new definition whose dead letter dangles is rejected (the running one stays),
    /// and an output binding that a running input still dead-letters to is not removed.
    async fn plan_dead_letters(&self, plan: &mut Plan, mode: Apply) -> Result<(), StartupError> {
        let running: Vec<(Component, DeliveryOptions)> = {
            let inputs = self.inputs.lock();
            inputs
                .iter()
                .filter(|i| !plan.stopping.iter().any(|n| n == i.name()))
                .filter_map(|i| Some((plan.next.specs.get(i.name())?.clone(), i.delivery.clone())))
                .collect()
        };
        for (component, delivery) in &running {
            let Some(target) = &delivery.dead_letter_binding else {
                continue;
            };
            if plan.next.outputs.contains_key(target) {
                continue;
            }
            if plan.retired.iter().any(|(n, _)| n == target) {
                tracing::error!(component = %target, used_by = %component.name,
                    "Reload refused to remove an output binding a running input dead-letters to.");
                self.revert(target, plan);
            }
        }
        let dangling = check::dangling_dead_letters(
            running
                .iter()
                .map(|(c, d)| (c, d))
                .chain(plan.inputs.iter().map(|(c, e)| (c, &e.delivery))),
            &|name| plan.next.outputs.contains_key(name),
        );
        for d in dangling {
            if mode == Apply::Startup {
                return Err(StartupError::Load(d.error));
            }
            let name = d.error.component.clone().unwrap_or_default();
            tracing::error!(component = %name, error = %d.error,
                "Reload refused the new definition; the running component stays.");
            self.revert(&name, plan);
        }
        Ok(())
    }

    /// Takes a component's change back out of the plan, keeping what runs now.
    fn revert(&self, name: &str, plan: &mut Plan) {
        let current = self.state.read().clone();
        plan.inputs.retain(|(c, _)| c.name != name);
        plan.stopping.retain(|n| n != name);
        let new = plan.next.outputs.remove(name);
        if let Some(i) = plan.retired.iter().position(|(n, _)| n == name) {
            let (_, old) = plan.retired.remove(i);
            plan.next.outputs.insert(name.to_owned(), old);
        }
        if let Some(new) =
            new.filter(|n| !current.outputs.get(name).is_some_and(|o| Arc::ptr_eq(o, n)))
        {
            plan.retired.push((name.to_owned(), new));
        }
        match current.specs.get(name) {
            Some(spec) => {
                plan.next.specs.insert(name.to_owned(), spec.clone());
                if let Some(info) = current.infos.iter().find(|c| c.name == name) {
                    plan.next.set_info(info.clone());
                }
                if let Some(store) = current.stores.get(name) {
                    plan.next.stores.insert(name.to_owned(), store.clone());
                }
            }
            None => {
                plan.next.specs.remove(name);
                plan.next.infos.retain(|c| c.name != name);
            }
        }
        for list in [
            &mut plan.summary.added,
            &mut plan.summary.updated,
            &mut plan.summary.removed,
        ] {
            list.retain(|n| n != name);
        }
        plan.summary.rejected.push(name.to_owned());
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

/// Components no longer defined are removed; their inputs stop before the swap.
fn plan_removals(resources: &Resources, plan: &mut Plan) {
    let wanted: HashMap<&str, &Component> = resources
        .components
        .iter()
        .filter(|c| is_binding(c) || secrets::is_secret_store_type(&c.spec_type))
        .map(|c| (c.name.as_str(), c))
        .collect();
    let gone: Vec<String> = plan
        .next
        .specs
        .keys()
        .filter(|n| !wanted.contains_key(n.as_str()))
        .cloned()
        .collect();
    for name in gone {
        tracing::info!(component = %name, "Removing component.");
        if let Some(old) = plan.next.remove(&name) {
            plan.retired.push((name.clone(), old));
        }
        plan.stopping.push(name.clone());
        plan.summary.removed.push(name);
    }
}
