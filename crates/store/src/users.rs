//! `UserRepo` over `users`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::ids::{UserId, Username};
use portcullis_domain::ports::{StoreError, UserRepo};
use portcullis_domain::revocation::NewRevocation;
use portcullis_domain::user::{User, UserStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, UpdateMany,
};

use crate::SqlStore;
use crate::entities::user;
use crate::error::store_err;

impl SqlStore {
    /// Applies `update` to one user and records `cutoff`, in one transaction.
    async fn update_user(
        &self,
        id: &UserId,
        update: UpdateMany<user::Entity>,
        now: DateTime<Utc>,
        cutoff: Option<&NewRevocation>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(store_err)?;
        let done = update
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id.as_str()))
            .exec(&txn)
            .await
            .map_err(store_err)?;
        if done.rows_affected != 1 {
            txn.rollback().await.map_err(store_err)?;
            return Ok(false);
        }
        if let Some(cutoff) = cutoff {
            crate::revocations::insert(&txn, cutoff).await?;
        }
        txn.commit().await.map_err(store_err)?;
        Ok(true)
    }
}

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

    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError> {
        let mut q = user::Entity::find().order_by_asc(user::Column::Id).limit(limit);
        if let Some(after) = after {
            q = q.filter(user::Column::Id.gt(after));
        }
        q.all(&self.db).await.map_err(store_err)?.into_iter().map(to_domain).collect()
    }

    async fn set_status(
        &self,
        id: &UserId,
        status: UserStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
        cutoff: Option<&NewRevocation>,
    ) -> Result<bool, StoreError> {
        let update = user::Entity::update_many()
            .col_expr(user::Column::Status, Expr::value(status.as_str()))
            .col_expr(user::Column::BanReason, Expr::value(reason.map(str::to_owned)));
        self.update_user(id, update, now, cutoff).await
    }

    async fn set_password(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
        cutoff: Option<&NewRevocation>,
    ) -> Result<bool, StoreError> {
        self.update_user(
            id,
            user::Entity::update_many().col_expr(user::Column::PasswordHash, Expr::value(hash)),
            now,
            cutoff,
        )
        .await
    }

    async fn find(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        user::Entity::find_by_id(id.as_str()).one(&self.db).await.map_err(store_err)?.map(to_domain).transpose()
    }
}
