//! Refresh-token rotation: what happens when a refresh token is presented.
//!
//! A device session is a family of refresh tokens. Each refresh uses the presented token and
//! issues its successor. The rules, in order:
//! 1. an ended session (revoked, idle-expired, past its absolute cap) refuses everything, and so
//!    does a token presented by another client or asking for a wider scope (nothing revoked:
//!    a client must not be able to end another client's session);
//! 2. a banned user's family, or one opened at or before a user-wide cut-off (a login that
//!    raced a ban, a password change or a kick-all), is revoked;
//! 3. a token presented with another device fingerprint revokes the family;
//! 4. a superseded token (the successor a retry replaced) is reuse: the family is revoked. A
//!    client retrying a lost answer never held it; whoever presents it raced the owner;
//! 5. a live token rotates (unless it has expired) — but not in the second of a cut-off that
//!    would cover the new access token: that refresh waits for the next second and is decided
//!    again, so the token it gets is minted, under the family's lock, outside every cut-off;
//! 6. a used token presented again within the grace window, while its successor is still
//!    live, is a retry: the successor is superseded and a new one issued; otherwise it is
//!    reuse, and the family is revoked.
//!
//! Invariant: a family never has more than one live token. The store applies a `Decision`
//! while holding the family's lock (and a share lock on its user), so decisions never
//! interleave with one another or with a cut-off.

use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

use crate::scope::Scope;
use crate::session::{DeviceSession, RefreshTokenRecord};
use crate::user::{Cutoffs, UserStatus};

/// Why a refresh was refused without revoking anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    SessionEnded,
    WrongClient,
    WiderScope,
    Expired,
}

/// Why a family was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    FingerprintMismatch,
    ReuseDetected,
    /// The user is banned (a session that raced the ban).
    UserBanned,
    /// The session opened at or before a user-wide cut-off (a login that raced it).
    CutOff,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::ReuseDetected => "refresh_reuse_detected",
            Self::UserBanned => "banned",
            Self::CutOff => "cut_off",
        }
    }
}

/// What to do with a presented refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Issue a successor. `supersede`: the retry case, the live successor that must die.
    Rotate {
        supersede: Option<String>,
    },
    Refuse(Refusal),
    Revoke(RevokeReason),
    /// Nothing yet: a cut-off in this very second would cover the new access token. Decide
    /// again at `until` (the next second; decision 0011).
    Wait {
        until: DateTime<Utc>,
    },
}

/// Who presents a token, from where, asking for what.
#[derive(Clone, Copy, Debug)]
pub struct Presentation<'a> {
    pub client_id: &'a str,
    pub fingerprint: &'a str,
    /// A narrower scope asked for, if any.
    pub scope: Option<&'a Scope>,
}

/// The family's user as the store read it under the family's lock.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub status: UserStatus,
    pub cutoffs: &'a Cutoffs,
}

/// Applies the rules above. `live_successor`: the presented token's child that is neither used
/// nor superseded, if any (needed only when the token was used).
pub fn decide(
    session: &DeviceSession,
    owner: Owner<'_>,
    token: &RefreshTokenRecord,
    live_successor: Option<&RefreshTokenRecord>,
    by: Presentation<'_>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Decision {
    if !session.is_active(now) {
        return Decision::Refuse(Refusal::SessionEnded);
    }
    if session.client_id.as_str() != by.client_id {
        return Decision::Refuse(Refusal::WrongClient);
    }
    if let Some(asked) = by.scope
        && !asked.is_subset(&session.scope.parse().unwrap_or_default())
    {
        return Decision::Refuse(Refusal::WiderScope);
    }
    if owner.status != UserStatus::Active {
        return Decision::Revoke(RevokeReason::UserBanned);
    }
    if owner.cutoffs.ends(&session.id, session.first_seen) {
        return Decision::Revoke(RevokeReason::CutOff);
    }
    let presented_fingerprint = by.fingerprint;
    if !bool::from(session.fingerprint.as_bytes().ct_eq(presented_fingerprint.as_bytes())) {
        return Decision::Revoke(RevokeReason::FingerprintMismatch);
    }
    if token.superseded_at.is_some() {
        return Decision::Revoke(RevokeReason::ReuseDetected);
    }
    let rotation = match token.used_at {
        None if token.expires_at <= now => return Decision::Refuse(Refusal::Expired),
        None => Decision::Rotate { supersede: None },
        Some(used_at) => match live_successor {
            Some(next) if now - used_at <= grace => Decision::Rotate { supersede: Some(next.id.clone()) },
            _ => return Decision::Revoke(RevokeReason::ReuseDetected),
        },
    };
    match owner.cutoffs.live_from(Some(&session.id)) {
        Some(until) if until > now => Decision::Wait { until },
        _ => rotation,
    }
}

/// The sliding idle expiry after a refresh at `now`, never past the absolute cap.
pub fn slid_expiry(session: &DeviceSession, now: DateTime<Utc>, idle_ttl: Duration) -> DateTime<Utc> {
    (now + idle_ttl).min(session.absolute_expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientId, DeviceId, SessionId, UserId};

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn session() -> DeviceSession {
        DeviceSession {
            id: SessionId::parse("s").unwrap(),
            user_id: UserId::parse("u").unwrap(),
            client_id: ClientId::parse("c").unwrap(),
            device_id: DeviceId::parse("d").unwrap(),
            fingerprint: "fp".into(),
            browser: "Other".into(),
            os: "Other".into(),
            device: "Other".into(),
            scope: String::new(),
            last_ip: None,
            first_seen: t0(),
            last_seen: t0(),
            auth_time: None,
            idle_expires_at: t0() + Duration::days(14),
            absolute_expires_at: t0() + Duration::days(90),
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn token(id: &str) -> RefreshTokenRecord {
        RefreshTokenRecord {
            id: id.into(),
            session_id: "s".into(),
            parent_id: None,
            issued_at: t0(),
            used_at: None,
            superseded_at: None,
            expires_at: t0() + Duration::days(14),
        }
    }

    const GRACE: Duration = Duration::seconds(10);

    fn active() -> Owner<'static> {
        static NONE: Cutoffs = Cutoffs { all: None, except: None };
        Owner { status: UserStatus::Active, cutoffs: &NONE }
    }

    fn by(fingerprint: &str) -> Presentation<'_> {
        Presentation { client_id: "c", fingerprint, scope: None }
    }

    #[test]
    fn live_token_rotates() {
        assert_eq!(
            decide(&session(), active(), &token("a"), None, by("fp"), t0(), GRACE),
            Decision::Rotate { supersede: None }
        );
    }

    #[test]
    fn other_fingerprint_revokes() {
        let d = decide(&session(), active(), &token("a"), None, by("other"), t0(), GRACE);
        assert_eq!(d, Decision::Revoke(RevokeReason::FingerprintMismatch));
    }

    #[test]
    fn retry_within_grace_supersedes_the_successor() {
        let mut used = token("a");
        used.used_at = Some(t0());
        let next = token("b");
        let at = t0() + Duration::seconds(10);
        assert_eq!(
            decide(&session(), active(), &used, Some(&next), by("fp"), at, GRACE),
            Decision::Rotate { supersede: Some("b".into()) }
        );
    }

    #[test]
    fn reuse_after_grace_or_after_the_successor_was_used_revokes() {
        let mut used = token("a");
        used.used_at = Some(t0());
        let next = token("b");
        let late = t0() + Duration::seconds(11);
        assert_eq!(
            decide(&session(), active(), &used, Some(&next), by("fp"), late, GRACE),
            Decision::Revoke(RevokeReason::ReuseDetected)
        );
        assert_eq!(
            decide(&session(), active(), &used, None, by("fp"), t0(), GRACE),
            Decision::Revoke(RevokeReason::ReuseDetected)
        );
        assert_eq!(
            decide(&session(), active(), &used, Some(&next), by("fp"), t0() + Duration::seconds(1), Duration::zero()),
            Decision::Revoke(RevokeReason::ReuseDetected),
            "grace 0 disables retries"
        );
    }

    #[test]
    fn another_client_or_a_wider_scope_is_refused_without_revoking() {
        let other = Presentation { client_id: "other", fingerprint: "wrong", scope: None };
        assert_eq!(
            decide(&session(), active(), &token("a"), None, other, t0(), GRACE),
            Decision::Refuse(Refusal::WrongClient)
        );
        let mut s = session();
        s.scope = "read".into();
        let wide: Scope = "read write".parse().unwrap();
        let narrow: Scope = "read".parse().unwrap();
        let ask = |scope| Presentation { client_id: "c", fingerprint: "fp", scope: Some(scope) };
        assert_eq!(
            decide(&s, active(), &token("a"), None, ask(&wide), t0(), GRACE),
            Decision::Refuse(Refusal::WiderScope)
        );
        assert_eq!(
            decide(&s, active(), &token("a"), None, ask(&narrow), t0(), GRACE),
            Decision::Rotate { supersede: None }
        );
    }

    #[test]
    fn a_superseded_token_is_reuse() {
        let mut s = token("b");
        s.superseded_at = Some(t0());
        assert_eq!(
            decide(&session(), active(), &s, None, by("fp"), t0(), GRACE),
            Decision::Revoke(RevokeReason::ReuseDetected)
        );
    }

    #[test]
    fn a_rotation_in_the_second_of_a_cut_off_waits_for_the_next() {
        let ms = |ms: i64| t0() + Duration::milliseconds(ms);
        // The session opened after a kick-all in the same second: live, but its next access
        // token must not carry that second.
        let mut s = session();
        s.first_seen = ms(400);
        let cut = Cutoffs { all: Some(ms(300)), except: None };
        let owner = Owner { status: UserStatus::Active, cutoffs: &cut };
        assert_eq!(decide(&s, owner, &token("a"), None, by("fp"), ms(500), GRACE), Decision::Wait { until: ms(1_000) });
        assert_eq!(
            decide(&s, owner, &token("a"), None, by("fp"), ms(1_000), GRACE),
            Decision::Rotate { supersede: None }
        );
        // A reuse in that second is revoked at once: nothing to mint.
        let mut used = token("a");
        used.used_at = Some(ms(0));
        assert_eq!(
            decide(&s, owner, &used, None, by("fp"), ms(500), GRACE),
            Decision::Revoke(RevokeReason::ReuseDetected)
        );
    }

    #[test]
    fn a_banned_user_or_a_session_from_before_a_cut_off_is_revoked() {
        let none = Cutoffs::default();
        let banned = Owner { status: UserStatus::Banned, cutoffs: &none };
        assert_eq!(
            decide(&session(), banned, &token("a"), None, by("fp"), t0(), GRACE),
            Decision::Revoke(RevokeReason::UserBanned)
        );
        let at_open = Cutoffs { all: Some(t0()), except: None };
        let cut = Owner { status: UserStatus::Active, cutoffs: &at_open };
        assert_eq!(
            decide(&session(), cut, &token("a"), None, by("fp"), t0(), GRACE),
            Decision::Revoke(RevokeReason::CutOff)
        );
        let kept = Cutoffs { all: None, except: Some((t0(), SessionId::parse("s").unwrap())) };
        let spared = Owner { status: UserStatus::Active, cutoffs: &kept };
        assert_eq!(
            decide(&session(), spared, &token("a"), None, by("fp"), t0(), GRACE),
            Decision::Rotate { supersede: None }
        );
        // Another client's session learns nothing, and nothing is revoked.
        let other = Presentation { client_id: "other", fingerprint: "fp", scope: None };
        assert_eq!(
            decide(&session(), banned, &token("a"), None, other, t0(), GRACE),
            Decision::Refuse(Refusal::WrongClient)
        );
    }

    #[test]
    fn ended_sessions_and_expired_tokens_are_refused() {
        let mut revoked = session();
        revoked.revoked_at = Some(t0());
        assert_eq!(
            decide(&revoked, active(), &token("a"), None, by("fp"), t0(), GRACE),
            Decision::Refuse(Refusal::SessionEnded)
        );
        // Even a thief with the wrong fingerprint cannot tell anything from an ended session.
        assert_eq!(
            decide(&revoked, active(), &token("a"), None, by("x"), t0(), GRACE),
            Decision::Refuse(Refusal::SessionEnded)
        );
        let idle = t0() + Duration::days(15);
        assert_eq!(
            decide(&session(), active(), &token("a"), None, by("fp"), idle, GRACE),
            Decision::Refuse(Refusal::SessionEnded)
        );
        let mut short = token("a");
        short.expires_at = t0();
        assert_eq!(
            decide(&session(), active(), &short, None, by("fp"), t0(), GRACE),
            Decision::Refuse(Refusal::Expired)
        );
    }

    #[test]
    fn expiry_slides_but_never_past_the_cap() {
        let s = session();
        assert_eq!(slid_expiry(&s, t0() + Duration::days(1), Duration::days(14)), t0() + Duration::days(15));
        assert_eq!(slid_expiry(&s, t0() + Duration::days(89), Duration::days(14)), s.absolute_expires_at);
    }
}
