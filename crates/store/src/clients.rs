//! `ClientRepo` over `clients`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::client::Client;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::ClientId;
use portcullis_domain::ports::{ClientRepo, StoreError};
use portcullis_domain::revocation::{NewRevocation, Reason, Target};
use portcullis_domain::secret::SecretHash;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use crate::SqlStore;
use crate::ending::{Sessions, Span, end_sessions};
use crate::entities::{client, consent};
use crate::error::store_err;
use crate::users::lock_users_of;

fn corrupt(what: &str) -> StoreError {
    StoreError::malformed(format!("stored client has a malformed {what}"))
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
        resource_server: m.resource_server,
        otp_signup: m.otp_signup,
        signup: m.signup,
        allowed_origins: serde_json::from_str(&m.allowed_origins).map_err(|_| corrupt("allowed_origins"))?,
        post_logout_redirect_uris: serde_json::from_str(&m.post_logout_redirect_uris)
            .map_err(|_| corrupt("post_logout_redirect_uris"))?,
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
            redirect_uris: Set(serde_json::to_string(&c.redirect_uris).map_err(StoreError::backend)?),
            resource_server: Set(c.resource_server),
            otp_signup: Set(c.otp_signup),
            signup: Set(c.signup),
            allowed_origins: Set(serde_json::to_string(&c.allowed_origins).map_err(StoreError::backend)?),
            post_logout_redirect_uris: Set(
                serde_json::to_string(&c.post_logout_redirect_uris).map_err(StoreError::backend)?
            ),
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

    async fn scopes(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let lists: Vec<String> = client::Entity::find()
            .select_only()
            .column(client::Column::Scope)
            .distinct()
            .filter(client::Column::DeletedAt.is_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        Ok(lists.iter().flat_map(|l| l.split_whitespace()).map(str::to_owned).collect())
    }

    async fn allowed_origins(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let lists: Vec<String> = client::Entity::find()
            .select_only()
            .column(client::Column::AllowedOrigins)
            .distinct()
            .filter(client::Column::DeletedAt.is_null())
            .filter(client::Column::AllowedOrigins.ne("[]"))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let mut origins = std::collections::BTreeSet::new();
        for list in lists {
            let list: Vec<String> = serde_json::from_str(&list).map_err(|_| corrupt("allowed_origins"))?;
            origins.extend(list);
        }
        Ok(origins)
    }

    async fn delete(&self, id: &ClientId, now: DateTime<Utc>, actor: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin().await.map_err(store_err)?;
        let done = client::Entity::update_many()
            .col_expr(client::Column::DeletedAt, Expr::value(now))
            .filter(client::Column::Id.eq(id.as_str()))
            .filter(client::Column::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_err)?;
        if done.rows_affected != 1 {
            txn.rollback().await.map_err(store_err)?;
            return Ok(None);
        }
        // Its sessions belong to many users: their row locks first, in id order.
        lock_users_of(&txn, "client_id = $1 AND revoked_at IS NULL", vec![id.as_str().to_owned().into()]).await?;
        // One client-wide event covers every token of these sessions, and its client tokens.
        let ended = end_sessions(
            &txn,
            Sessions::OfClient { client: id.as_str() },
            now,
            Reason::ClientDeleted,
            actor,
            false,
            Span::All,
        )
        .await?;
        consent::Entity::delete_many()
            .filter(consent::Column::ClientId.eq(id.as_str()))
            .exec(&txn)
            .await
            .map_err(store_err)?;
        let target = Target::Client { client: id.clone() };
        crate::revocations::insert(&txn, &NewRevocation { at: now, target, reason: Reason::ClientDeleted }).await?;
        txn.commit().await.map_err(store_err)?;
        Ok(Some(ended))
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
