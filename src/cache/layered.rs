//! The two-level cache: moka in this process in front of Redis. Reads try the process first,
//! then Redis (filling the process); writes and deletions go to both, and a deletion is also
//! published on the invalidation channel so every replica drops its own copy. While Redis is
//! away (breaker open) the process level serves alone, counters count in-process, and
//! deletions still succeed: correctness rests on the database epochs, not on the message.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{Cache, CacheError, CacheHealth, MemoryCache, RedisCache};

pub struct LayeredCache {
    local: Arc<MemoryCache>,
    /// Counters while Redis is away, so throttling keeps counting.
    local_counters: MemoryCache,
    redis: Option<Arc<RedisCache>>,
    enabled: AtomicBool,
}

/// How long an entry read from Redis lives in the process at most.
const LOCAL_TTL: Duration = Duration::from_secs(30);

impl LayeredCache {
    /// In-process only (no Redis configured): one replica.
    pub fn local_only(capacity: u64) -> Self {
        Self {
            local: Arc::new(MemoryCache::new(capacity)),
            local_counters: MemoryCache::new(capacity),
            redis: None,
            enabled: AtomicBool::new(true),
        }
    }

    /// In-process in front of `redis`; spawns the task that listens for invalidations.
    pub fn with_redis(capacity: u64, redis: Arc<RedisCache>) -> Self {
        let local = Arc::new(MemoryCache::new(capacity));
        tokio::spawn(listen(redis.clone(), local.clone()));
        Self {
            local,
            local_counters: MemoryCache::new(capacity),
            redis: Some(redis),
            enabled: AtomicBool::new(true),
        }
    }

    pub fn redis(&self) -> Option<&Arc<RedisCache>> {
        self.redis.as_ref()
    }
}

/// Subscribes to the invalidation channel and drops each named key from this process. Whenever
/// the subscription is (re)established the whole process level is dropped, since messages sent
/// while it was down are lost.
async fn listen(redis: Arc<RedisCache>, local: Arc<MemoryCache>) {
    let channel = redis.channel();
    loop {
        let subscribed = async {
            let mut pubsub = redis.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(mut pubsub)) => {
                local.clear();
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let key: redis::RedisResult<String> = msg.get_payload();
                    if let Ok(key) = key {
                        let _ = local.delete(&key).await;
                    }
                }
                tracing::warn!("cache invalidation channel lost; dropping the in-process cache");
                local.clear();
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "cache invalidation channel unavailable"),
            Err(_) => tracing::debug!("cache invalidation channel: no answer in time"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[async_trait]
impl Cache for LayeredCache {
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if let Some(v) = self.local.get(key).await? {
            return Ok(Some(v));
        }
        let Some(redis) = &self.redis else {
            return Ok(None);
        };
        match redis.get(key).await {
            Ok(Some(v)) => {
                self.local.set(key, &v, LOCAL_TTL).await?;
                Ok(Some(v))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::debug!(error = %e, "redis read skipped; the database answers");
                Ok(None)
            }
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.local.set(key, value, ttl.min(LOCAL_TTL)).await?;
        if let Some(redis) = &self.redis
            && let Err(e) = redis.set(key, value, ttl).await
        {
            tracing::debug!(error = %e, "redis write skipped");
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.local.delete(key).await?;
        self.local_counters.delete(key).await?;
        if let Some(redis) = &self.redis
            && let Err(e) = redis.delete_and_publish(key).await
        {
            // The epoch bumped with the write keeps every replica from serving the old entry.
            tracing::debug!(error = %e, "redis invalidation skipped");
        }
        Ok(())
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<i64, CacheError> {
        if let Some(redis) = &self.redis {
            match redis.increment(key, window).await {
                Ok(n) => return Ok(n),
                Err(e) => tracing::debug!(error = %e, "counting in-process while redis is away"),
            }
        }
        self.local_counters.increment(key, window).await
    }

    async fn counter(&self, key: &str) -> Result<i64, CacheError> {
        let local = self.local_counters.counter(key).await?;
        let Some(redis) = &self.redis else {
            return Ok(local);
        };
        // Failures counted in-process during an outage still count once Redis is back.
        match redis.get(key).await {
            Ok(v) => Ok(v
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                .saturating_add(local)),
            Err(_) => Ok(local),
        }
    }

    async fn health(&self, within: Duration) -> CacheHealth {
        match &self.redis {
            None => CacheHealth::Ok,
            Some(r) => match r.ping(within).await {
                Ok(()) => CacheHealth::Ok,
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: redis unavailable");
                    CacheHealth::Degraded
                }
            },
        }
    }

    fn backend(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "memory"
        }
    }
}
