//! Revocations of live access tokens: what is revoked (a session, a user's earlier tokens, one
//! token), why, and the ports that keep them — the SQL log (the truth, and the feed's order)
//! and the fast state every check reads (Redis or in process).
//!
//! The rule (docs/revocation-feed.md): a token is revoked by a revocation still in force that
//! names its session, names its `jti`, names its client, or cuts off its user at or after its
//! `iat` (sparing the excepted session).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::ids::{ClientId, SessionId, UserId};
use crate::ports::StoreError;
use crate::rotation::RevokeReason;

/// Why tokens were revoked. Fixed phrases: they are stored, audited and sent on the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// An admin ended a device (or all of them).
    Kicked,
    Banned,
    Logout,
    PasswordChanged,
    /// RFC 7009: the client revoked a token.
    RevokedByClient,
    RefreshReuse,
    FingerprintMismatch,
    /// The user withdrew a client's consent (which ends that client's sessions).
    ConsentWithdrawn,
    /// An authorization code was presented twice: the session issued from it ends (RFC 6749 §4.1.2).
    CodeReplayed,
    /// The client was deleted: its sessions and tokens end with it.
    ClientDeleted,
    /// A session that raced a ban or a cut-off (opened just before it) met it at its next refresh.
    CutOff,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Self::Kicked,
        Self::Banned,
        Self::Logout,
        Self::PasswordChanged,
        Self::RevokedByClient,
        Self::RefreshReuse,
        Self::FingerprintMismatch,
        Self::ConsentWithdrawn,
        Self::CodeReplayed,
        Self::ClientDeleted,
        Self::CutOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kicked => "kicked",
            Self::Banned => "banned",
            Self::Logout => "logout",
            Self::PasswordChanged => "password_changed",
            Self::RevokedByClient => "revoked_by_client",
            Self::RefreshReuse => "refresh_reuse",
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::CodeReplayed => "code_replayed",
            Self::ClientDeleted => "client_deleted",
            Self::CutOff => "cut_off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// CAEP `initiating_entity`.
    pub fn initiating_entity(self) -> &'static str {
        match self {
            Self::Kicked | Self::Banned | Self::ClientDeleted => "admin",
            Self::Logout | Self::PasswordChanged | Self::RevokedByClient | Self::ConsentWithdrawn => "user",
            Self::RefreshReuse | Self::FingerprintMismatch | Self::CodeReplayed | Self::CutOff => "policy",
        }
    }
}

impl From<RevokeReason> for Reason {
    fn from(r: RevokeReason) -> Self {
        match r {
            RevokeReason::FingerprintMismatch => Self::FingerprintMismatch,
            RevokeReason::ReuseDetected => Self::RefreshReuse,
            RevokeReason::UserBanned => Self::Banned,
            RevokeReason::CutOff => Self::CutOff,
        }
    }
}

/// What a revocation ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every token of one device session.
    Session { sid: SessionId, user: UserId },
    /// Every token of `user` issued at or before the revocation's time, except those of
    /// `except` (the session a password was changed from).
    User { user: UserId, except: Option<SessionId> },
    /// One access token that has no session (client credentials), by `jti`.
    Token { jti: String },
    /// Every token issued to a client (it was deleted; its id is never reused).
    Client { client: ClientId },
}

/// A revocation to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRevocation {
    pub at: DateTime<Utc>,
    pub target: Target,
    pub reason: Reason,
}

/// A recorded revocation; `id` orders the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub target: Target,
    pub reason: Reason,
}

impl Revocation {
    /// The user-wide cut-off in seconds: tokens with `iat` up to it are revoked. `iat` has
    /// one-second resolution, so a token minted in the revocation's own second counts as before.
    pub fn cutoff_secs(&self) -> i64 {
        self.at.timestamp()
    }

    /// After this no token the revocation affects can still be valid.
    pub fn expires_at(&self, horizon: Duration) -> DateTime<Utc> {
        self.at + horizon
    }

    pub fn revokes(&self, t: &TokenFacts<'_>) -> bool {
        match &self.target {
            Target::Session { sid, .. } => t.sid == Some(sid.as_str()),
            Target::Token { jti } => t.jti == jti,
            Target::Client { client } => t.client_id == client.as_str(),
            Target::User { user, except } => {
                t.sub == user.as_str()
                    && t.iat <= self.cutoff_secs()
                    && except.as_ref().is_none_or(|keep| t.sid != Some(keep.as_str()))
            }
        }
    }
}

/// The parts of an access token a revocation can name.
#[derive(Clone, Copy, Debug)]
pub struct TokenFacts<'a> {
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    pub jti: &'a str,
    pub client_id: &'a str,
    /// Seconds since the epoch.
    pub iat: i64,
}

/// The SQL log of revocations: written in the same transaction as the change it reports
/// (`SessionRepo::revoke`, the rotation's revoke, `UserRepo::set_status`/`set_password`).
#[async_trait]
pub trait RevocationLog: Send + Sync + 'static {
    /// Records a revocation that no other write carries (a client-credentials token's); false
    /// when that token's revocation was recorded already (nothing is written twice).
    async fn append(&self, revocation: &NewRevocation) -> Result<bool, StoreError>;
    /// Revocations with ids above `after`, oldest first, at most `limit`.
    async fn after(&self, after: i64, limit: u64) -> Result<Vec<Revocation>, StoreError>;
    /// Revocations made at or after `since`, oldest first, at most `limit`.
    async fn since(&self, since: DateTime<Utc>, limit: u64) -> Result<Vec<Revocation>, StoreError>;
    /// Revocations made at or after `since` with ids above `after_id`, in id order, at most
    /// `limit`: one page of the feed's backlog.
    async fn since_after(&self, since: DateTime<Utc>, after_id: i64, limit: u64)
    -> Result<Vec<Revocation>, StoreError>;
    /// The highest id recorded (0 when none).
    async fn last_id(&self) -> Result<i64, StoreError>;
    /// Whether a revocation made at or after `since` revokes the token: the check from the
    /// source of truth, used when the fast state cannot answer.
    async fn revokes(&self, token: &TokenFacts<'_>, since: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// What the fast state says about a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Live,
    Revoked,
    /// The state cannot answer (unreachable, or emptied and not rebuilt yet): ask the log.
    Unknown,
}

/// The revocations in force, kept where every check can read them fast: Redis for several
/// nodes, process memory for one. Each entry is kept until `expires_at(horizon)`.
#[async_trait]
pub trait RevocationState: Send + Sync + 'static {
    async fn check(&self, token: &TokenFacts<'_>) -> Verdict;
    /// Adds revocations (idempotent).
    async fn apply(&self, revocations: &[Revocation], horizon: Duration, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Replaces the state with `revocations` (every one still in force) and marks it complete.
    async fn rebuild(
        &self,
        revocations: &[Revocation],
        horizon: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// False when the state was lost (a Redis restart or flush) and must be rebuilt.
    async fn is_complete(&self) -> Result<bool, StoreError>;
}

/// Tells the other nodes that revocations were recorded (they then read the log).
#[async_trait]
pub trait Doorbell: Send + Sync + 'static {
    async fn ring(&self, last_id: i64) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 500_000_000).unwrap()
    }

    fn facts<'a>(sub: &'a str, sid: &'a str, iat: i64) -> TokenFacts<'a> {
        TokenFacts { sub, sid: Some(sid), jti: "j", client_id: "c", iat }
    }

    #[test]
    fn user_cutoff_includes_its_own_second_and_spares_the_kept_session() {
        let user = UserId::parse("u1").unwrap();
        let keep = SessionId::parse("keep").unwrap();
        let r = Revocation {
            id: 1,
            at: at(100),
            target: Target::User { user, except: Some(keep) },
            reason: Reason::PasswordChanged,
        };
        assert!(r.revokes(&facts("u1", "s", 100)));
        assert!(!r.revokes(&facts("u1", "s", 101)));
        assert!(!r.revokes(&facts("u1", "keep", 50)));
        assert!(!r.revokes(&facts("u2", "s", 50)));
    }

    #[test]
    fn a_deleted_client_revokes_every_token_of_it() {
        let r = Revocation {
            id: 1,
            at: at(100),
            target: Target::Client { client: ClientId::parse("c").unwrap() },
            reason: Reason::ClientDeleted,
        };
        assert!(r.revokes(&facts("u1", "s", 10_000)));
        let other = TokenFacts { client_id: "d", ..facts("u1", "s", 1) };
        assert!(!r.revokes(&other));
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::from(RevokeReason::ReuseDetected), Reason::RefreshReuse);
    }
}
