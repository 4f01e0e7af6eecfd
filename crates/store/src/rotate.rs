//! Refresh-token rotation, atomically: the family's lock, the domain's `decide`, the writes,
//! and the audit event, in one transaction.
//!
//! The lock is a no-op update of the session row, found through the presented token's hash,
//! as the first statement of the transaction: on PostgreSQL it takes the row lock (concurrent
//! refreshes of one family queue behind it, other families do not), on SQLite it takes the
//! database's write lock up front, so the transaction never has to upgrade a stale read
//! snapshot. Every read after it sees the latest committed state (PostgreSQL runs at READ
//! COMMITTED, checked at start by `connect`), so two refreshes of one family never decide on
//! the same facts. The common path is seven statements between BEGIN and COMMIT.

use portcullis_domain::audit::AuditKind;
use portcullis_domain::ports::{RotateOutcome, RotateRequest, StoreError};
use portcullis_domain::revocation::{NewRevocation, Target};
use portcullis_domain::rotation::{Decision, RevokeReason, decide, slid_expiry};
use portcullis_domain::session::RefreshTokenRecord;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    Statement, TransactionTrait,
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

/// Locks the family of the token with `hash`; false when no such token exists.
async fn lock_family(txn: &DatabaseTransaction, hash: &str) -> Result<bool, StoreError> {
    let done = txn
        .execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "UPDATE device_sessions SET id = id WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)",
            [hash.into()],
        ))
        .await
        .map_err(store_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn rotate(db: &DatabaseConnection, req: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
    let txn = db.begin().await.map_err(store_err)?;
    if !lock_family(&txn, req.token_hash.as_str()).await? {
        txn.rollback().await.map_err(store_err)?;
        return Ok(RotateOutcome::Unknown);
    }
    let token = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(req.token_hash.as_str()))
        .one(&txn)
        .await
        .map_err(store_err)?
        .map(record)
        .ok_or_else(|| StoreError::Backend("refresh token vanished under its lock".into()))?;
    let session = to_domain(
        device_session::Entity::find_by_id(token.session_id.clone())
            .one(&txn)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StoreError::Backend("refresh token without session".into()))?,
    )?;
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
            refresh_token::Entity::update_many()
                .col_expr(column, Expr::value(now))
                .filter(refresh_token::Column::Id.eq(id))
                .exec(&txn)
                .await
                .map_err(store_err)?;
            let expires = slid_expiry(&session, now, req.idle_ttl);
            refresh_token::Entity::insert(refresh_token::ActiveModel {
                id: Set(req.new_id),
                session_id: Set(session.id.to_string()),
                token_hash: Set(req.new_hash.as_str().to_owned()),
                parent_id: Set(Some(token.id.clone())),
                issued_at: Set(now),
                used_at: Set(None),
                superseded_at: Set(None),
                expires_at: Set(expires),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(store_err)?;
            let ip = req.ip.map(|s| s.chars().take(64).collect::<String>());
            device_session::Entity::update_many()
                .col_expr(device_session::Column::LastSeen, Expr::value(now))
                .col_expr(device_session::Column::IdleExpiresAt, Expr::value(expires))
                .col_expr(device_session::Column::LastIp, Expr::value(ip.clone()))
                .filter(device_session::Column::Id.eq(session.id.as_str()))
                .exec(&txn)
                .await
                .map_err(store_err)?;
            audit.kind = AuditKind::Refreshed;
            audit.detail = Some(format!("sid={} {}", session.id, if retry { "retry" } else { "rotated" }));
            crate::audit::insert(&txn, audit).await?;
            txn.commit().await.map_err(store_err)?;
            let mut session = session;
            session.last_seen = now;
            session.idle_expires_at = expires;
            session.last_ip = ip;
            Ok(RotateOutcome::Rotated { session, retry })
        }
    }
}
