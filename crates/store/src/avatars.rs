//! `AvatarRepo` over `avatars` (one row per user; it goes with the user by the foreign key).

use async_trait::async_trait;
use portcullis_domain::ids::UserId;
use portcullis_domain::ports::{Avatar, AvatarRepo, StoreError};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Statement, Value};

use crate::SqlStore;
use crate::entities::avatar;
use crate::error::store_err;

#[async_trait]
impl AvatarRepo for SqlStore {
    async fn put_avatar(&self, user: &UserId, a: &Avatar) -> Result<bool, StoreError> {
        // Only for a user who exists (one deleted meanwhile gets no orphan row); one statement.
        let sql = "INSERT INTO avatars (user_id, content_type, data, etag, updated_at) \
                   SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
                   ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type, \
                   data = excluded.data, etag = excluded.etag, updated_at = excluded.updated_at";
        let backend = self.db.get_database_backend();
        let values = [
            Value::from(user.as_str().to_owned()),
            Value::from(a.content_type.clone()),
            Value::from(a.data.clone()),
            Value::from(a.etag.clone()),
            Value::from(a.updated_at),
        ];
        match self.db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await {
            Ok(done) => Ok(done.rows_affected() == 1),
            // The user was deleted between the check and the insert (PostgreSQL): no user.
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn avatar(&self, user: &UserId) -> Result<Option<Avatar>, StoreError> {
        let row = avatar::Entity::find_by_id(user.as_str()).one(&self.db).await.map_err(store_err)?;
        Ok(row.map(|m| Avatar { content_type: m.content_type, data: m.data, etag: m.etag, updated_at: m.updated_at }))
    }

    async fn avatar_etag(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        avatar::Entity::find()
            .select_only()
            .column(avatar::Column::Etag)
            .filter(avatar::Column::UserId.eq(user.as_str()))
            .into_tuple::<String>()
            .one(&self.db)
            .await
            .map_err(store_err)
    }

    async fn delete_avatar(&self, user: &UserId) -> Result<bool, StoreError> {
        let done = avatar::Entity::delete_by_id(user.as_str()).exec(&self.db).await.map_err(store_err)?;
        Ok(done.rows_affected == 1)
    }
}
