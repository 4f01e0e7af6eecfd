//! `AuthCodeRepo` over `authorization_codes`: spending a code is one conditional update.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::authcode::{AuthCode, CodeChallenge, Redemption};
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId};
use portcullis_domain::ports::{AuthCodeRepo, StoreError};
use portcullis_domain::secret::SecretHash;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::SqlStore;
use crate::entities::authorization_code as code;
use crate::error::store_err;

fn corrupt(what: &str) -> StoreError {
    StoreError::malformed(format!("stored authorization code has a malformed {what}"))
}

#[async_trait]
impl AuthCodeRepo for SqlStore {
    async fn insert(&self, c: &AuthCode) -> Result<(), StoreError> {
        let row = code::ActiveModel {
            code_hash: Set(c.code_hash.as_str().to_owned()),
            client_id: Set(c.client_id.to_string()),
            user_id: Set(c.user_id.to_string()),
            redirect_uri: Set(c.redirect_uri.clone()),
            scope: Set(c.scope.clone()),
            code_challenge: Set(c.challenge.as_ref().map(|ch| ch.as_str().to_owned())),
            device_id: Set(c.device_id.as_ref().map(|d| d.to_string())),
            auth_time: Set(Some(c.auth_time)),
            created_at: Set(c.created_at),
            expires_at: Set(c.expires_at),
            used_at: Set(None),
            replayed_at: Set(None),
            session_id: Set(None),
            nonce: Set(c.nonce.clone()),
        };
        code::Entity::insert(row).exec_without_returning(&self.db).await.map_err(store_err)?;
        Ok(())
    }

    async fn redeem(&self, code_hash: &SecretHash, now: DateTime<Utc>) -> Result<Redemption, StoreError> {
        let spent = code::Entity::update_many()
            .col_expr(code::Column::UsedAt, Expr::value(now))
            .filter(code::Column::CodeHash.eq(code_hash.as_str()))
            .filter(code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        let Some(row) = code::Entity::find_by_id(code_hash.as_str()).one(&self.db).await.map_err(store_err)? else {
            return Ok(Redemption::Unknown);
        };
        if spent.rows_affected == 1 {
            return to_domain(row).map(Redemption::Redeemed);
        }
        code::Entity::update_many()
            .col_expr(code::Column::ReplayedAt, Expr::value(now))
            .filter(code::Column::CodeHash.eq(code_hash.as_str()))
            .filter(code::Column::ReplayedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        // Read again: the session may have been attached since the first read.
        let row = code::Entity::find_by_id(code_hash.as_str()).one(&self.db).await.map_err(store_err)?.unwrap_or(row);
        Ok(Redemption::Replayed {
            user_id: UserId::parse(&row.user_id).map_err(|_| corrupt("user id"))?,
            session: row.session_id.as_deref().map(SessionId::parse).transpose().map_err(|_| corrupt("session id"))?,
        })
    }

    async fn attach_session(&self, code_hash: &SecretHash, session: &SessionId) -> Result<bool, StoreError> {
        code::Entity::update_many()
            .col_expr(code::Column::SessionId, Expr::value(session.as_str()))
            .filter(code::Column::CodeHash.eq(code_hash.as_str()))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        let row = code::Entity::find_by_id(code_hash.as_str()).one(&self.db).await.map_err(store_err)?;
        Ok(row.is_some_and(|r| r.replayed_at.is_some()))
    }
}

fn to_domain(r: code::Model) -> Result<AuthCode, StoreError> {
    Ok(AuthCode {
        code_hash: SecretHash::from_stored(r.code_hash),
        client_id: ClientId::parse(&r.client_id).map_err(|_| corrupt("client id"))?,
        user_id: UserId::parse(&r.user_id).map_err(|_| corrupt("user id"))?,
        redirect_uri: r.redirect_uri,
        scope: r.scope,
        challenge: r.code_challenge.map(CodeChallenge::from_stored),
        device_id: r.device_id.as_deref().map(DeviceId::parse).transpose().map_err(|_| corrupt("device id"))?,
        // Codes issued before the column existed: their issue time is the best estimate.
        auth_time: r.auth_time.unwrap_or(r.created_at),
        created_at: r.created_at,
        expires_at: r.expires_at,
        nonce: r.nonce,
    })
}
