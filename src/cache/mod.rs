//! Two levels of cache: in-process (moka) in front of Redis when `BILLING_REDIS_URL` is set,
//! in-process alone otherwise. Only derived data lives here; the database stays the source of
//! truth, and readers check what they get against a cache epoch kept in the database
//! (`epochs`), so a lost invalidation or a Redis that comes back with old data cannot serve a
//! stale entry. Every Redis call goes through one circuit breaker (`breaker`).
use std::time::Duration;

use async_trait::async_trait;

mod breaker;
mod epochs;
mod layered;
mod memory;
mod metric_catalog;
mod plans;
pub mod rate_limit;
mod redis_cache;

pub use breaker::{Breaker, BreakerState};
pub use epochs::{CacheEpochs, Stamped};
pub use layered::LayeredCache;
pub use memory::MemoryCache;
pub use metric_catalog::MetricCatalog;
pub use plans::PlanVersions;
pub use redis_cache::{RedisCache, RedisSettings};

#[derive(Debug, thiserror::Error)]
#[error("cache: {0}")]
pub struct CacheError(pub String);

/// How the shared part of the cache is doing, for `/ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheHealth {
    /// Redis answers (or none is configured).
    Ok,
    /// Redis is configured but does not answer: in-process fallbacks serve.
    Degraded,
}

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError>;
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError>;
    /// Drops `key` everywhere: in this process, in Redis, and (published) in every replica.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Adds one to a counter and returns the new count. The counter expires `window` after
    /// its first increment (a fixed window).
    async fn increment(&self, key: &str, window: Duration) -> Result<i64, CacheError>;
    /// The current value of a counter kept by `increment` (0 when absent).
    async fn counter(&self, key: &str) -> Result<i64, CacheError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
    /// For `/ready`: whether the shared part answers within `within`.
    async fn health(&self, within: Duration) -> CacheHealth;
    /// "redis" or "memory", for the start-up log.
    fn backend(&self) -> &'static str;
    /// Turns the value cache off (every read misses, writes are dropped) or on again, so a
    /// benchmark can compare both in one run. Counters are not affected.
    fn set_enabled(&self, _on: bool) {}
}
