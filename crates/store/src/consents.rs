//! `ConsentRepo` over `consents` and `LoginSessionRepo` over `login_sessions`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::consent::{Consent, LoginSession};
use portcullis_domain::ids::{ClientId, DeviceId, UserId};
use portcullis_domain::ports::{Authenticated, ConsentRepo, LoginSessionRepo, Opened, StoreError};
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::SecretHash;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use crate::SqlStore;
use crate::ending::{Sessions, Span, end_sessions};
use crate::entities::{consent, login_session};
use crate::error::store_err;
use crate::users::gate_for_update;

fn corrupt(what: &str) -> StoreError {
    StoreError::malformed(format!("stored consent has a malformed {what}"))
}

#[async_trait]
impl ConsentRepo for SqlStore {
    async fn find(&self, user: &UserId, client: &ClientId) -> Result<Option<Consent>, StoreError> {
        consent::Entity::find_by_id((user.to_string(), client.to_string()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }

    async fn save(&self, c: &Consent) -> Result<(), StoreError> {
        let row = consent::ActiveModel {
            user_id: Set(c.user_id.to_string()),
            client_id: Set(c.client_id.to_string()),
            scope: Set(c.scope.to_string()),
            granted_at: Set(c.granted_at),
        };
        let txn = self.db.begin().await.map_err(store_err)?;
        consent::Entity::delete_by_id((c.user_id.to_string(), c.client_id.to_string()))
            .exec(&txn)
            .await
            .map_err(store_err)?;
        consent::Entity::insert(row).exec_without_returning(&txn).await.map_err(store_err)?;
        txn.commit().await.map_err(store_err)
    }

    async fn list(&self, user: &UserId, limit: u64) -> Result<Vec<Consent>, StoreError> {
        consent::Entity::find()
            .filter(consent::Column::UserId.eq(user.as_str()))
            .order_by_asc(consent::Column::ClientId)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn withdraw(
        &self,
        user: &UserId,
        client: &ClientId,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<u64>, StoreError> {
        if ConsentRepo::find(self, user, client).await?.is_none() {
            return Ok(None);
        }
        // One event per session: in chunks of short transactions; the consent goes with the
        // last, so that an interrupted withdrawal is still a consent to withdraw again.
        let which = Sessions::OfUserAndClient { user: user.as_str(), client: client.as_str() };
        let mut ended = 0;
        loop {
            let txn = self.db.begin().await.map_err(store_err)?;
            // Several sessions may end: the user's row lock first, as every multi-session ending.
            gate_for_update(&txn, user.as_str(), true).await?;
            let n = end_sessions(&txn, which, now, Reason::ConsentWithdrawn, actor, true, Span::Chunk).await?;
            ended += n;
            if n < crate::ending::CHUNK {
                let done = consent::Entity::delete_by_id((user.to_string(), client.to_string()))
                    .exec(&txn)
                    .await
                    .map_err(store_err)?;
                txn.commit().await.map_err(store_err)?;
                return Ok((done.rows_affected == 1).then_some(ended));
            }
            txn.commit().await.map_err(store_err)?;
        }
    }
}

fn to_domain(r: consent::Model) -> Result<Consent, StoreError> {
    Ok(Consent {
        user_id: UserId::parse(&r.user_id).map_err(|_| corrupt("user id"))?,
        client_id: ClientId::parse(&r.client_id).map_err(|_| corrupt("client id"))?,
        scope: r.scope.parse().map_err(|_| corrupt("scope"))?,
        granted_at: r.granted_at,
    })
}

#[async_trait]
impl LoginSessionRepo for SqlStore {
    async fn insert(&self, login: &LoginSession, authenticated: Authenticated) -> Result<Opened, StoreError> {
        let txn = self.db.begin().await.map_err(store_err)?;
        // Under the user's share lock: a cut-off either came first (and refuses this login) or
        // waits for it (and then ends it).
        let admitted = match gate_for_update(&txn, login.user_id.as_str(), false).await? {
            Some(gate) => gate.admits(authenticated)?,
            None => false,
        };
        if !admitted {
            txn.rollback().await.map_err(store_err)?;
            return Ok(Opened::Refused);
        }
        let row = login_session::ActiveModel {
            secret_hash: Set(login.secret_hash.as_str().to_owned()),
            user_id: Set(login.user_id.to_string()),
            device_id: Set(login.device_id.as_ref().map(ToString::to_string)),
            created_at: Set(login.created_at),
            expires_at: Set(login.expires_at),
        };
        login_session::Entity::insert(row).exec_without_returning(&txn).await.map_err(store_err)?;
        txn.commit().await.map_err(store_err)?;
        Ok(Opened::Opened)
    }

    async fn find(
        &self,
        secret_hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError> {
        let row = login_session::Entity::find_by_id(secret_hash.as_str())
            .filter(login_session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await
            .map_err(store_err)?;
        row.map(|r| {
            let user = UserId::parse(&r.user_id).map_err(|_| StoreError::malformed("malformed login user id"))?;
            Ok((user, r.created_at))
        })
        .transpose()
    }

    async fn live(&self, user: &UserId, now: DateTime<Utc>, limit: u64) -> Result<Vec<LoginSession>, StoreError> {
        let rows = login_session::Entity::find()
            .filter(login_session::Column::UserId.eq(user.as_str()))
            .filter(login_session::Column::ExpiresAt.gt(now))
            .order_by_desc(login_session::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        rows.into_iter()
            .map(|r| {
                let device = r.device_id.as_deref().map(DeviceId::parse).transpose();
                Ok(LoginSession {
                    secret_hash: SecretHash::from_stored(r.secret_hash),
                    user_id: user.clone(),
                    device_id: device.map_err(|_| StoreError::malformed("malformed login device id"))?,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                })
            })
            .collect()
    }

    async fn end(&self, secret_hash: &SecretHash) -> Result<bool, StoreError> {
        let done = login_session::Entity::delete_by_id(secret_hash.as_str()).exec(&self.db).await.map_err(store_err)?;
        Ok(done.rows_affected > 0)
    }
}
