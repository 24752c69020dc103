//! Cache epochs: what makes a stale cache entry impossible to serve. Each scope (a tenant, the
//! operator's own keys, the catalog) has a counter in the database, bumped in the transaction of
//! every write that changes a value cached under it. An entry stores the epoch it was read at;
//! a reader serves it only if that is still the scope's epoch, read from the database (one
//! primary-key lookup). A lost invalidation message, a replica that missed it, or a Redis that
//! comes back from its append-only file with entries written before the write: all carry an
//! older epoch and are ignored. The pub/sub invalidation keeps the caches small and fresh;
//! the epoch keeps them correct.
use sea_orm::ConnectionTrait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::TenantId;
use crate::error::Result;
use crate::store;

pub struct CacheEpochs;

/// A cached value with the epoch of its scope when it was read from the database.
#[derive(Serialize, Deserialize)]
pub struct Stamped<T> {
    pub epoch: i64,
    pub value: T,
}

impl CacheEpochs {
    pub fn tenant(id: TenantId) -> String {
        store::cache_epochs::tenant_scope(id)
    }

    pub const OPERATOR: &'static str = "operator";
    pub const CATALOG: &'static str = "catalog";

    pub async fn current(db: &impl ConnectionTrait, scope: &str) -> Result<i64> {
        store::cache_epochs::current(db, scope).await
    }

    /// Call inside the transaction of the write, before its commit.
    pub async fn bump(db: &impl ConnectionTrait, scope: &str) -> Result<()> {
        store::cache_epochs::bump(db, scope).await
    }

    pub fn stamp<T: Serialize>(epoch: i64, value: T) -> Option<String> {
        serde_json::to_string(&Stamped { epoch, value }).ok()
    }

    /// The value in `raw` if it was stamped with `epoch`, the current one.
    pub fn unstamp<T: DeserializeOwned>(raw: &str, epoch: i64) -> Option<T> {
        serde_json::from_str::<Stamped<T>>(raw)
            .ok()
            .filter(|s| s.epoch == epoch)
            .map(|s| s.value)
    }
}
