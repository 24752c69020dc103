//! A small key-value cache: Redis when `BILLING_REDIS_URL` is set, in-process otherwise.
//! Only derived data lives here; the database stays the source of truth.
use std::time::Duration;

use async_trait::async_trait;

mod memory;
mod plans;
mod redis_cache;

pub use memory::MemoryCache;
pub use plans::PlanVersions;
pub use redis_cache::RedisCache;

#[derive(Debug, thiserror::Error)]
#[error("cache: {0}")]
pub struct CacheError(pub String);

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError>;
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError>;
    /// Stores `value` only if `key` holds nothing; true when it was stored. Fills that race
    /// with an invalidation use this, so they cannot overwrite the invalidation's tombstone.
    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Adds one to a counter and returns the new count. The counter expires `window` after
    /// its first increment (a fixed window).
    async fn increment(&self, key: &str, window: Duration) -> Result<i64, CacheError>;
    /// Liveness for `/ready`.
    async fn ping(&self) -> Result<(), CacheError>;
    /// "redis" or "memory", for the start-up log.
    fn backend(&self) -> &'static str;
}
