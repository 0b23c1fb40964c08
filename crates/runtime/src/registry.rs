//! Resolves `spec.type` + `spec.version` to a compiled-in binding, as daprd's registry does.

use bindery_core::BindingDescriptor;

#[derive(Debug, Clone, Default)]
pub struct Registry {
    bindings: Vec<BindingDescriptor>,
}

impl Registry {
    pub fn new(bindings: Vec<BindingDescriptor>) -> Self {
        Self { bindings }
    }

    pub fn bindings(&self) -> &[BindingDescriptor] {
        &self.bindings
    }

    /// daprd lower-cases type and version; `""`, `v0` and `v1` all fall back to the unversioned
    /// entry, and every bindery component is v1.
    pub fn lookup(&self, spec_type: &str, version: &str) -> Option<&BindingDescriptor> {
        let spec_type = spec_type.to_lowercase();
        if !matches!(version.to_lowercase().as_str(), "" | "v0" | "v1") {
            return None;
        }
        self.bindings.iter().find(|d| d.matches(&spec_type))
    }
}
