//! TEMPORARY stand-in for the binding kit until it lands on main. Delete on merge.
#![allow(dead_code)]
use bindery_core::{BindingError, BuildContext, ConfigError, Properties};

pub trait BindingConfig: Clone + Send + Sync + 'static {
    fn decode(p: &Properties, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError>;
}
#[derive(Debug, Clone)]
pub struct ConfigWarning {
    pub field: String,
    pub message: String,
}
pub fn validate_as<C: BindingConfig>(p: &Properties) -> Result<(), ConfigError> {
    C::decode(p, &mut Vec::new()).map(drop)
}
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(T);
impl<T> Sensitive<T> {
    pub fn new(v: T) -> Self {
        Self(v)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}
impl<T> std::fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
pub trait ConfigExt {
    fn config<C: BindingConfig>(&self) -> Result<C, BindingError>;
}
impl ConfigExt for BuildContext {
    fn config<C: BindingConfig>(&self) -> Result<C, BindingError> {
        C::decode(&self.properties, &mut Vec::new()).map_err(|e| BindingError::invalid(e.message))
    }
}
