//! `SigningKeyRepo` over `signing_keys`.

use async_trait::async_trait;
use portcullis_domain::ports::{SigningKeyRecord, SigningKeyRepo, StoreError};
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};

use crate::SqlStore;
use crate::entities::signing_key;
use crate::error::store_err;

#[async_trait]
impl SigningKeyRepo for SqlStore {
    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = signing_key::Entity::find()
            .order_by_asc(signing_key::Column::ActiveFrom)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|m| SigningKeyRecord { kid: m.kid, created_at: m.created_at, active_from: m.active_from })
            .collect())
    }

    async fn insert(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        let row = signing_key::ActiveModel {
            kid: Set(k.kid.clone()),
            created_at: Set(k.created_at),
            active_from: Set(k.active_from),
        };
        signing_key::Entity::insert(row).exec_without_returning(&self.db).await.map_err(store_err)?;
        Ok(())
    }
}
