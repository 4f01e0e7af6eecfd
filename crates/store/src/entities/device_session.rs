//! `device_sessions`: one refresh-token family each.

use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId};
use portcullis_domain::ports::StoreError;
use portcullis_domain::session::DeviceSession;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub device_id: String,
    pub fingerprint: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub scope: String,
    pub last_ip: Option<String>,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub auth_time: Option<DateTimeUtc>,
    pub idle_expires_at: DateTimeUtc,
    pub absolute_expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain's view of the row.
    pub(crate) fn into_domain(self) -> Result<DeviceSession, StoreError> {
        let m = self;
        let bad = |what: &str| StoreError::malformed(format!("stored session has a malformed {what}"));
        Ok(DeviceSession {
            id: SessionId::parse(&m.id).map_err(|_| bad("id"))?,
            user_id: UserId::parse(&m.user_id).map_err(|_| bad("user_id"))?,
            client_id: ClientId::parse(&m.client_id).map_err(|_| bad("client_id"))?,
            device_id: DeviceId::parse(&m.device_id).map_err(|_| bad("device_id"))?,
            fingerprint: m.fingerprint,
            browser: m.browser,
            os: m.os,
            device: m.device,
            scope: m.scope,
            last_ip: m.last_ip,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            auth_time: m.auth_time,
            idle_expires_at: m.idle_expires_at,
            absolute_expires_at: m.absolute_expires_at,
            revoked_at: m.revoked_at,
            revoked_reason: m.revoked_reason,
        })
    }
}
