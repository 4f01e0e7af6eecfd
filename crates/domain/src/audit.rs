//! Security audit events: append-only.

use chrono::{DateTime, Utc};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditKind {
    LoginSucceeded,
    LoginFailed,
    Refreshed,
    RefreshReuseDetected,
    FingerprintMismatch,
    SessionRevoked,
    UserCreated,
    UserBanned,
    UserUnbanned,
    PasswordChanged,
    ClientCreated,
    ClientDeleted,
    KeyCreated,
    KeyRotated,
    OtpSent,
    OtpFailed,
    /// Username, display name, phone or email changed (by the user or an admin).
    ProfileUpdated,
    /// The account was deleted (its audit trail stays).
    UserDeleted,
    /// A password set by an admin or through a reset code: every session ended.
    PasswordReset,
    /// A code to confirm a new phone or email was sent (`POST /me/contact`), or a reset code.
    ContactCodeSent,
    /// An avatar set or removed.
    AvatarChanged,
}

impl AuditKind {
    pub const ALL: [AuditKind; 21] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Refreshed,
        Self::RefreshReuseDetected,
        Self::FingerprintMismatch,
        Self::SessionRevoked,
        Self::UserCreated,
        Self::UserBanned,
        Self::UserUnbanned,
        Self::PasswordChanged,
        Self::ClientCreated,
        Self::ClientDeleted,
        Self::KeyCreated,
        Self::KeyRotated,
        Self::OtpSent,
        Self::OtpFailed,
        Self::ProfileUpdated,
        Self::UserDeleted,
        Self::PasswordReset,
        Self::ContactCodeSent,
        Self::AvatarChanged,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Refreshed => "refreshed",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::SessionRevoked => "session_revoked",
            Self::UserCreated => "user_created",
            Self::UserBanned => "user_banned",
            Self::UserUnbanned => "user_unbanned",
            Self::PasswordChanged => "password_changed",
            Self::ClientCreated => "client_created",
            Self::ClientDeleted => "client_deleted",
            Self::KeyCreated => "key_created",
            Self::KeyRotated => "key_rotated",
            Self::OtpSent => "otp_sent",
            Self::OtpFailed => "otp_failed",
            Self::ProfileUpdated => "profile_updated",
            Self::UserDeleted => "user_deleted",
            Self::PasswordReset => "password_reset",
            Self::ContactCodeSent => "contact_code_sent",
            Self::AvatarChanged => "avatar_changed",
        }
    }
}

/// One audit record. Never holds a secret: reasons are fixed phrases, not request data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    /// Who acted: a user id, a client id, or `cli`.
    pub actor: Option<String>,
    /// The user concerned.
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub device_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A short fixed reason (`unknown_user`, `wrong_password`, ...) or a key id.
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(at: DateTime<Utc>, kind: AuditKind) -> Self {
        Self {
            at,
            kind,
            actor: None,
            user_id: None,
            client_id: None,
            device_id: None,
            ip: None,
            user_agent: None,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AuditKind::parse("nope"), None);
    }
}
