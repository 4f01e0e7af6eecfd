//! Users: the resource owners who log in, and the user-wide cut-offs that end their sessions.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::ids::{SessionId, UserId, Username};
use crate::otp::{Email, Phone};

/// Whether a user may get tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Banned,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Banned => "banned",
        }
    }

    /// Parses a stored status; anything unknown counts as banned (fail closed).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            _ => Self::Banned,
        }
    }
}

/// The latest user-wide cut-offs of a user (docs/decisions/0011): every session opened at or
/// before `all` has ended, and so has every session opened at or before `except.0` but
/// `except.1` (the session a password was changed from).
///
/// They are kept on the user, not only in the revocation log, so that a session that raced a
/// cut-off (opened by a login that checked the password just before it) is still refused when
/// it refreshes, however long after.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cutoffs {
    pub all: Option<DateTime<Utc>>,
    pub except: Option<(DateTime<Utc>, SessionId)>,
}

impl Cutoffs {
    /// Whether session `sid`, opened at `opened`, was ended by a cut-off.
    pub fn ends(&self, sid: &SessionId, opened: DateTime<Utc>) -> bool {
        self.all.is_some_and(|at| opened <= at)
            || self.except.as_ref().is_some_and(|(at, keep)| opened <= *at && sid != keep)
    }

    /// Whether a session opened at `opened` (a new one, whose id nobody has kept) may live.
    pub fn admits(&self, opened: DateTime<Utc>) -> bool {
        self.all.is_none_or(|at| opened > at) && self.except.as_ref().is_none_or(|(at, _)| opened > *at)
    }

    /// The first instant at which an access token of session `sid` (`None`: a session no
    /// cut-off spares) may be minted so that no cut-off covers it.
    ///
    /// Resource servers compare a token's `iat`, in whole seconds, with a cut-off's second
    /// (`iat <= not_before` is revoked). A token minted later in the cut-off's own second would
    /// carry that second and be taken for one minted before; so it is minted from the next
    /// second instead (the caller waits, at most a second, once per cut-off).
    pub fn live_from(&self, sid: Option<&SessionId>) -> Option<DateTime<Utc>> {
        let spared = |keep: &SessionId| sid == Some(keep);
        let latest = match (&self.all, &self.except) {
            (Some(a), Some((e, keep))) if !spared(keep) => Some((*a).max(*e)),
            (Some(a), _) => Some(*a),
            (None, Some((e, keep))) if !spared(keep) => Some(*e),
            (None, _) => None,
        }?;
        Some(next_second(latest))
    }
}

/// The start of the whole second after `t`.
fn next_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(1)).unwrap_or(t) + Duration::seconds(1)
}

/// A stored user. `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    /// An argon2id PHC string, or empty for a user with no password (one who signs in by code).
    pub password_hash: String,
    /// Where one-time codes go; each unique among users where set.
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    /// How the user is shown (contract §7); `None` when unset.
    pub display_name: Option<String>,
    pub status: UserStatus,
    pub ban_reason: Option<String>,
    pub cutoffs: Cutoffs,
    pub created_at: DateTime<Utc>,
    /// Changes with every change to the user that decides who may log in (password, status,
    /// cut-offs, phone and email): a login checks that the user it authenticated is still the
    /// user when its session is stored (a password changed meanwhile refuses it). A new
    /// username or display name does not: it would refuse logins for nothing.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether the user may be issued tokens for a session opened at `opened`.
    pub fn may_open_session(&self, opened: DateTime<Utc>) -> bool {
        self.status == UserStatus::Active && self.cutoffs.admits(opened)
    }

    /// Whether the user has a password at all (a user signed up by code has none).
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Longest display name kept, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;

/// A display name as given: trimmed; empty means "none"; at most [`MAX_DISPLAY_NAME`]
/// characters and no control characters (it is shown on pages and in other apps).
pub fn display_name(raw: &str) -> Result<Option<String>, crate::ids::InvalidId> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(crate::ids::InvalidId { what: "display_name", why: "is longer than 100 characters" });
    }
    if name.chars().any(char::is_control) {
        return Err(crate::ids::InvalidId { what: "display_name", why: "may not contain control characters" });
    }
    Ok(Some(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn sid(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    #[test]
    fn display_names_are_trimmed_bounded_and_printable() {
        assert_eq!(display_name("  Ada Lovelace ").unwrap().as_deref(), Some("Ada Lovelace"));
        assert_eq!(display_name("   ").unwrap(), None, "blank clears it");
        assert_eq!(display_name("李小龍").unwrap().as_deref(), Some("李小龍"));
        assert!(display_name(&"é".repeat(100)).is_ok());
        assert!(display_name(&"é".repeat(101)).is_err());
        assert!(display_name("a\u{0}b").is_err());
        assert!(display_name("line\nbreak").is_err());
    }

    #[test]
    fn a_cut_off_ends_what_opened_at_or_before_it_and_spares_the_kept_session() {
        let c = Cutoffs { all: Some(at(1_200)), except: Some((at(5_300), sid("keep"))) };
        assert!(c.ends(&sid("s"), at(1_200)));
        assert!(c.ends(&sid("keep"), at(1_000)), "the ban spares no one");
        assert!(!c.ends(&sid("keep"), at(3_000)));
        assert!(c.ends(&sid("s"), at(3_000)));
        assert!(!c.ends(&sid("s"), at(5_301)), "opened a millisecond after: live");
        assert!(!c.admits(at(5_300)) && c.admits(at(5_301)));
        assert!(Cutoffs::default().admits(at(0)));
    }

    #[test]
    fn tokens_after_a_cut_off_are_minted_from_its_next_second() {
        let c = Cutoffs { all: Some(at(1_200)), except: None };
        assert_eq!(c.live_from(None), Some(at(2_000)));
        let c = Cutoffs { all: Some(at(1_200)), except: Some((at(5_300), sid("keep"))) };
        assert_eq!(c.live_from(None), Some(at(6_000)));
        assert_eq!(c.live_from(Some(&sid("keep"))), Some(at(2_000)), "the kept session waits only for the ban");
        let c = Cutoffs { all: None, except: Some((at(5_000), sid("keep"))) };
        assert_eq!(c.live_from(Some(&sid("keep"))), None);
        assert_eq!(c.live_from(Some(&sid("other"))), Some(at(6_000)), "a cut-off on a whole second waits for the next");
        assert_eq!(Cutoffs::default().live_from(None), None);
    }
}
