//! The runtime's state as output calls and the metadata endpoint see it: one immutable
//! snapshot, replaced in one step by each reload (start-up is a reload from the empty state).
//! A call takes the snapshot once, so it sees the old set or the new one, never a mix.

use std::collections::HashMap;
use std::sync::Arc;

use bindery_core::manifest::Component;
use bindery_core::{BindingDescriptor, OutputBinding};
use parking_lot::RwLock;

use crate::resiliency::Resiliency;
use crate::secrets::SecretStore;

/// A loaded component as the metadata API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    pub name: String,
    pub spec_type: String,
    pub version: String,
    pub input: bool,
    pub output: bool,
}

pub(crate) struct OutputEntry {
    pub(crate) descriptor: BindingDescriptor,
    pub(crate) binding: Box<dyn OutputBinding>,
}

/// Start-up stops at the first failure that is not ignored; a reload rejects and goes on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Apply {
    Startup,
    Reload,
}

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

#[derive(Clone, Default)]
pub(crate) struct State {
    pub(crate) outputs: HashMap<String, Arc<OutputEntry>>,
    /// In load order, for the metadata endpoint.
    pub(crate) infos: Vec<ComponentInfo>,
    /// The definition each running component was built from, for reload diffs.
    pub(crate) specs: HashMap<String, Component>,
    pub(crate) stores: HashMap<String, Arc<dyn SecretStore>>,
    pub(crate) resiliency: Arc<Resiliency>,
    /// The Resiliency documents the policies were built from, for reload diffs.
    pub(crate) resiliency_source: Vec<serde_json::Value>,
}

impl State {
    /// Replaces (or appends) a component's entry in the metadata list.
    pub(crate) fn set_info(&mut self, info: ComponentInfo) {
        match self.infos.iter_mut().find(|c| c.name == info.name) {
            Some(existing) => *existing = info,
            None => self.infos.push(info),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<Arc<OutputEntry>> {
        self.specs.remove(name);
        self.stores.remove(name);
        self.infos.retain(|c| c.name != name);
        self.outputs.remove(name)
    }
}

/// The current snapshot. Readers clone the `Arc` and let go of the lock at once.
pub(crate) type SharedState = Arc<RwLock<Arc<State>>>;
