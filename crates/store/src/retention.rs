//! `RetentionStore`: history deleted in small batches, and the lease that lets one node at a time
//! do it (`portcullis_domain::retention`, docs/decisions/0013).
//!
//! Each batch is one short statement of at most `batch` rows (a session's refresh tokens go
//! with it: the foreign key cascades, on both databases). On PostgreSQL the
//! rows are picked `FOR UPDATE SKIP LOCKED`, so a batch never waits for a rotation, a kick or a
//! login and, holding only rows nothing live needs, is never waited for long; on SQLite a batch
//! is one write transaction of a few milliseconds among the others.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::ports::{RetentionStore, StoreError};
use portcullis_domain::retention::Table;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::SqlStore;
use crate::error::store_err;

/// Which rows of a table are old, as a condition on `$1` (the horizon).
fn old_rows(table: Table) -> &'static str {
    match table {
        Table::RefreshTokens => "expires_at < $1",
        Table::DeviceSessions => "(revoked_at < $1 OR idle_expires_at < $1 OR absolute_expires_at < $1)",
        Table::RevocationEvents => "at < $1 AND id < (SELECT MAX(id) FROM revocation_events)",
        // No index on `at` (none is needed on the write path): the batch is the oldest rows by
        // id, which follow the time they were written, and of those the ones past the horizon.
        // A filter inside the pick would scan the whole table when nothing is old.
        Table::AuditEvents => "id < (SELECT MAX(id) FROM audit_events)",
        Table::AuthorizationCodes | Table::LoginSessions | Table::OtpCodes => "expires_at < $1",
        Table::OtpCounters => "window_ends < $1",
    }
}

fn key(table: Table) -> &'static str {
    match table {
        Table::AuthorizationCodes => "code_hash",
        Table::LoginSessions => "secret_hash",
        Table::OtpCodes => "destination, client_id",
        Table::OtpCounters => "key",
        _ => "id",
    }
}

/// The keys of at most `$2` old rows of `table`, locked (PostgreSQL) and skipping locked ones.
fn pick(table: Table, backend: DbBackend) -> String {
    let (name, key, old) = (table.as_str(), key(table), old_rows(table));
    // The order is the index each batch walks from its oldest end: without it PostgreSQL's
    // generic plan for `expires_at < $1 LIMIT n` is a sequential scan (it guesses a third of the
    // table matches), which reads every row when almost none does.
    let order = match table {
        Table::RefreshTokens | Table::AuthorizationCodes | Table::LoginSessions | Table::OtpCodes => {
            " ORDER BY expires_at"
        }
        Table::RevocationEvents => " ORDER BY at",
        Table::OtpCounters => " ORDER BY window_ends",
        Table::AuditEvents => " ORDER BY id",
        // No index serves the three ways a session ends (one on a column every rotation updates
        // would cost each rotation its HOT update): a scan, which the janitor runs hourly.
        Table::DeviceSessions => "",
    };
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    format!("SELECT {key} FROM {name} WHERE {old}{order} LIMIT $2{lock}")
}

/// The statement dating the oldest row of `table`, through an index (or a table that stays small).
fn oldest_sql(table: Table) -> &'static str {
    match table {
        // The token that expires first is the oldest one (expiry = issue + idle TTL, capped).
        Table::RefreshTokens => "SELECT issued_at FROM refresh_tokens ORDER BY expires_at LIMIT 1",
        Table::DeviceSessions => "SELECT first_seen FROM device_sessions ORDER BY absolute_expires_at LIMIT 1",
        Table::RevocationEvents => "SELECT at FROM revocation_events ORDER BY at LIMIT 1",
        Table::AuditEvents => "SELECT at FROM audit_events ORDER BY id LIMIT 1",
        Table::AuthorizationCodes => "SELECT created_at FROM authorization_codes ORDER BY expires_at LIMIT 1",
        Table::LoginSessions => "SELECT created_at FROM login_sessions ORDER BY expires_at LIMIT 1",
        Table::OtpCodes => "SELECT issued_at FROM otp_codes ORDER BY expires_at LIMIT 1",
        // A window's start is not kept: its end dates it.
        Table::OtpCounters => "SELECT window_ends FROM otp_counters ORDER BY window_ends LIMIT 1",
    }
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One statement on both databases: insert, or take over an expired (or our own) lease.
        let sql = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                   WHERE leases.holder = excluded.holder OR leases.expires_at < $4";
        let backend = self.db.get_database_backend();
        let values =
            [Value::from(name.to_owned()), Value::from(holder.to_owned()), Value::from(until), Value::from(now)];
        let done =
            self.db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune(&self, table: Table, horizon: DateTime<Utc>, batch: u64) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        // `(a, b) IN (SELECT a, b …)` for a table keyed by two columns (one code per destination
        // and client), on both databases.
        let mut sql = format!("DELETE FROM {} WHERE ({}) IN ({})", table.as_str(), key(table), pick(table, backend));
        if table == Table::AuditEvents {
            sql.push_str(" AND at < $1");
        }
        let values = [Value::from(horizon), Value::from(batch as i64)];
        let done =
            self.db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.map_err(store_err)?;
        Ok(done.rows_affected())
    }

    async fn oldest(&self, table: Table) -> Result<Option<DateTime<Utc>>, StoreError> {
        let backend = self.db.get_database_backend();
        let row = self.db.query_one_raw(Statement::from_string(backend, oldest_sql(table))).await.map_err(store_err)?;
        row.map(|r| r.try_get_by_index::<DateTime<Utc>>(0)).transpose().map_err(store_err)
    }
}
