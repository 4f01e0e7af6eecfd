//! Ending device sessions set-based: one statement (PostgreSQL) or three in one write
//! transaction (SQLite) end every live session a [`Sessions`] selection covers, however many,
//! each with a `session_revoked` audit row and, where asked, its own revocation event.
//!
//! Nothing here reads sessions into memory first: a user with a million sessions is ended by
//! the same statements as a user with one (docs/decisions/0011).

use chrono::{DateTime, Utc};
use portcullis_domain::ports::StoreError;
use portcullis_domain::revocation::Reason;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};

use crate::error::store_err;

/// Which live sessions to end.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sessions<'a> {
    /// Every session of a user, but `keep`.
    OfUser { user: &'a str, keep: Option<&'a str> },
    /// One session of a user.
    One { user: &'a str, sid: &'a str },
    /// Every session of one of a user's devices.
    OfDevice { user: &'a str, device: &'a str },
    /// Every session a user opened with one client.
    OfUserAndClient { user: &'a str, client: &'a str },
    /// Every session a client opened.
    OfClient { client: &'a str },
}

impl Sessions<'_> {
    /// The `WHERE` condition over `device_sessions`, its parameters numbered from `$first`.
    fn condition(&self, first: usize) -> (String, Vec<Value>) {
        let p = |i: usize| format!("${}", first + i);
        let (sql, values): (String, Vec<&str>) = match *self {
            Self::OfUser { user, keep: None } => (format!("user_id = {}", p(0)), vec![user]),
            Self::OfUser { user, keep: Some(keep) } => {
                (format!("user_id = {} AND id <> {}", p(0), p(1)), vec![user, keep])
            }
            Self::One { user, sid } => (format!("user_id = {} AND id = {}", p(0), p(1)), vec![user, sid]),
            Self::OfDevice { user, device } => {
                (format!("user_id = {} AND device_id = {}", p(0), p(1)), vec![user, device])
            }
            Self::OfUserAndClient { user, client } => {
                (format!("user_id = {} AND client_id = {}", p(0), p(1)), vec![user, client])
            }
            Self::OfClient { client } => (format!("client_id = {}", p(0)), vec![client]),
        };
        (sql, values.into_iter().map(|v| Value::from(v.to_owned())).collect())
    }
}

/// Sessions ended per transaction when each gets its own revocation event: short transactions
/// commit their event ids promptly (the syncers wait only so long for an id that has not
/// committed, `revocations::GAP_WAIT`), and a device with a hundred thousand sessions does not
/// hold one transaction open for minutes.
pub(crate) const CHUNK: u64 = 500;

/// How many sessions one call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    /// Every one the selection covers (a cut-off, whose one event covers them all).
    All,
    /// At most [`CHUNK`], lowest ids first; call again until it ends fewer.
    Chunk,
}

/// Ends the live sessions `which` covers at `now` for `reason` (all, or a chunk of them):
/// `revoked_at` set, a `session_revoked` audit row by `actor` for each, and — with `events` — a
/// `Target::Session` revocation event for each (a user-wide or client-wide cut-off records one
/// event of its own instead). Returns how many sessions ended. Run inside the transaction of the
/// change that ends them.
pub(crate) async fn end_sessions(
    txn: &DatabaseTransaction,
    which: Sessions<'_>,
    now: DateTime<Utc>,
    reason: Reason,
    actor: &str,
    events: bool,
    span: Span,
) -> Result<u64, StoreError> {
    // $1 now, $2 reason, $3 actor, then the selection's own.
    let (condition, mut values) = which.condition(4);
    let mut params = vec![Value::from(now), Value::from(reason.as_str().to_owned()), Value::from(actor.to_owned())];
    params.append(&mut values);
    // Sessions past their expiry have no live token left: they are ended already.
    let selected = format!("revoked_at IS NULL AND idle_expires_at > $1 AND absolute_expires_at > $1 AND {condition}");
    let live = match span {
        Span::All => selected,
        Span::Chunk => format!("id IN (SELECT id FROM device_sessions WHERE {selected} ORDER BY id LIMIT {CHUNK})"),
    };
    let audit_columns = "INSERT INTO audit_events (at, kind, actor, user_id, client_id, device_id, detail)";
    let event_columns = "INSERT INTO revocation_events (at, kind, user_id, session_id, reason)";
    let backend = txn.get_database_backend();
    match backend {
        DbBackend::Postgres => {
            let events_cte = if events {
                format!(", events AS ({event_columns} SELECT $1, 'session', user_id, id, $2 FROM ended)")
            } else {
                String::new()
            };
            let sql = format!(
                "WITH ended AS (UPDATE device_sessions SET revoked_at = $1, revoked_reason = $2 WHERE {live} \
                     RETURNING id, user_id, client_id, device_id), \
                 audit AS ({audit_columns} SELECT $1, 'session_revoked', $3, user_id, client_id, device_id, \
                     $2 || ' sid=' || id FROM ended){events_cte} \
                 SELECT COUNT(*) AS ended FROM ended"
            );
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(backend, sql, params))
                .await
                .map_err(store_err)?
                .ok_or_else(|| StoreError::malformed("ending sessions returned no row"))?;
            let n: i64 = row.try_get_by_index(0).map_err(store_err)?;
            Ok(n.max(0) as u64)
        }
        _ => {
            // One write transaction holds SQLite's lock: the three statements see the same rows.
            let run = |sql: String| {
                let params = params.clone();
                async move { txn.execute_raw(Statement::from_sql_and_values(backend, sql, params)).await.map_err(store_err) }
            };
            run(format!(
                "{audit_columns} SELECT $1, 'session_revoked', $3, user_id, client_id, device_id, \
                 $2 || ' sid=' || id FROM device_sessions WHERE {live}"
            ))
            .await?;
            if events {
                run(format!("{event_columns} SELECT $1, 'session', user_id, id, $2 FROM device_sessions WHERE {live}"))
                    .await?;
            }
            let done =
                run(format!("UPDATE device_sessions SET revoked_at = $1, revoked_reason = $2 WHERE {live}")).await?;
            Ok(done.rows_affected())
        }
    }
}

/// Which of a user's browser login sessions to end.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Logins<'a> {
    All,
    OfDevice(&'a str),
}

/// Ends the user's browser login sessions that `which` covers.
pub(crate) async fn end_browser_logins(
    txn: &DatabaseTransaction,
    user: &str,
    which: Logins<'_>,
) -> Result<u64, StoreError> {
    let backend = txn.get_database_backend();
    let (sql, values) = match which {
        Logins::All => ("DELETE FROM login_sessions WHERE user_id = $1", vec![Value::from(user.to_owned())]),
        Logins::OfDevice(d) => (
            "DELETE FROM login_sessions WHERE user_id = $1 AND device_id = $2",
            vec![Value::from(user.to_owned()), Value::from(d.to_owned())],
        ),
    };
    let done = txn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.map_err(store_err)?;
    Ok(done.rows_affected())
}
