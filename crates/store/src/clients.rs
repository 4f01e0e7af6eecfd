//! `ClientRepo` over `clients`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::client::Client;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::ClientId;
use portcullis_domain::ports::{ClientRepo, StoreError};
use portcullis_domain::secret::SecretHash;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::SqlStore;
use crate::entities::client;
use crate::error::store_err;

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored client has a malformed {what}"))
}

fn to_domain(m: client::Model) -> Result<Client, StoreError> {
    let grants = m
        .grants
        .split(' ')
        .filter(|g| !g.is_empty())
        .map(|g| g.parse::<GrantType>().map_err(|_| corrupt("grant")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Client {
        id: ClientId::parse(&m.id).map_err(|_| corrupt("id"))?,
        name: m.name,
        secret_hash: m.secret_hash.map(SecretHash::from_stored),
        grants,
        scope: m.scope.parse().map_err(|_| corrupt("scope"))?,
        redirect_uris: serde_json::from_str(&m.redirect_uris).map_err(|_| corrupt("redirect_uris"))?,
        created_at: m.created_at,
    })
}

#[async_trait]
impl ClientRepo for SqlStore {
    async fn insert(&self, c: &Client) -> Result<(), StoreError> {
        let grants: Vec<&str> = c.grants.iter().map(|g| g.as_str()).collect();
        let row = client::ActiveModel {
            id: Set(c.id.to_string()),
            name: Set(c.name.clone()),
            secret_hash: Set(c.secret_hash.as_ref().map(|h| h.as_str().to_owned())),
            grants: Set(grants.join(" ")),
            scope: Set(c.scope.to_string()),
            redirect_uris: Set(serde_json::to_string(&c.redirect_uris).map_err(|e| StoreError::Backend(e.to_string()))?),
            created_at: Set(c.created_at),
            deleted_at: Set(None),
        };
        client::Entity::insert(row).exec_without_returning(&self.db).await.map_err(store_err)?;
        Ok(())
    }

    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<Client>, StoreError> {
        let mut q = client::Entity::find()
            .filter(client::Column::DeletedAt.is_null())
            .order_by_asc(client::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            q = q.filter(client::Column::Id.gt(after));
        }
        q.all(&self.db).await.map_err(store_err)?.into_iter().map(to_domain).collect()
    }

    async fn delete(&self, id: &ClientId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = client::Entity::update_many()
            .col_expr(client::Column::DeletedAt, Expr::value(now))
            .filter(client::Column::Id.eq(id.as_str()))
            .filter(client::Column::DeletedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected == 1)
    }

    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        client::Entity::find_by_id(id.as_str())
            .filter(client::Column::DeletedAt.is_null())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }
}
