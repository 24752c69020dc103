use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::CacheError;
use super::breaker::{Breaker, BreakerState};

/// Redis through a reconnecting connection manager, every call bounded by a short timeout and
/// guarded by one circuit breaker. Keys carry a prefix so that apps (and test runs) sharing
/// one Redis never see each other's entries.
pub struct RedisCache {
    conn: ConnectionManager,
    client: redis::Client,
    prefix: String,
    pub(crate) breaker: Arc<Breaker>,
}

fn err(e: redis::RedisError) -> CacheError {
    CacheError(e.to_string())
}

/// What the circuit breaker and the calls it guards need.
#[derive(Clone, Copy, Debug)]
pub struct RedisSettings {
    pub timeout: Duration,
    pub breaker_failures: u32,
    pub breaker_open: Duration,
}

impl RedisCache {
    /// Does not wait for Redis: the connection is made on first use, and until Redis answers
    /// the breaker sends every caller to its in-process fallback (start-up is degraded, not
    /// refused).
    pub fn connect(url: &str, prefix: &str, settings: RedisSettings) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(err)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(err)?;
        Ok(Self {
            conn,
            client,
            prefix: prefix.to_owned(),
            breaker: Arc::new(Breaker::new(
                settings.timeout,
                settings.breaker_failures,
                settings.breaker_open,
            )),
        })
    }

    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    pub(crate) fn channel(&self) -> String {
        self.key("invalidate")
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        self.breaker
            .call(async move { conn.get::<_, Option<String>>(key).await })
            .await
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let secs = ttl.as_secs().max(1);
        self.breaker
            .call(async move { conn.set_ex::<_, _, ()>(key, value, secs).await })
            .await
    }

    pub async fn increment(&self, key: &str, window: Duration) -> Result<i64, CacheError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let (count,): (i64,) = self
            .breaker
            .call(async move {
                redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(window.as_secs().max(1))
                    .arg("NX")
                    .ignore()
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(count)
    }

    /// Deletes `key` and tells every replica to drop its in-process copy, in one round trip.
    pub async fn delete_and_publish(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let full = self.key(key);
        let channel = self.channel();
        self.breaker
            .call(async move {
                redis::pipe()
                    .del(&full)
                    .ignore()
                    .publish(&channel, key)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    /// A direct ping, bounded by `within` but not refused by an open breaker: readiness wants
    /// to know whether Redis itself answers. An answer closes the breaker (Redis is back).
    pub async fn ping(&self, within: Duration) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let pinged = tokio::time::timeout(within, async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await;
        match pinged {
            Ok(Ok(_)) => {
                self.breaker.record_success();
                Ok(())
            }
            Ok(Err(e)) => Err(err(e)),
            Err(_) => Err(CacheError("redis did not answer in time".into())),
        }
    }
}
