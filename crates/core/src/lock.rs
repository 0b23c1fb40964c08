//! Distributed locks, as Dapr's lock building block has them (`lock.redis`): a lock is a
//! resource id held by one owner until it expires or its owner unlocks it. bindery does not
//! serve Dapr's lock API; lock components exist for bindings that must act once across
//! replicas (`bindings.cron`'s `lockStore`). Pure: the trait and the registry types only.
//!
//! Deviation from Dapr: [`LockStore::renew`] (extend a lease its owner still holds) has no
//! Dapr API; a lease held for the life of a replica needs it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::binding::BoxFuture;
use crate::{BindingError, Properties};

/// Dapr's unlock outcomes (`lock.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockStatus {
    Success,
    LockDoesNotExist,
    LockBelongsToOthers,
}

#[async_trait]
pub trait LockStore: Send + Sync + 'static {
    /// Dapr's TryLock: takes the lock when nobody holds it, for `expiry`. `true` when `owner`
    /// now holds it; `false` when someone does (including `owner` itself: use `renew`).
    async fn try_lock(
        &self,
        resource_id: &str,
        owner: &str,
        expiry: Duration,
    ) -> Result<bool, BindingError>;

    /// Extends the lock to `expiry` from now if `owner` still holds it; `false` if not.
    async fn renew(
        &self,
        resource_id: &str,
        owner: &str,
        expiry: Duration,
    ) -> Result<bool, BindingError>;

    /// Dapr's Unlock: only the owner may release the lock.
    async fn unlock(&self, resource_id: &str, owner: &str) -> Result<UnlockStatus, BindingError>;
}

/// Builds a lock store from its component's resolved metadata (connects, may do I/O).
pub type BuildLockStore = fn(Properties) -> BoxFuture<Result<Arc<dyn LockStore>, BindingError>>;

/// A compiled-in lock store type.
#[derive(Clone, Copy)]
pub struct LockStoreDescriptor {
    /// Registry key, e.g. `lock.redis`.
    pub type_name: &'static str,
    pub build: BuildLockStore,
}

impl std::fmt::Debug for LockStoreDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockStoreDescriptor")
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

/// Whether `spec.type` names a lock store (Dapr's `lock.` prefix).
pub fn is_lock_store_type(spec_type: &str) -> bool {
    spec_type.to_lowercase().starts_with("lock.")
}

/// The loaded lock stores, by component name, as a binding sees them when it is built.
#[derive(Clone, Default)]
pub struct LockStores(Arc<HashMap<String, Arc<dyn LockStore>>>);

impl LockStores {
    pub fn new(stores: HashMap<String, Arc<dyn LockStore>>) -> Self {
        Self(Arc::new(stores))
    }

    /// The lock store component called `name`, if one is loaded.
    pub fn get(&self, name: &str) -> Option<Arc<dyn LockStore>> {
        self.0.get(name).cloned()
    }

    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl std::fmt::Debug for LockStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LockStores").field(&self.names()).finish()
    }
}
