//! `SessionRepo` over `device_sessions` and `refresh_tokens`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId};
use portcullis_domain::ports::{RotateOutcome, RotateRequest, SessionRepo, StoreError};
use portcullis_domain::revocation::{NewRevocation, Reason, Target};
use portcullis_domain::secret::SecretHash;
use portcullis_domain::session::{DeviceSession, NewRefreshToken};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use crate::SqlStore;
use crate::entities::{device_session, refresh_token};
use crate::error::store_err;

#[async_trait]
impl SessionRepo for SqlStore {
    async fn create(&self, s: &DeviceSession, first: Option<&NewRefreshToken>) -> Result<(), StoreError> {
        let session = device_session::ActiveModel {
            id: Set(s.id.to_string()),
            user_id: Set(s.user_id.to_string()),
            client_id: Set(s.client_id.to_string()),
            device_id: Set(s.device_id.to_string()),
            fingerprint: Set(s.fingerprint.clone()),
            browser: Set(s.browser.clone()),
            os: Set(s.os.clone()),
            device: Set(s.device.clone()),
            scope: Set(s.scope.clone()),
            last_ip: Set(s.last_ip.clone()),
            first_seen: Set(s.first_seen),
            last_seen: Set(s.last_seen),
            idle_expires_at: Set(s.idle_expires_at),
            absolute_expires_at: Set(s.absolute_expires_at),
            revoked_at: Set(s.revoked_at),
            revoked_reason: Set(s.revoked_reason.clone()),
        };
        let token = first.map(|first| refresh_token::ActiveModel {
            id: Set(first.id.clone()),
            session_id: Set(s.id.to_string()),
            token_hash: Set(first.token_hash.as_str().to_owned()),
            parent_id: Set(None),
            issued_at: Set(first.issued_at),
            used_at: Set(None),
            superseded_at: Set(None),
            expires_at: Set(first.expires_at),
        });
        let txn = self.db.begin().await.map_err(store_err)?;
        device_session::Entity::insert(session).exec_without_returning(&txn).await.map_err(store_err)?;
        if let Some(token) = token {
            refresh_token::Entity::insert(token).exec_without_returning(&txn).await.map_err(store_err)?;
        }
        txn.commit().await.map_err(store_err)?;
        Ok(())
    }

    async fn find(&self, id: &SessionId) -> Result<Option<DeviceSession>, StoreError> {
        device_session::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }

    async fn find_by_token(&self, token_hash: &SecretHash) -> Result<Option<DeviceSession>, StoreError> {
        let Some(token) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        device_session::Entity::find_by_id(token.session_id)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }

    async fn rotate(&self, request: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
        let queue = self.rotations.get_or_init(|| crate::rotate::RotationQueue::start(self.db.clone()));
        queue.rotate(request).await
    }

    async fn list_for_user(&self, user: &UserId, limit: u64) -> Result<Vec<DeviceSession>, StoreError> {
        device_session::Entity::find()
            .filter(device_session::Column::UserId.eq(user.as_str()))
            .order_by_desc(device_session::Column::LastSeen)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn revoke(
        &self,
        id: &SessionId,
        user: &UserId,
        now: DateTime<Utc>,
        reason: Reason,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(store_err)?;
        let done = device_session::Entity::update_many()
            .col_expr(device_session::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
            .col_expr(device_session::Column::RevokedReason, sea_orm::sea_query::Expr::value(reason.as_str()))
            .filter(device_session::Column::Id.eq(id.as_str()))
            .filter(device_session::Column::UserId.eq(user.as_str()))
            .filter(device_session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_err)?;
        if done.rows_affected != 1 {
            txn.rollback().await.map_err(store_err)?;
            return Ok(false);
        }
        let target = Target::Session { sid: id.clone(), user: user.clone() };
        crate::revocations::insert(&txn, &NewRevocation { at: now, target, reason }).await?;
        txn.commit().await.map_err(store_err)?;
        Ok(true)
    }
}

pub(crate) fn to_domain(m: device_session::Model) -> Result<DeviceSession, StoreError> {
    let bad = |what: &str| StoreError::Backend(format!("stored session has a malformed {what}"));
    Ok(DeviceSession {
        id: SessionId::parse(&m.id).map_err(|_| bad("id"))?,
        user_id: UserId::parse(&m.user_id).map_err(|_| bad("user_id"))?,
        client_id: ClientId::parse(&m.client_id).map_err(|_| bad("client_id"))?,
        device_id: DeviceId::parse(&m.device_id).map_err(|_| bad("device_id"))?,
        fingerprint: m.fingerprint,
        browser: m.browser,
        os: m.os,
        device: m.device,
        scope: m.scope,
        last_ip: m.last_ip,
        first_seen: m.first_seen,
        last_seen: m.last_seen,
        idle_expires_at: m.idle_expires_at,
        absolute_expires_at: m.absolute_expires_at,
        revoked_at: m.revoked_at,
        revoked_reason: m.revoked_reason,
    })
}
