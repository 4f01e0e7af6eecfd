//! `AccessTokenDenylist` over `revoked_access_tokens`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::ports::{AccessTokenDenylist, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::SqlStore;
use crate::entities::revoked_access_token;
use crate::error::store_err;

#[async_trait]
impl AccessTokenDenylist for SqlStore {
    async fn deny(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let row = revoked_access_token::ActiveModel { jti: Set(jti.to_owned()), expires_at: Set(expires_at) };
        revoked_access_token::Entity::insert(row)
            .on_conflict(OnConflict::column(revoked_access_token::Column::Jti).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn is_denied(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(revoked_access_token::Entity::find_by_id(jti).one(&self.db).await.map_err(store_err)?.is_some())
    }
}
