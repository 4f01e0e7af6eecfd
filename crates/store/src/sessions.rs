//! `SessionRepo` over `device_sessions` and `refresh_tokens`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::devices::Device;
use portcullis_domain::ids::{DeviceId, SessionId, UserId};
use portcullis_domain::ports::{Authenticated, Ending, Opened, RotateOutcome, RotateRequest, SessionRepo, StoreError};
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::SecretHash;
use portcullis_domain::session::{DeviceSession, NewRefreshToken};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement, TransactionTrait,
    Value,
};

use crate::SqlStore;
use crate::ending::{Logins, Sessions, Span, end_browser_logins, end_sessions};
use crate::entities::{device_session, refresh_token};
use crate::error::store_err;
use crate::json_params;
use crate::users::gate_for_update;

/// One device's summary, as the grouping query returns it.
#[derive(FromQueryResult)]
struct DeviceRow {
    device_id: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    active: i64,
}

/// The most recently seen session of a device: it speaks for the device.
#[derive(FromQueryResult)]
struct LatestRow {
    device_id: String,
    browser: String,
    os: String,
    device: String,
    last_ip: Option<String>,
}

impl SqlStore {
    /// Ends a multi-session selection of one user, one event per session: in chunks, each its
    /// own short transaction under the user's row lock, until none is left. The browser logins
    /// `logins` covers go with the first chunk.
    async fn end_in_chunks(
        &self,
        user: &UserId,
        selection: Sessions<'_>,
        logins: Option<Logins<'_>>,
        (now, reason, actor): (DateTime<Utc>, Reason, &str),
    ) -> Result<u64, StoreError> {
        let mut ended = 0;
        loop {
            let txn = self.db.begin().await.map_err(store_err)?;
            gate_for_update(&txn, user.as_str(), true).await?;
            let n = end_sessions(&txn, selection, now, reason, actor, true, Span::Chunk).await?;
            if let Some(logins) = logins.filter(|_| ended == 0) {
                end_browser_logins(&txn, user.as_str(), logins).await?;
            }
            txn.commit().await.map_err(store_err)?;
            ended += n;
            if n < crate::ending::CHUNK {
                return Ok(ended);
            }
        }
    }
}

#[async_trait]
impl SessionRepo for SqlStore {
    async fn create(
        &self,
        s: &DeviceSession,
        first: Option<&NewRefreshToken>,
        authenticated: Authenticated,
    ) -> Result<Opened, StoreError> {
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
            auth_time: Set(s.auth_time),
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
        // The user's share lock: a cut-off of this user either committed before (and is seen
        // here) or waits until this session is stored (and then ends it).
        let admitted = match gate_for_update(&txn, s.user_id.as_str(), false).await? {
            Some(gate) => gate.admits(authenticated)?,
            None => false,
        };
        if !admitted {
            txn.rollback().await.map_err(store_err)?;
            return Ok(Opened::Refused);
        }
        device_session::Entity::insert(session).exec_without_returning(&txn).await.map_err(store_err)?;
        if let Some(token) = token {
            refresh_token::Entity::insert(token).exec_without_returning(&txn).await.map_err(store_err)?;
        }
        txn.commit().await.map_err(store_err)?;
        Ok(Opened::Opened)
    }

    async fn find(&self, id: &SessionId) -> Result<Option<DeviceSession>, StoreError> {
        device_session::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(device_session::Model::into_domain)
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
            .map(device_session::Model::into_domain)
            .transpose()
    }

    async fn rotate(&self, request: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
        let queue = self.rotations.get_or_init(|| crate::rotate::RotationQueue::start(self.db.clone()));
        queue.rotate(request).await
    }

    async fn end(
        &self,
        which: Ending<'_>,
        now: DateTime<Utc>,
        reason: Reason,
        actor: &str,
        browser_login: bool,
    ) -> Result<u64, StoreError> {
        match which {
            Ending::One { sid, user } => {
                // Read before the transaction: on SQLite a transaction that reads first and
                // writes after may find the database taken and fail at once.
                let device = if browser_login {
                    device_session::Entity::find_by_id(sid.as_str())
                        .filter(device_session::Column::UserId.eq(user.as_str()))
                        .one(&self.db)
                        .await
                        .map_err(store_err)?
                        .map(|s| s.device_id)
                } else {
                    None
                };
                let txn = self.db.begin().await.map_err(store_err)?;
                let selection = Sessions::One { user: user.as_str(), sid: sid.as_str() };
                let ended = end_sessions(&txn, selection, now, reason, actor, true, Span::All).await?;
                if let Some(device) = &device {
                    end_browser_logins(&txn, user.as_str(), Logins::OfDevice(device)).await?;
                }
                txn.commit().await.map_err(store_err)?;
                Ok(ended)
            }
            Ending::Device { user, device } => {
                let selection = Sessions::OfDevice { user: user.as_str(), device: device.as_str() };
                let logins = browser_login.then_some(Logins::OfDevice(device.as_str()));
                self.end_in_chunks(user, selection, logins, (now, reason, actor)).await
            }
        }
    }

    async fn has_device(&self, user: &UserId, device: &DeviceId) -> Result<bool, StoreError> {
        let found = device_session::Entity::find()
            .filter(device_session::Column::UserId.eq(user.as_str()))
            .filter(device_session::Column::DeviceId.eq(device.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?;
        Ok(found.is_some())
    }

    async fn devices(
        &self,
        user: &UserId,
        after: Option<&str>,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Device>, StoreError> {
        let backend = self.db.get_database_backend();
        let cast = match backend {
            DbBackend::Postgres => "BIGINT",
            _ => "INTEGER",
        };
        let sql = format!(
            "SELECT device_id, MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen, \
                 CAST(MAX(CASE WHEN revoked_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2 \
                     THEN 1 ELSE 0 END) AS {cast}) AS active \
             FROM device_sessions WHERE user_id = $1 AND device_id > $3 \
             GROUP BY device_id ORDER BY device_id LIMIT $4"
        );
        let values: Vec<Value> = vec![
            user.as_str().to_owned().into(),
            now.into(),
            after.unwrap_or_default().to_owned().into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ];
        let groups = DeviceRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT device_id, browser, os, device, last_ip FROM (\
                 SELECT device_id, browser, os, device, last_ip, \
                     ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY last_seen DESC, id DESC) AS n \
                 FROM device_sessions WHERE user_id = $1 AND device_id {}) latest WHERE n = 1",
            json_params::in_list(backend, 2)
        );
        let ids = json_params::list(groups.iter().map(|g| g.device_id.as_str()));
        let latest = LatestRow::find_by_statement(Statement::from_sql_and_values(
            backend,
            sql,
            [user.as_str().to_owned().into(), ids],
        ))
        .all(&self.db)
        .await
        .map_err(store_err)?;
        let mut latest: std::collections::HashMap<String, LatestRow> =
            latest.into_iter().map(|l| (l.device_id.clone(), l)).collect();
        Ok(groups
            .into_iter()
            .filter_map(|g| {
                let l = latest.remove(&g.device_id)?;
                Some(Device {
                    device_id: g.device_id,
                    browser: l.browser,
                    os: l.os,
                    device: l.device,
                    last_ip: l.last_ip,
                    first_seen: g.first_seen,
                    last_seen: g.last_seen,
                    active: g.active > 0,
                })
            })
            .collect())
    }
}
