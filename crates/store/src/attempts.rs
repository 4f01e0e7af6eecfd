//! `AttemptCounter`s: in-process (one node) and Redis (every node shares the counts).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use chrono::Duration;
use portcullis_domain::ports::StoreError;
use portcullis_domain::throttle::AttemptCounter;

/// Keys kept at most by the in-process counter; past it the oldest windows go first.
const MAX_KEYS: usize = 100_000;
/// Expired windows forgotten per hit at most: the work of one request stays bounded, and
/// forgetting keeps pace since each hit adds at most one window.
const EXPIRE_PER_HIT: usize = 64;

/// Counts in this process's memory, under one lock (increments are atomic by construction).
/// Bounded and expiring without ever scanning the map: windows are also queued in the order
/// they began, so expired ones are forgotten from the front of the queue, and past the bound
/// the oldest go.
pub struct LocalAttempts {
    capacity: usize,
    state: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    counts: HashMap<String, (u32, Instant, Instant)>,
    /// (key, window end) in the order the windows began; an entry whose window has since been
    /// replaced is skipped.
    order: VecDeque<(String, Instant)>,
}

impl Default for LocalAttempts {
    fn default() -> Self {
        Self::with_capacity(MAX_KEYS)
    }
}

impl LocalAttempts {
    /// A counter holding at most `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), state: Mutex::default() }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Windows {
    /// Forgets `key` if its current window ends at `ends` (a queue entry of a replaced window
    /// leaves the live one alone).
    fn forget(&mut self, key: &str, ends: Instant) {
        if self.counts.get(key).is_some_and(|(_, _, e)| *e == ends) {
            self.counts.remove(key);
        }
    }
}

#[async_trait]
impl AttemptCounter for LocalAttempts {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError> {
        let window = window.to_std().unwrap_or_default().max(StdDuration::from_millis(1));
        let now = Instant::now();
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..EXPIRE_PER_HIT {
            match w.order.front() {
                Some((_, ends)) if *ends <= now => {
                    if let Some((k, ends)) = w.order.pop_front() {
                        w.forget(&k, ends);
                    }
                }
                _ => break,
            }
        }
        let current = w.counts.get(key).copied().filter(|(_, _, ends)| *ends > now);
        let (count, started, ends) = match current {
            Some((n, started, ends)) => (n.saturating_add(1), started, ends),
            None => {
                let ends = now + window;
                w.order.push_back((key.to_owned(), ends));
                (1, now, ends)
            }
        };
        w.counts.insert(key.to_owned(), (count, started, ends));
        while w.counts.len() > self.capacity {
            let Some((k, ends)) = w.order.pop_front() else { break };
            w.forget(&k, ends);
        }
        let left = window.saturating_sub(now.duration_since(started)).as_secs().max(1);
        Ok((count, left))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).counts.remove(key);
        Ok(())
    }
}

/// Counts in Redis: `INCR` and `EXPIRE … NX` in one MULTI, so every node sees one count.
/// While Redis is unreachable it counts in its fallback instead (in process by default): logins
/// keep working, and each node still throttles on its own.
pub struct RedisAttempts {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    fallback: Arc<dyn AttemptCounter>,
}

impl RedisAttempts {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: impl Into<String>) -> Self {
        Self::with_fallback(conn, prefix, Arc::new(LocalAttempts::default()))
    }

    /// As [`new`](Self::new), counting in `fallback` while Redis is unreachable (the one-time
    /// codes' limits count in the database then: `SqlAttempts`).
    pub fn with_fallback(
        conn: redis::aio::ConnectionManager,
        prefix: impl Into<String>,
        fallback: Arc<dyn AttemptCounter>,
    ) -> Self {
        Self { conn, prefix: prefix.into(), fallback }
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
    StoreError::backend(e)
}

#[async_trait]
impl AttemptCounter for RedisAttempts {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError> {
        match self.hit_redis(key, window).await {
            Ok(counted) => Ok(counted),
            Err(e) => {
                tracing::warn!(error = %portcullis_domain::error::Chain(&redis_err(e)), "login attempts counted in process while Redis is unreachable");
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

    #[tokio::test]
    async fn the_map_is_bounded_and_forgets_expired_windows() {
        let c = LocalAttempts::with_capacity(100);
        let long = Duration::minutes(10);
        for i in 0..1000 {
            c.hit(&format!("user:{i}"), long).await.unwrap();
        }
        assert_eq!(c.len(), 100, "a flood of names keeps at most the bound");
        assert_eq!(c.hit("user:999", long).await.unwrap().0, 2, "the newest windows are the ones kept");
        assert_eq!(c.hit("user:0", long).await.unwrap().0, 1, "the oldest went first");

        let short = LocalAttempts::with_capacity(1000);
        for i in 0..50 {
            short.hit(&format!("k{i}"), Duration::milliseconds(20)).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        short.hit("fresh", Duration::minutes(1)).await.unwrap();
        assert_eq!(short.len(), 1, "expired windows are forgotten from the queue's front, no scan");
    }
}
