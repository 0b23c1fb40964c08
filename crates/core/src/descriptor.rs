//! What a component type declares about itself: its `spec.type`, its metadata fields (which are
//! both its documentation and its decoder's vocabulary), its operations, and how to validate and
//! build it. The registry of compiled-in types is a list of these.

use std::any::Any;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::binding::{InputBinding, OutputBinding};
use crate::error::{BindingError, ConfigError, ConfigWarning};
use crate::properties::Properties;

pub use crate::field::{Direction, Field, FieldType};

pub use crate::binding::BoxFuture;

/// An operation an output binding accepts.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub name: &'static str,
    pub description: &'static str,
}

/// A binding type's typed configuration: its metadata decoded and validated once, without
/// I/O. `bindery validate`, start-up and hot reload all call the same `decode`; building then
/// takes the decoded value instead of reading the metadata again.
pub trait BindingConfig: Clone + Send + Sync + 'static {
    /// Decodes `p`. Findings daprd would accept but a user should hear about go to `warnings`
    /// (said once, by whoever runs the check).
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError>;

    /// How a decode failure reads when it surfaces while building (a context made without
    /// the runtime's check, as in tests and tools). daprd's `Init` message by default.
    fn build_error(error: ConfigError) -> BindingError {
        BindingError::invalid(error.message)
    }
}

/// A decoded configuration whose type only its binding knows.
#[derive(Clone)]
pub struct DecodedConfig(Arc<dyn Any + Send + Sync>);

impl DecodedConfig {
    pub fn new<C: BindingConfig>(config: C) -> Self {
        Self(Arc::new(config))
    }

    /// For descriptors and tests that have nothing to decode.
    pub fn none() -> Self {
        Self(Arc::new(()))
    }

    pub fn get<C: BindingConfig>(&self) -> Option<&C> {
        self.0.downcast_ref::<C>()
    }
}

impl std::fmt::Debug for DecodedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecodedConfig(..)")
    }
}

/// The descriptor's decode step: `decode: decode_as::<MyConfig>`.
pub type DecodeFn = fn(&Properties, &mut Vec<ConfigWarning>) -> Result<DecodedConfig, ConfigError>;

pub fn decode_as<C: BindingConfig>(
    p: &Properties,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<DecodedConfig, ConfigError> {
    C::decode(p, warnings).map(DecodedConfig::new)
}

/// What a component gets when it is built.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// `metadata.name` of the component.
    pub name: String,
    /// The resolved metadata, for the few bindings that pass unknown keys through.
    pub properties: Properties,
    pub app_id: String,
    /// What the descriptor's `decode` produced from `properties`; `None` when the context was
    /// made without decoding (then [`BuildContext::config`] decodes).
    decoded: Option<DecodedConfig>,
    /// The loaded lock store components, by name (`bindings.cron`'s `lockStore`).
    lock_stores: crate::lock::LockStores,
}

impl BuildContext {
    /// A context whose metadata has not been decoded yet: building decodes it.
    pub fn new(name: impl Into<String>, properties: Properties, app_id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            properties,
            app_id: app_id.into(),
            decoded: None,
            lock_stores: crate::lock::LockStores::default(),
        }
    }

    /// Hands the binding the loaded lock store components (the runtime does, at build time).
    pub fn with_lock_stores(mut self, lock_stores: crate::lock::LockStores) -> Self {
        self.lock_stores = lock_stores;
        self
    }

    /// The loaded lock store components, by name; empty unless the runtime handed them over.
    pub fn lock_stores(&self) -> &crate::lock::LockStores {
        &self.lock_stores
    }

    /// A context carrying the configuration the runtime's check already decoded.
    pub fn decoded(mut self, config: DecodedConfig) -> Self {
        self.decoded = Some(config);
        self
    }

    /// The typed configuration: the one decoded before building, or decoded now.
    pub fn config<C: BindingConfig>(&self) -> Result<C, BindingError> {
        match &self.decoded {
            Some(decoded) => decoded.get::<C>().cloned().ok_or_else(|| {
                BindingError::other(format!(
                    "component {}: the decoded configuration is not a {}",
                    self.name,
                    std::any::type_name::<C>()
                ))
            }),
            None => C::decode(&self.properties, &mut Vec::new()).map_err(C::build_error),
        }
    }
}

pub type BuildOutput = fn(BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>>;
pub type BuildInput = fn(BuildContext) -> BoxFuture<Result<Box<dyn InputBinding>, BindingError>>;

/// A compiled-in binding type.
#[derive(Clone, Copy)]
pub struct BindingDescriptor {
    /// Registry key, e.g. `bindings.cron`.
    pub type_name: &'static str,
    /// Other `spec.type` values that resolve to this one (`bindings.postgresql`).
    pub aliases: &'static [&'static str],
    pub status: &'static str,
    pub summary: &'static str,
    pub fields: &'static [Field],
    pub operations: &'static [Operation],
    /// Pure decode and check of the metadata: never does I/O. See [`BindingConfig`].
    pub decode: DecodeFn,
    pub build_input: Option<BuildInput>,
    pub build_output: Option<BuildOutput>,
}

impl BindingDescriptor {
    pub fn has_input(&self) -> bool {
        self.build_input.is_some()
    }
    pub fn has_output(&self) -> bool {
        self.build_output.is_some()
    }
    pub fn supports_operation(&self, operation: &str) -> bool {
        self.operations.iter().any(|o| o.name == operation)
    }

    /// Decodes `properties` and says whether they are valid, dropping the decoded value.
    pub fn validate(&self, properties: &Properties) -> Result<(), ConfigError> {
        (self.decode)(properties, &mut Vec::new()).map(drop)
    }

    /// What the runtime hands a builder: `properties` decoded once. For tools and tests that
    /// build a binding without the runtime.
    pub fn context(
        &self,
        name: impl Into<String>,
        app_id: impl Into<String>,
        properties: Properties,
    ) -> Result<BuildContext, ConfigError> {
        let config = (self.decode)(&properties, &mut Vec::new())?;
        Ok(BuildContext::new(name, properties, app_id).decoded(config))
    }

    /// Whether `spec.type` (already lower-cased) names this descriptor.
    pub fn matches(&self, spec_type: &str) -> bool {
        self.type_name == spec_type || self.aliases.contains(&spec_type)
    }

    /// An example component file with every required field and each documented example.
    pub fn example_yaml(&self) -> String {
        let short = self.type_name.trim_start_matches("bindings.");
        let mut out = String::new();
        let _ = writeln!(out, "apiVersion: dapr.io/v1alpha1");
        let _ = writeln!(out, "kind: Component");
        let _ = writeln!(out, "metadata:\n  name: my-{}", short.replace('.', "-"));
        let _ = writeln!(
            out,
            "spec:\n  type: {}\n  version: v1\n  metadata:",
            self.type_name
        );
        for field in self.fields {
            if !field.required && field.example.is_none() {
                continue;
            }
            let value = field.example.or(field.default).unwrap_or("");
            let _ = writeln!(out, "  - name: {}", field.name);
            let _ = writeln!(out, "    value: {}", yaml_quote(value));
        }
        out
    }
}

impl std::fmt::Debug for BindingDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingDescriptor")
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

fn yaml_quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}
