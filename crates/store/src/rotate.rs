//! Refresh-token rotation, atomically: the family's lock, the domain's `decide`, the writes,
//! and the audit event, in one transaction.
//!
//! The lock comes first and every read the decision uses is made under it, so two refreshes of
//! one family never decide on the same facts. It is a no-op update of the session row, found
//! through the presented token's hash, returning that row: on PostgreSQL it takes the row lock
//! (concurrent refreshes of one family queue behind it, other families do not) and returns the
//! row's latest version; on SQLite it takes the database's write lock up front, so the
//! transaction never has to upgrade a stale read snapshot. The token is read next, in its own
//! statement (PostgreSQL runs at READ COMMITTED, checked at start by `connect`, so it sees what
//! the lock's previous holder committed). Always the session first, then tokens: one lock order
//! for every transaction, so a retry and a refresh racing in one family cannot deadlock.
//!
//! On PostgreSQL the writes go as one statement (data-modifying CTEs): the common path is BEGIN,
//! three statements, COMMIT. On SQLite (in-process: a statement costs no round trip) they go one
//! by one.

use chrono::{DateTime, Utc};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::ports::{RotateOutcome, RotateRequest, StoreError};
use portcullis_domain::revocation::{NewRevocation, Target};
use portcullis_domain::rotation::{Decision, RevokeReason, decide, slid_expiry};
use portcullis_domain::session::RefreshTokenRecord;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    FromQueryResult, QueryFilter, Statement, TransactionTrait,
};

use crate::entities::{device_session, refresh_token};
use crate::error::store_err;
use crate::sessions::to_domain;

fn record(m: refresh_token::Model) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: m.id,
        session_id: m.session_id,
        parent_id: m.parent_id,
        issued_at: m.issued_at,
        used_at: m.used_at,
        superseded_at: m.superseded_at,
        expires_at: m.expires_at,
    }
}

/// Locks the family of the token with `hash` and returns its session; `None` when no such
/// token exists.
async fn lock_session(txn: &DatabaseTransaction, hash: &str) -> Result<Option<device_session::Model>, StoreError> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "UPDATE device_sessions SET id = id \
             WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) RETURNING *",
            [hash.into()],
        ))
        .await
        .map_err(store_err)?;
    row.map(|r| device_session::Model::from_query_result(&r, "")).transpose().map_err(store_err)
}

pub(crate) async fn rotate(db: &DatabaseConnection, req: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
    let txn = db.begin().await.map_err(store_err)?;
    let postgres = txn.get_database_backend() == DbBackend::Postgres;
    let Some(session) = lock_session(&txn, req.token_hash.as_str()).await? else {
        txn.rollback().await.map_err(store_err)?;
        return Ok(RotateOutcome::Unknown);
    };
    let session = to_domain(session)?;
    let token = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(req.token_hash.as_str()))
        .one(&txn)
        .await
        .map_err(store_err)?
        .map(record)
        .ok_or_else(|| StoreError::Backend("refresh token vanished under its lock".into()))?;
    // Only a used token can be a retry, and only then is its live successor needed.
    let live_successor = match token.used_at {
        None => None,
        Some(_) => refresh_token::Entity::find()
            // session_id first: it is indexed, so the lookup stays within the family.
            .filter(refresh_token::Column::SessionId.eq(session.id.as_str()))
            .filter(refresh_token::Column::ParentId.eq(token.id.clone()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::SupersededAt.is_null())
            .one(&txn)
            .await
            .map_err(store_err)?
            .map(record),
    };

    let now = req.now;
    let mut audit = req.audit;
    audit.at = now;
    audit.user_id = Some(session.user_id.to_string());
    audit.actor = Some(session.user_id.to_string());
    audit.client_id = Some(session.client_id.to_string());
    audit.detail = Some(format!("sid={}", session.id));
    match decide(&session, &token, live_successor.as_ref(), req.by, now, req.grace) {
        Decision::Refuse(refusal) => {
            txn.rollback().await.map_err(store_err)?;
            Ok(RotateOutcome::Refused { session, refusal })
        }
        Decision::Revoke(reason) => {
            device_session::Entity::update_many()
                .col_expr(device_session::Column::RevokedAt, Expr::value(now))
                .col_expr(device_session::Column::RevokedReason, Expr::value(reason.as_str()))
                .filter(device_session::Column::Id.eq(session.id.as_str()))
                .exec(&txn)
                .await
                .map_err(store_err)?;
            audit.kind = match reason {
                RevokeReason::FingerprintMismatch => AuditKind::FingerprintMismatch,
                RevokeReason::ReuseDetected => AuditKind::RefreshReuseDetected,
            };
            crate::audit::insert(&txn, audit).await?;
            let target = Target::Session { sid: session.id.clone(), user: session.user_id.clone() };
            crate::revocations::insert(&txn, &NewRevocation { at: now, target, reason: reason.into() }).await?;
            txn.commit().await.map_err(store_err)?;
            let mut session = session;
            session.revoked_at = Some(now);
            session.revoked_reason = Some(reason.as_str().to_owned());
            Ok(RotateOutcome::Revoked { session, reason })
        }
        Decision::Rotate { supersede } => {
            let retry = supersede.is_some();
            // The retry: the earlier successor dies. Otherwise the presented token is used.
            let (column, id) = match supersede {
                Some(successor) => (refresh_token::Column::SupersededAt, successor),
                None => (refresh_token::Column::UsedAt, token.id.clone()),
            };
            let expires = slid_expiry(&session, now, req.idle_ttl);
            let ip = req.ip.map(|s| s.chars().take(64).collect::<String>());
            audit.kind = AuditKind::Refreshed;
            audit.detail = Some(format!("sid={} {}", session.id, if retry { "retry" } else { "rotated" }));
            let writes = Writes {
                now,
                retire: (column, id),
                successor: (req.new_id, req.new_hash.as_str()),
                parent: &token.id,
                session: session.id.as_str(),
                expires,
                ip: &ip,
                audit,
            };
            if postgres {
                writes.in_one_statement(&txn).await?;
            } else {
                writes.one_by_one(&txn).await?;
            }
            txn.commit().await.map_err(store_err)?;
            let mut session = session;
            session.last_seen = now;
            session.idle_expires_at = expires;
            session.last_ip = ip;
            Ok(RotateOutcome::Rotated { session, retry })
        }
    }
}

/// What a rotation writes: the presented token used (or, for a retry, the earlier successor
/// superseded), the successor (id, hash) under `parent`, the session's sliding expiry and last
/// sighting, the audit event.
struct Writes<'a> {
    now: DateTime<Utc>,
    retire: (refresh_token::Column, String),
    successor: (String, &'a str),
    parent: &'a str,
    session: &'a str,
    expires: DateTime<Utc>,
    ip: &'a Option<String>,
    audit: AuditEvent,
}

impl Writes<'_> {
    async fn one_by_one(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let (column, id) = self.retire;
        refresh_token::Entity::update_many()
            .col_expr(column, Expr::value(self.now))
            .filter(refresh_token::Column::Id.eq(id))
            .exec(txn)
            .await
            .map_err(store_err)?;
        let (new_id, new_hash) = self.successor;
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            id: Set(new_id),
            session_id: Set(self.session.to_owned()),
            token_hash: Set(new_hash.to_owned()),
            parent_id: Set(Some(self.parent.to_owned())),
            issued_at: Set(self.now),
            used_at: Set(None),
            superseded_at: Set(None),
            expires_at: Set(self.expires),
        })
        .exec_without_returning(txn)
        .await
        .map_err(store_err)?;
        device_session::Entity::update_many()
            .col_expr(device_session::Column::LastSeen, Expr::value(self.now))
            .col_expr(device_session::Column::IdleExpiresAt, Expr::value(self.expires))
            .col_expr(device_session::Column::LastIp, Expr::value(self.ip.clone()))
            .filter(device_session::Column::Id.eq(self.session))
            .exec(txn)
            .await
            .map_err(store_err)?;
        crate::audit::insert(txn, self.audit).await
    }

    /// PostgreSQL: the same four writes as one statement, one round trip. Each touches its own
    /// row, so the CTEs (which run on one snapshot) cannot step on one another.
    async fn in_one_statement(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let (column, id) = self.retire;
        let retire = match column {
            refresh_token::Column::SupersededAt => "superseded_at",
            _ => "used_at",
        };
        let sql = format!(
            "WITH retired AS (UPDATE refresh_tokens SET {retire} = $1 WHERE id = $2), \
                  successor AS (INSERT INTO refresh_tokens \
                      (id, session_id, token_hash, parent_id, issued_at, used_at, superseded_at, expires_at) \
                      VALUES ($3, $4, $5, $6, $1, NULL, NULL, $7)), \
                  seen AS (UPDATE device_sessions SET last_seen = $1, idle_expires_at = $7, last_ip = $8 \
                      WHERE id = $4) \
             INSERT INTO audit_events ({}) VALUES ($9, $10, $11, $12, $13, $14, $15, $16, $17)",
            crate::audit::INSERT_COLUMNS
        );
        let (new_id, new_hash) = self.successor;
        let mut values: Vec<sea_orm::Value> = vec![
            self.now.into(),
            id.into(),
            new_id.into(),
            self.session.into(),
            new_hash.into(),
            self.parent.into(),
            self.expires.into(),
            self.ip.clone().into(),
        ];
        values.extend(crate::audit::row_values(self.audit));
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await.map_err(store_err)?;
        Ok(())
    }
}
