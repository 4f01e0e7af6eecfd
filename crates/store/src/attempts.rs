//! `AttemptCounter`s: in-process (one node) and Redis (every node shares the counts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use chrono::Duration;
use portcullis_domain::ports::StoreError;
use portcullis_domain::throttle::AttemptCounter;

/// Keys kept at most by the in-process counter; past it, expired windows are swept.
const MAX_KEYS: usize = 100_000;

/// Counts in this process's memory, under one lock (increments are atomic by construction).
#[derive(Default)]
pub struct LocalAttempts {
    windows: Mutex<HashMap<String, (u32, Instant)>>,
}

#[async_trait]
impl AttemptCounter for LocalAttempts {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError> {
        let window = window.to_std().unwrap_or_default();
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() >= MAX_KEYS {
            w.retain(|_, (_, started)| now.duration_since(*started) < window);
        }
        let entry = w.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
        let left = window.saturating_sub(now.duration_since(entry.1)).as_secs().max(1);
        Ok((entry.0, left))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        Ok(())
    }
}

/// Counts in Redis: `INCR` and `EXPIRE … NX` in one MULTI, so every node sees one count.
/// While Redis is unreachable it counts in process instead: logins keep working, and each node
/// still throttles on its own.
pub struct RedisAttempts {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    fallback: LocalAttempts,
}

impl RedisAttempts {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: impl Into<String>) -> Self {
        Self { conn, prefix: prefix.into(), fallback: LocalAttempts::default() }
    }

    async fn hit_redis(&self, key: &str, window: Duration) -> Result<(u32, u64), redis::RedisError> {
        let k = format!("{}attempts:{key}", self.prefix);
        let secs = window.num_seconds().max(1);
        let mut conn = self.conn.clone();
        let (count, ttl): (u32, i64) = redis::pipe()
            .atomic()
            .incr(&k, 1u32)
            .cmd("EXPIRE")
            .arg(&k)
            .arg(secs)
            .arg("NX")
            .ignore()
            .ttl(&k)
            .query_async(&mut conn)
            .await?;
        Ok((count, ttl.max(1) as u64))
    }
}

fn redis_err(e: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("redis: {e}"))
}

#[async_trait]
impl AttemptCounter for RedisAttempts {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError> {
        match self.hit_redis(key, window).await {
            Ok(counted) => Ok(counted),
            Err(e) => {
                tracing::warn!(error = %redis_err(e), "login attempts counted in process while Redis is unreachable");
                self.fallback.hit(key, window).await
            }
        }
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.fallback.reset(key).await?;
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(format!("{}attempts:{key}", self.prefix))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_per_key_and_resets() {
        let c = LocalAttempts::default();
        let w = Duration::minutes(1);
        assert_eq!(c.hit("a", w).await.unwrap().0, 1);
        assert_eq!(c.hit("a", w).await.unwrap().0, 2);
        assert_eq!(c.hit("b", w).await.unwrap().0, 1);
        c.reset("a").await.unwrap();
        assert_eq!(c.hit("a", w).await.unwrap().0, 1);
        let (_, left) = c.hit("a", w).await.unwrap();
        assert!((1..=60).contains(&left));
    }
}
