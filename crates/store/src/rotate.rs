//! Refresh-token rotation, atomically: the family's lock, the domain's `decide`, the writes.
//!
//! The lock is a no-op update of the session row, the first statement of the transaction: on
//! PostgreSQL it takes the row lock (concurrent refreshes of one family queue behind it, other
//! families do not), on SQLite it takes the database's write lock up front, so the transaction
//! never has to upgrade a stale read snapshot. Every read after it sees the latest committed
//! state, so two refreshes of one family never decide on the same facts.

use portcullis_domain::ports::{RotateOutcome, RotateRequest, StoreError};
use portcullis_domain::rotation::{Decision, decide, slid_expiry};
use portcullis_domain::session::RefreshTokenRecord;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    IsolationLevel, QueryFilter, Statement, TransactionTrait,
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

async fn lock_family(txn: &DatabaseTransaction, session_id: &str) -> Result<(), StoreError> {
    let backend = txn.get_database_backend();
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE device_sessions SET id = id WHERE id = $1",
        [session_id.into()],
    ))
    .await
    .map_err(store_err)?;
    Ok(())
}

pub(crate) async fn rotate(db: &DatabaseConnection, req: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
    // The token → family link never changes, so it can be read before locking.
    let Some(found) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(req.token_hash.as_str()))
        .one(db)
        .await
        .map_err(store_err)?
    else {
        return Ok(RotateOutcome::Unknown);
    };

    // READ COMMITTED (PostgreSQL's default, stated so a server default cannot change it): each
    // statement after the lock sees what the previous holder committed.
    let isolation = match db.get_database_backend() {
        DbBackend::Postgres => Some(IsolationLevel::ReadCommitted),
        _ => None,
    };
    let txn = db.begin_with_config(isolation, None).await.map_err(store_err)?;
    lock_family(&txn, &found.session_id).await?;
    let session_row = device_session::Entity::find_by_id(found.session_id.clone())
        .one(&txn)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StoreError::Backend("refresh token without session".into()))?;
    let session = to_domain(session_row)?;
    let token = record(
        refresh_token::Entity::find_by_id(found.id.clone())
            .one(&txn)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StoreError::Backend("refresh token vanished".into()))?,
    );
    let live_successor = refresh_token::Entity::find()
        // session_id first: it is indexed, so the lookup stays within the family.
        .filter(refresh_token::Column::SessionId.eq(session.id.as_str()))
        .filter(refresh_token::Column::ParentId.eq(token.id.clone()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::SupersededAt.is_null())
        .one(&txn)
        .await
        .map_err(store_err)?
        .map(record);

    let now = req.now;
    match decide(&session, &token, live_successor.as_ref(), req.fingerprint, now, req.grace) {
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
            txn.commit().await.map_err(store_err)?;
            let mut session = session;
            session.revoked_at = Some(now);
            session.revoked_reason = Some(reason.as_str().to_owned());
            Ok(RotateOutcome::Revoked { session, reason })
        }
        Decision::Rotate { supersede } => {
            let retry = supersede.is_some();
            match supersede {
                // The retry: the earlier successor dies.
                Some(successor) => {
                    refresh_token::Entity::update_many()
                        .col_expr(refresh_token::Column::SupersededAt, Expr::value(now))
                        .filter(refresh_token::Column::Id.eq(successor))
                        .exec(&txn)
                        .await
                        .map_err(store_err)?;
                }
                None => {
                    refresh_token::Entity::update_many()
                        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
                        .filter(refresh_token::Column::Id.eq(token.id.clone()))
                        .exec(&txn)
                        .await
                        .map_err(store_err)?;
                }
            }
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
            txn.commit().await.map_err(store_err)?;
            let mut session = session;
            session.last_seen = now;
            session.idle_expires_at = expires;
            session.last_ip = ip;
            Ok(RotateOutcome::Rotated { session, retry })
        }
    }
}
