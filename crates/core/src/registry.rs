//! Resolves `spec.type` + `spec.version` to a compiled-in binding, as daprd's registry does.

use crate::BindingDescriptor;
use crate::lock::LockStoreDescriptor;

#[derive(Debug, Clone, Default)]
pub struct Registry {
    bindings: Vec<BindingDescriptor>,
    lock_stores: Vec<LockStoreDescriptor>,
}

impl Registry {
    pub fn new(bindings: Vec<BindingDescriptor>) -> Self {
        Self {
            bindings,
            lock_stores: Vec::new(),
        }
    }

    /// Adds the compiled-in lock store types (`lock.*` components).
    pub fn with_lock_stores(mut self, lock_stores: Vec<LockStoreDescriptor>) -> Self {
        self.lock_stores = lock_stores;
        self
    }

    pub fn lock_stores(&self) -> &[LockStoreDescriptor] {
        &self.lock_stores
    }

    /// The lock store type `spec.type` names (case-insensitive).
    pub fn lock_store(&self, spec_type: &str) -> Option<&LockStoreDescriptor> {
        let spec_type = spec_type.to_lowercase();
        self.lock_stores.iter().find(|d| d.type_name == spec_type)
    }

    pub fn bindings(&self) -> &[BindingDescriptor] {
        &self.bindings
    }

    /// daprd lower-cases type and version; `""`, `v0` and `v1` all fall back to the unversioned
    /// entry, and every bindery component is v1.
    pub fn lookup(&self, spec_type: &str, version: &str) -> Option<&BindingDescriptor> {
        if !is_known_version(version) {
            return None;
        }
        self.find_type(spec_type)
    }

    /// The descriptor for `spec_type`, whatever the version.
    pub fn find_type(&self, spec_type: &str) -> Option<&BindingDescriptor> {
        let spec_type = spec_type.to_lowercase();
        self.bindings.iter().find(|d| d.matches(&spec_type))
    }

    /// Every type name and alias, for suggestions.
    pub fn type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.bindings
            .iter()
            .flat_map(|d| std::iter::once(d.type_name).chain(d.aliases.iter().copied()))
    }
}

/// The versions every bindery binding answers to.
pub const VERSIONS: &[&str] = &["v1"];

fn is_known_version(version: &str) -> bool {
    matches!(version.to_lowercase().as_str(), "" | "v0" | "v1")
}

impl Registry {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BindingDescriptor;
    use crate::descriptor::DecodedConfig;

    const CRON: BindingDescriptor = BindingDescriptor {
        type_name: "bindings.cron",
        aliases: &["bindings.schedule"],
        status: "stable",
        summary: "",
        fields: &[],
        operations: &[],
        decode: |_, _| Ok(DecodedConfig::none()),
        build_input: None,
        build_output: None,
    };

    #[test]
    fn type_and_version_resolve_like_daprd() {
        let registry = Registry::new(vec![CRON]);
        for (t, v) in [
            ("bindings.cron", ""),
            ("Bindings.Cron", "v1"),
            ("bindings.cron", "V0"),
            ("bindings.schedule", "v1"),
        ] {
            assert!(registry.lookup(t, v).is_some(), "{t} {v}");
        }
        assert!(registry.lookup("bindings.cron", "v2").is_none());
        assert!(registry.lookup("bindings.other", "v1").is_none());
    }
}
