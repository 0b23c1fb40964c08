//! Lock store components (`lock.*`, e.g. Dapr's `lock.redis`). bindery serves no lock API:
//! lock stores are loaded after the secret stores and before the bindings, so a binding can
//! be handed one by name when it is built (`BuildContext::lock_stores`; `bindings.cron`'s
//! `lockStore`). They are read at start-up only: hot reload leaves them as they were (a change
//! to a lock component needs a restart), and bindings rebuilt by a reload get the loaded ones.

use std::sync::Arc;

use bindery_core::Properties;
use bindery_core::lock::{LockStore, LockStores, is_lock_store_type};
use bindery_core::manifest::{Component, LoadError};

use crate::loader::resolve_metadata;
use crate::runtime::{Runtime, StartupError};
use crate::state::{ComponentInfo, State};

impl Runtime {
    /// Builds every lock store component, within its `initTimeout`; a failure is fatal unless
    /// `ignoreErrors`, as for bindings.
    pub(crate) async fn start_lock_stores(
        &self,
        components: &[Component],
        state: &mut State,
    ) -> Result<(), StartupError> {
        for component in components
            .iter()
            .filter(|c| is_lock_store_type(&c.spec_type))
        {
            match self.build_lock_store(component, &*state).await {
                Ok(store) => {
                    tracing::info!(component = %component.name, r#type = %component.spec_type, "Component loaded.");
                    self.locks.write().insert(component.name.clone(), store);
                    self.telemetry.component_running(&component.name);
                    // Listed by the metadata endpoint; not in `specs`, so reloads leave it.
                    state.set_info(ComponentInfo {
                        name: component.name.clone(),
                        spec_type: component.spec_type.clone(),
                        version: component.version.clone(),
                        input: false,
                        output: false,
                    });
                }
                Err(e) => self.init_failed(component, e)?,
            }
        }
        Ok(())
    }

    async fn build_lock_store(
        &self,
        component: &Component,
        state: &State,
    ) -> Result<Arc<dyn LockStore>, LoadError> {
        let error = |message: String| LoadError {
            file: component.file.clone(),
            line: Some(component.line),
            column: None,
            component: Some(component.name.clone()),
            field: None,
            message,
        };
        let descriptor = self
            .registry
            .lock_store(&component.spec_type)
            .ok_or_else(|| {
                error(format!(
                    "couldn't find lock store {} ({}); this build of bindery has: {}",
                    component.name,
                    component.spec_type,
                    self.registry
                        .lock_stores()
                        .iter()
                        .map(|d| d.type_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let metadata = resolve_metadata(component, &state.stores, &self.config)?;
        let properties = Properties::new(metadata).map_err(|e| error(e.message))?;
        tokio::time::timeout(component.init_timeout, (descriptor.build)(properties))
            .await
            .map_err(|_| {
                error(format!(
                    "init timeout for component {} exceeded after {:?}",
                    component.name, component.init_timeout
                ))
            })?
            .map_err(|e| error(e.to_string()))
    }

    /// The loaded lock stores, as handed to a binding being built.
    pub(crate) fn lock_stores(&self) -> LockStores {
        LockStores::new(self.locks.read().clone())
    }
}
