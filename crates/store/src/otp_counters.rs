//! `SqlAttempts`: the one-time codes' abuse counters in the database (`otp_counters`), for a node
//! without Redis and for one whose Redis is down (docs/decisions/0016).
//!
//! The in-process counter of the login throttle forgets its oldest windows when full, so a flood
//! of fresh keys (many IPv6 /64s, many destinations) would reset a destination's count; refusing
//! new keys instead would let the same flood lock everyone out. Rows in the database do neither:
//! each key keeps its window until it ends, and the janitor deletes ended windows.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use portcullis_domain::clock::Clock;
use portcullis_domain::ports::StoreError;
use portcullis_domain::throttle::AttemptCounter;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

use crate::error::store_err;

/// Counts in `otp_counters`, one atomic statement a hit, on the injected clock.
pub struct SqlAttempts {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl SqlAttempts {
    pub fn new(store: &crate::SqlStore, clock: Arc<dyn Clock>) -> Self {
        Self { db: store.connection().clone(), clock }
    }
}

/// Inserts the key's first hit, or counts one more in its window, or starts a new window when
/// the old one has ended: one statement, so parallel hits each get their own count.
const HIT: &str = "INSERT INTO otp_counters (key, hits, window_ends) VALUES ($1, 1, $2) \
    ON CONFLICT (key) DO UPDATE SET \
    hits = CASE WHEN otp_counters.window_ends <= $3 THEN 1 ELSE otp_counters.hits + 1 END, \
    window_ends = CASE WHEN otp_counters.window_ends <= $3 THEN excluded.window_ends ELSE otp_counters.window_ends END \
    RETURNING hits, window_ends";

#[async_trait]
impl AttemptCounter for SqlAttempts {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError> {
        let now = self.clock.now();
        let backend = self.db.get_database_backend();
        let values = [Value::from(key.to_owned()), Value::from(now + window), Value::from(now)];
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, HIT, values))
            .await
            .map_err(store_err)?
            .ok_or_else(|| StoreError::malformed("a counter upsert returned no row"))?;
        let hits: i32 = row.try_get("", "hits").map_err(store_err)?;
        let ends: DateTime<Utc> = row.try_get("", "window_ends").map_err(store_err)?;
        let left = (ends - now).num_seconds().max(1) as u64;
        Ok((u32::try_from(hits).unwrap_or(u32::MAX), left))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let backend = self.db.get_database_backend();
        let sql = "DELETE FROM otp_counters WHERE key = $1";
        self.db
            .execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(key.to_owned())]))
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use portcullis_domain::clock::ManualClock;

    use super::*;

    #[tokio::test]
    async fn counts_in_windows_on_the_clock_and_forgets_nothing_live() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connect(&format!("sqlite://{}/t.db", dir.path().display()), 4).await.unwrap();
        crate::migrate(&db).await.unwrap();
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let c = SqlAttempts::new(&crate::SqlStore::new(db), clock.clone());
        let hour = Duration::hours(1);
        assert_eq!(c.hit("otp-dest:sms:+1", hour).await.unwrap(), (1, 3600));
        clock.advance(Duration::minutes(10));
        assert_eq!(c.hit("otp-dest:sms:+1", hour).await.unwrap(), (2, 3000), "the same window, 50 minutes left");
        // A flood of other keys changes nothing for this one.
        for i in 0..500 {
            c.hit(&format!("otp-ip:{i}"), hour).await.unwrap();
        }
        assert_eq!(c.hit("otp-dest:sms:+1", hour).await.unwrap().0, 3);
        // Parallel hits each get their own count.
        let hits = futures::future::join_all((0..20).map(|_| c.hit("otp-verify:x", hour))).await;
        let mut counts: Vec<u32> = hits.into_iter().map(|h| h.unwrap().0).collect();
        counts.sort();
        assert_eq!(counts, (1..=20).collect::<Vec<_>>());
        // The window ends: a new one starts.
        clock.advance(Duration::minutes(50));
        assert_eq!(c.hit("otp-dest:sms:+1", hour).await.unwrap(), (1, 3600));
        c.reset("otp-dest:sms:+1").await.unwrap();
        assert_eq!(c.hit("otp-dest:sms:+1", hour).await.unwrap().0, 1);
    }
}
