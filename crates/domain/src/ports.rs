//! The ports: what the rules need from storage, as traits. `portcullis-store` implements them.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::audit::AuditEvent;
use crate::authcode::{AuthCode, Redemption};
use crate::client::Client;
use crate::clock::Clock;
use crate::consent::{Consent, LoginSession};
use crate::devices::Device;
use crate::error::BoxError;
use crate::ids::{ClientId, DeviceId, SessionId, UserId, Username};
use crate::otp::{Destination, Email, Phone, StoredCode};
use crate::revocation::Reason;
use crate::rotation::{Presentation, Refusal, RevokeReason};
use crate::secret::SecretHash;
use crate::session::{DeviceSession, NewRefreshToken};
use crate::user::User;

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken (a username, a client id).
    #[error("already exists")]
    Conflict,
    /// The database could not be reached, answered with an error, or held a row the rules cannot
    /// read. The source is for logs only.
    #[error("storage failure")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// A backend's own error, kept as the source.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }

    /// A stored row or answer the rules cannot read (a malformed id, a missing row).
    pub fn malformed(what: impl Into<String>) -> Self {
        Self::Backend(BoxError::from(what.into()))
    }
}

#[async_trait]
pub trait ClientRepo: Send + Sync + 'static {
    async fn insert(&self, client: &Client) -> Result<(), StoreError>;
    /// A live (not deleted) client.
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Live clients with ids after `after`, in id order, at most `limit`.
    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<Client>, StoreError>;
    /// Every scope some live client may ask for, each once, in order (what the discovery
    /// metadata advertises).
    async fn scopes(&self) -> Result<std::collections::BTreeSet<String>, StoreError>;
    /// Every browser origin some live client allows (CORS preflights carry no client).
    async fn allowed_origins(&self) -> Result<std::collections::BTreeSet<String>, StoreError>;
    /// Deletes a client (its id is never reused) and, in the same transaction, ends every device
    /// session it opened, drops the consents given to it and records a client-wide revocation
    /// (`Target::Client`: every token it was issued). Returns the sessions ended; `None` (and
    /// nothing written) when there was no live client.
    async fn delete(&self, id: &ClientId, now: DateTime<Utc>, actor: &str) -> Result<Option<u64>, StoreError>;
}

#[async_trait]
pub trait UserRepo: Send + Sync + 'static {
    /// `Conflict` when the username, the phone or the email is taken.
    async fn insert(&self, user: &User) -> Result<(), StoreError>;
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// The user whose phone or email `to` is.
    async fn find_by_destination(&self, to: &Destination) -> Result<Option<User>, StoreError>;
    async fn find(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    /// Users with ids after `after`, in id order (UUIDv7: creation order), at most `limit`.
    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError>;
    /// Lifts a ban; false (and nothing written) for an unknown user. Cut-offs stay.
    async fn unban(&self, id: &UserId, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// A user-wide cut-off, in one transaction (docs/decisions/0011): takes the user's row lock
    /// (so no refresh or login of the user is deciding meanwhile), reads the time from `clock`
    /// only then, applies `cut.change`, records the cut-off on the user and in the revocation log
    /// (`Target::User`), ends every live session the cut-off covers, however many, with an audit
    /// row each, and ends the user's browser login sessions. `None` (and nothing written) for an
    /// unknown user.
    async fn cut_off(&self, cut: &CutOff<'_>, clock: &dyn Clock) -> Result<Option<CutOffDone>, StoreError>;
    /// Changes the profile fields `change` names; `None` (nothing written) for an unknown user,
    /// `Conflict` when the username, phone or email is someone else's. A new phone or email
    /// bumps `updated_at` (it changes who may log in by code); a name does not.
    async fn update_profile(
        &self,
        id: &UserId,
        change: &ProfileChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;
}

/// Profile fields to change: `None` leaves a field; `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct ProfileChange<'a> {
    pub username: Option<&'a Username>,
    pub display_name: Option<Option<&'a str>>,
    pub phone: Option<Option<&'a Phone>>,
    pub email: Option<Option<&'a Email>>,
}

impl ProfileChange<'_> {
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.display_name.is_none() && self.phone.is_none() && self.email.is_none()
    }

    /// The fields it changes, for an audit row: `username display_name`.
    pub fn fields(&self) -> String {
        [
            self.username.map(|_| "username"),
            self.display_name.map(|_| "display_name"),
            self.phone.map(|_| "phone"),
            self.email.map(|_| "email"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// A user's picture as served: re-encoded, metadata stripped (contract §7).
#[derive(Clone, PartialEq, Eq)]
pub struct Avatar {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    pub data: Vec<u8>,
    /// A strong validator, quoted as sent: `"<hex SHA-256 of data>"`.
    pub etag: String,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for Avatar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Avatar")
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .field("etag", &self.etag)
            .finish()
    }
}

/// Users' avatars, in the database so that every node serves the same one.
#[async_trait]
pub trait AvatarRepo: Send + Sync + 'static {
    /// Sets the user's avatar, replacing any; false (nothing written) for an unknown user.
    async fn put_avatar(&self, user: &UserId, avatar: &Avatar) -> Result<bool, StoreError>;
    async fn avatar(&self, user: &UserId) -> Result<Option<Avatar>, StoreError>;
    /// The avatar's ETag, without reading its bytes.
    async fn avatar_etag(&self, user: &UserId) -> Result<Option<String>, StoreError>;
    /// Removes it; false when there was none.
    async fn delete_avatar(&self, user: &UserId) -> Result<bool, StoreError>;
}

/// A one-time code to keep (as its HMAC) for its destination.
#[derive(Debug)]
pub struct NewCode<'a> {
    /// [`Destination::key`].
    pub destination: &'a str,
    pub hash: &'a SecretHash,
    /// The client it was sent for: only that client may use it.
    pub client_id: &'a str,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The live one-time code of each destination and client.
#[async_trait]
pub trait OtpRepo: Send + Sync + 'static {
    /// Keeps `code` as the one live code of its destination and client, replacing any earlier
    /// one of theirs (a resend), with no tries yet. Other clients' codes are untouched.
    async fn put_code(&self, code: NewCode<'_>) -> Result<(), StoreError>;
    /// Counts one try of the destination's code sent for `client_id`, atomically, and returns
    /// the code as it is with this try counted, and its hash; `None` when the destination has no
    /// code for that client (another client's tries neither count against a code nor see it).
    async fn try_code(
        &self,
        destination: &str,
        client_id: &str,
    ) -> Result<Option<(StoredCode, SecretHash)>, StoreError>;
    /// Marks the code of the destination and client used if it is still the one with `hash`,
    /// unused, unexpired at `now` and tried at most `max_attempts` times: true for the one try
    /// that does.
    async fn use_code(
        &self,
        destination: &str,
        client_id: &str,
        hash: &SecretHash,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// A user-wide cut-off: every session of the user ends but `keep`, and every access token
/// minted before it is revoked.
#[derive(Debug)]
pub struct CutOff<'a> {
    pub user: &'a UserId,
    pub change: UserChange<'a>,
    /// The session that lives on (a password change keeps the caller's).
    pub keep: Option<&'a SessionId>,
    pub reason: Reason,
    /// Who acted, for the audit rows.
    pub actor: &'a str,
}

/// What a cut-off changes on the user besides the cut-off itself.
pub enum UserChange<'a> {
    /// Status `banned`, with its reason.
    Ban { reason: &'a str },
    /// A new password hash.
    Password { hash: &'a str },
    /// Nothing (kick-all).
    Nothing,
    /// The user is deleted once every session has ended and the cut-off is recorded: the row,
    /// its sessions, tokens, consents, browser logins, codes and avatar. Audit rows and the
    /// revocation log stay.
    Delete,
}

impl std::fmt::Debug for UserChange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ban { reason } => f.debug_struct("Ban").field("reason", reason).finish(),
            Self::Password { .. } => f.write_str("Password(<redacted>)"),
            Self::Nothing => f.write_str("Nothing"),
            Self::Delete => f.write_str("Delete"),
        }
    }
}

/// What a cut-off did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutOffDone {
    /// The cut-off's time: tokens minted at or before it are revoked.
    pub at: DateTime<Utc>,
    pub sessions_ended: u64,
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
    /// The successor is stored; `session` is as updated (last seen, sliding expiry). Mint the
    /// new access token at the request's `now`: it was decided under the family's lock, so no
    /// cut-off made after it can be earlier.
    Rotated {
        session: DeviceSession,
        retry: bool,
    },
    Refused {
        session: DeviceSession,
        refusal: Refusal,
    },
    /// Nothing written: ask again at `until` with a new `now` (a cut-off in this second would
    /// cover the new access token).
    Wait {
        until: DateTime<Utc>,
    },
    /// The whole family was revoked.
    Revoked {
        session: DeviceSession,
        reason: RevokeReason,
    },
}

/// When and against which version of the user a new session's owner authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// When the credential was checked (for a code: when the code was issued).
    pub at: DateTime<Utc>,
    /// `User::updated_at` as the credential check read it: the session is refused if the user
    /// changed since (a password changed or a ban while the login was in flight).
    pub user_version: Option<DateTime<Utc>>,
}

/// Whether a new session was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    Opened,
    /// The user is gone, banned, or was cut off at or after the authentication: nothing stored.
    Refused,
}

/// Which sessions an `end` covers.
#[derive(Clone, Copy, Debug)]
pub enum Ending<'a> {
    /// One session (logout, RFC 7009, a replayed code).
    One { sid: &'a SessionId, user: &'a UserId },
    /// Every session of one of the user's devices (a kick, a sign-out from the device list).
    Device { user: &'a UserId, device: &'a DeviceId },
}

#[async_trait]
pub trait SessionRepo: Send + Sync + 'static {
    /// Stores a new device session and its first refresh token (if the client may refresh),
    /// all or nothing, under a share lock on the user: refused (nothing stored) when the user is
    /// gone or banned, was cut off at or after `authenticated.at`, or changed since the login
    /// read it, so that a login racing a cut-off never leaves a live session behind.
    async fn create(
        &self,
        session: &DeviceSession,
        first: Option<&NewRefreshToken>,
        authenticated: Authenticated,
    ) -> Result<Opened, StoreError>;
    async fn find(&self, id: &SessionId) -> Result<Option<DeviceSession>, StoreError>;
    /// The session a refresh token (by hash) belongs to.
    async fn find_by_token(&self, token_hash: &SecretHash) -> Result<Option<DeviceSession>, StoreError>;
    /// Applies `rotation::decide` under the family's lock: the one place rotation is atomic.
    async fn rotate(&self, request: RotateRequest<'_>) -> Result<RotateOutcome, StoreError>;
    /// Ends the live sessions `which` covers, in one transaction: each gets its revocation event
    /// (`Target::Session`) and a `session_revoked` audit row by `actor`. With `browser_login`,
    /// the user's browser login sessions on that device end too (a logout or a kick). Returns
    /// how many were live.
    async fn end(
        &self,
        which: Ending<'_>,
        now: DateTime<Utc>,
        reason: Reason,
        actor: &str,
        browser_login: bool,
    ) -> Result<u64, StoreError>;
    /// Whether the user has ever had a session on `device`.
    async fn has_device(&self, user: &UserId, device: &DeviceId) -> Result<bool, StoreError>;
    /// A page of the user's devices (device ids after `after`, in id order, at most `limit`),
    /// each summarised over all of its sessions.
    async fn devices(
        &self,
        user: &UserId,
        after: Option<&str>,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Device>, StoreError>;
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
    /// Withdraws the consent and, in the same transaction, ends the user's live sessions with
    /// that client (each with its revocation event and audit row by `actor`). Returns the
    /// sessions ended; `None` (and nothing ended) when there was no consent.
    async fn withdraw(
        &self,
        user: &UserId,
        client: &ClientId,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<u64>, StoreError>;
}

#[async_trait]
pub trait LoginSessionRepo: Send + Sync + 'static {
    /// Stores the login session under a share lock on its user, refused (nothing stored) on
    /// the same terms as a new device session (`SessionRepo::create`): a cut-off that ended the
    /// user's browser logins while this one's password was being checked must not miss it.
    async fn insert(&self, login: &LoginSession, authenticated: Authenticated) -> Result<Opened, StoreError>;
    /// The user of a live (unexpired) login session, and when they authenticated.
    async fn find(
        &self,
        secret_hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError>;
    /// The user's live login sessions, newest first, at most `limit` (the account page lists
    /// the browsers signed in).
    async fn live(&self, user: &UserId, now: DateTime<Utc>, limit: u64) -> Result<Vec<LoginSession>, StoreError>;
    /// Ends one login session (a browser signing itself out); false when there was none.
    async fn end(&self, secret_hash: &SecretHash) -> Result<bool, StoreError>;
}

/// Forgetting history (`crate::retention`): batched deletes and the lease that lets one node at
/// a time run them.
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Takes or renews the lease `name` for `holder` until `until`; false while another holder's
    /// lease is unexpired at `now`.
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes at most `batch` rows of `table` older than `horizon` (the table's rule in
    /// `crate::retention`), in one short transaction that skips rows another holds; returns how
    /// many went.
    async fn prune(
        &self,
        table: crate::retention::Table,
        horizon: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError>;
    /// When the oldest row of `table` was written (a session: when it began), if any.
    async fn oldest(&self, table: crate::retention::Table) -> Result<Option<DateTime<Utc>>, StoreError>;
}
