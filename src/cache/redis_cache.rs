use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Cache, CacheError};

/// Redis through a reconnecting connection manager. Keys carry a prefix so that apps (and
/// test runs) sharing one Redis never see each other's entries.
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

fn err(e: redis::RedisError) -> CacheError {
    CacheError(e.to_string())
}

impl RedisCache {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(err)?;
        let conn = ConnectionManager::new(client).await.map_err(err)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut conn = self.conn.clone();
        conn.get(self.key(key)).await.map_err(err)
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let secs = ttl.as_secs().max(1);
        conn.set_ex::<_, _, ()>(self.key(key), value, secs)
            .await
            .map_err(err)
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        Ok(stored.is_some())
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<i64, CacheError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let (count,): (i64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window.as_secs().max(1))
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        Ok(count)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(self.key(key)).await.map_err(err)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(err)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
