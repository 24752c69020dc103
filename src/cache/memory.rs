use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache as Moka;

use super::{Cache, CacheError, CacheHealth};

#[derive(Clone)]
struct Item {
    value: String,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Item> for PerEntryTtl {
    fn expire_after_create(&self, _k: &String, v: &Item, _now: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

pub struct MemoryCache {
    inner: Moka<String, Item>,
}

impl MemoryCache {
    /// Drops every entry (the invalidation channel was lost: messages may have been missed).
    pub fn clear(&self) {
        self.inner.invalidate_all();
    }

    pub fn new(capacity: u64) -> Self {
        Self {
            inner: Moka::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.inner.get(key).await.map(|e| e.value))
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let entry = Item {
            value: value.to_owned(),
            ttl,
        };
        self.inner.insert(key.to_owned(), entry).await;
        Ok(())
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<i64, CacheError> {
        let entry = self
            .inner
            .entry(key.to_owned())
            .and_upsert_with(|old| {
                let count = old
                    .and_then(|e| e.into_value().value.parse::<i64>().ok())
                    .unwrap_or(0);
                std::future::ready(Item {
                    value: count.saturating_add(1).to_string(),
                    ttl: window,
                })
            })
            .await;
        Ok(entry.into_value().value.parse().unwrap_or(1))
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.inner.invalidate(key).await;
        Ok(())
    }

    async fn health(&self, _within: Duration) -> CacheHealth {
        CacheHealth::Ok
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
