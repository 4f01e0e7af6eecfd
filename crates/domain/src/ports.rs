//! The ports: what the rules need from storage, as traits. `portcullis-store` implements them.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::audit::AuditEvent;
use crate::authcode::{AuthCode, Redemption};
use crate::client::Client;
use crate::consent::{Consent, LoginSession};
use crate::ids::{ClientId, SessionId, UserId, Username};
use crate::revocation::{NewRevocation, Reason};
use crate::rotation::{Presentation, Refusal, RevokeReason};
use crate::secret::SecretHash;
use crate::session::{DeviceSession, NewRefreshToken};
use crate::user::{User, UserStatus};

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken (a username, a client id).
    #[error("already exists")]
    Conflict,
    /// The database could not be reached or answered with an error. The text is for logs only.
    #[error("storage failure: {0}")]
    Backend(String),
}

#[async_trait]
pub trait ClientRepo: Send + Sync + 'static {
    async fn insert(&self, client: &Client) -> Result<(), StoreError>;
    /// A live (not deleted) client.
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Live clients with ids after `after`, in id order, at most `limit`.
    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<Client>, StoreError>;
    /// Deletes a client (its id is never reused); false when there was no live one.
    async fn delete(&self, id: &ClientId, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait UserRepo: Send + Sync + 'static {
    /// `Conflict` when the username is taken.
    async fn insert(&self, user: &User) -> Result<(), StoreError>;
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    async fn find(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    /// Users with ids after `after`, in id order (UUIDv7: creation order), at most `limit`.
    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError>;
    /// Sets the status (and the ban reason, `None` to clear), recording `cutoff` in the same
    /// transaction; false (and nothing written) for an unknown user.
    async fn set_status(
        &self,
        id: &UserId,
        status: UserStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
        cutoff: Option<&NewRevocation>,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash, recording `cutoff` in the same transaction; false (and
    /// nothing written) for an unknown user.
    async fn set_password(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
        cutoff: Option<&NewRevocation>,
    ) -> Result<bool, StoreError>;
}

/// A refresh to apply atomically (see `rotation`).
#[derive(Debug)]
pub struct RotateRequest<'a> {
    /// Hash of the presented refresh token.
    pub token_hash: &'a SecretHash,
    /// The presenting client, its device fingerprint, and any narrower scope asked for.
    pub by: Presentation<'a>,
    /// Id and hash of the successor to store if the refresh goes through.
    pub new_id: String,
    pub new_hash: SecretHash,
    pub now: DateTime<Utc>,
    pub grace: Duration,
    pub idle_ttl: Duration,
    pub ip: Option<&'a str>,
    /// Written in the same transaction when the family rotates (`refreshed`) or is revoked
    /// (`refresh_reuse_detected`, `fingerprint_mismatch`); the store sets kind and ids.
    pub audit: AuditEvent,
}

/// What a refresh did.
#[derive(Debug)]
pub enum RotateOutcome {
    /// No such refresh token.
    Unknown,
    /// The successor is stored; `session` is as updated (last seen, sliding expiry).
    Rotated {
        session: DeviceSession,
        retry: bool,
    },
    Refused {
        session: DeviceSession,
        refusal: Refusal,
    },
    /// The whole family was revoked.
    Revoked {
        session: DeviceSession,
        reason: RevokeReason,
    },
}

#[async_trait]
pub trait SessionRepo: Send + Sync + 'static {
    /// Stores a new device session and its first refresh token (if the client may refresh),
    /// all or nothing.
    async fn create(&self, session: &DeviceSession, first: Option<&NewRefreshToken>) -> Result<(), StoreError>;
    async fn find(&self, id: &SessionId) -> Result<Option<DeviceSession>, StoreError>;
    /// The session a refresh token (by hash) belongs to.
    async fn find_by_token(&self, token_hash: &SecretHash) -> Result<Option<DeviceSession>, StoreError>;
    /// Applies `rotation::decide` under the family's lock: the one place rotation is atomic.
    async fn rotate(&self, request: RotateRequest<'_>) -> Result<RotateOutcome, StoreError>;
    /// Ends a session and records the revocation, in one transaction; false (and nothing
    /// written) when it had already ended.
    async fn revoke(
        &self,
        id: &SessionId,
        user: &UserId,
        now: DateTime<Utc>,
        reason: Reason,
    ) -> Result<bool, StoreError>;
    /// A user's sessions, most recently seen first, at most `limit`.
    async fn list_for_user(&self, user: &UserId, limit: u64) -> Result<Vec<DeviceSession>, StoreError>;
}

/// Metadata of one signing key; the key itself lives in the keys directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// Published in the JWKS from this time.
    pub created_at: DateTime<Utc>,
    /// Signs new tokens from this time (until a later key's `active_from`).
    pub active_from: DateTime<Utc>,
}

#[async_trait]
pub trait SigningKeyRepo: Send + Sync + 'static {
    /// Every key, oldest `active_from` first.
    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    async fn insert(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// Newest first: events matching `filter` with ids below `before`, at most `limit`.
    async fn list(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError>;
}

/// What `AuditLog::list` selects.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// An `AuditKind` name, e.g. `login_failed`.
    pub kind: Option<String>,
}

#[async_trait]
pub trait AuthCodeRepo: Send + Sync + 'static {
    async fn insert(&self, code: &AuthCode) -> Result<(), StoreError>;
    /// Spends the code atomically: the first caller gets `Redeemed`, every later one
    /// `Replayed` (and the code is marked replayed).
    async fn redeem(&self, code_hash: &SecretHash, now: DateTime<Utc>) -> Result<Redemption, StoreError>;
    /// Records the session issued from a redeemed code. True when the code was replayed in
    /// the meantime (the caller must then end that session).
    async fn attach_session(&self, code_hash: &SecretHash, session: &SessionId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ConsentRepo: Send + Sync + 'static {
    async fn find(&self, user: &UserId, client: &ClientId) -> Result<Option<Consent>, StoreError>;
    /// Stores the consent, replacing the user's earlier one for that client.
    async fn save(&self, consent: &Consent) -> Result<(), StoreError>;
    /// A user's consents, by client id, at most `limit`.
    async fn list(&self, user: &UserId, limit: u64) -> Result<Vec<Consent>, StoreError>;
    /// False when there was none.
    async fn delete(&self, user: &UserId, client: &ClientId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait LoginSessionRepo: Send + Sync + 'static {
    async fn insert(&self, login: &LoginSession) -> Result<(), StoreError>;
    /// The user of a live (unexpired) login session.
    async fn find(&self, secret_hash: &SecretHash, now: DateTime<Utc>) -> Result<Option<UserId>, StoreError>;
}
