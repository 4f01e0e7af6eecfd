//! Revocations of live access tokens, as stores write them in the transactions of the changes
//! they report: what is revoked (a session, a user's earlier tokens, one token, a client's
//! tokens) and why. Which token a revocation revokes — the rule — is not decided here but in
//! `portcullis_proto::feed`, the one home that the server, the feed and the guard share; the
//! runtime that keeps and feeds revocations is `portcullis-revocation`.

use chrono::{DateTime, Duration, Utc};

use crate::ids::{ClientId, SessionId, UserId};
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
    /// The account was deleted.
    Deleted,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
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
        Self::Deleted,
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
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// CAEP `initiating_entity`.
    pub fn initiating_entity(self) -> &'static str {
        match self {
            Self::Kicked | Self::Banned | Self::ClientDeleted | Self::Deleted => "admin",
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_off_is_its_whole_second_and_lasts_the_horizon() {
        let r = Revocation {
            id: 1,
            at: DateTime::from_timestamp(100, 500_000_000).unwrap(),
            target: Target::User { user: UserId::parse("u1").unwrap(), except: None },
            reason: Reason::Banned,
        };
        assert_eq!(r.cutoff_secs(), 100);
        assert_eq!(r.expires_at(Duration::seconds(60)).timestamp(), 160);
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::from(RevokeReason::ReuseDetected), Reason::RefreshReuse);
    }
}
