//! `UserRepo` over `users`.

use async_trait::async_trait;
use portcullis_domain::ids::{UserId, Username};
use portcullis_domain::ports::{StoreError, UserRepo};
use portcullis_domain::user::{User, UserStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::SqlStore;
use crate::entities::user;
use crate::error::store_err;

fn to_domain(m: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::parse(&m.id).map_err(|e| StoreError::Backend(format!("stored user id: {e}")))?,
        username: Username::parse(&m.username).map_err(|e| StoreError::Backend(format!("stored username: {e}")))?,
        password_hash: m.password_hash,
        status: UserStatus::from_stored(&m.status),
        ban_reason: m.ban_reason,
        created_at: m.created_at,
    })
}

#[async_trait]
impl UserRepo for SqlStore {
    async fn insert(&self, u: &User) -> Result<(), StoreError> {
        let row = user::ActiveModel {
            id: Set(u.id.to_string()),
            username: Set(u.username.to_string()),
            password_hash: Set(u.password_hash.clone()),
            status: Set(u.status.as_str().to_owned()),
            ban_reason: Set(u.ban_reason.clone()),
            created_at: Set(u.created_at),
            updated_at: Set(u.created_at),
        };
        user::Entity::insert(row).exec_without_returning(&self.db).await.map_err(store_err)?;
        Ok(())
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        user::Entity::find()
            .filter(user::Column::Username.eq(username.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }

    async fn find(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        user::Entity::find_by_id(id.as_str()).one(&self.db).await.map_err(store_err)?.map(to_domain).transpose()
    }
}
