//! Device sessions: one per (user, client, device); the family of its refresh tokens.

use chrono::{DateTime, Utc};

use crate::ids::{ClientId, DeviceId, SessionId, UserId};
use crate::secret::SecretHash;

/// A device session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub device_id: DeviceId,
    /// The `dfp` value: base64url SHA-256 of the device fingerprint.
    pub fingerprint: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub scope: String,
    pub last_ip: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When the user last proved who they are before the session opened (OpenID Connect's
    /// `auth_time`); unknown for sessions opened before it was recorded.
    pub auth_time: Option<DateTime<Utc>>,
    /// Sliding: moves forward with each refresh.
    pub idle_expires_at: DateTime<Utc>,
    /// Fixed at creation: never slides.
    pub absolute_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

impl DeviceSession {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// The first refresh token of a new session, as stored (hash only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub id: String,
    pub token_hash: SecretHash,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored refresh token (its hash stays in storage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: String,
    pub session_id: String,
    pub parent_id: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub superseded_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}
