//! The revocation feed: what the authorization server tells nodes and resource servers about
//! revoked sessions, users and tokens (docs/revocation-feed.md), and [`RevocationSet`], the
//! in-memory state a follower keeps from it.
//!
//! Events follow the shape of the OpenID Shared Signals / CAEP `session-revoked` event: a
//! subject (a session, a user, or one token), when, who initiated it, and why.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::AccessTokenClaims;

/// The CAEP event type every feed event carries.
pub const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// The SSE event name of a revocation.
pub const SSE_REVOCATION: &str = "session-revoked";

/// The SSE event name sent once the backlog has been replayed; data is [`CaughtUp`].
pub const SSE_CAUGHT_UP: &str = "caught-up";

/// One revocation, as sent in the `data` of an SSE event named [`SSE_REVOCATION`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedEvent {
    /// Position in the feed; also the SSE `id`. Increasing, not necessarily contiguous.
    pub id: i64,
    /// Always [`SESSION_REVOKED`].
    #[serde(rename = "type")]
    pub kind: String,
    pub iss: String,
    /// When the revocation took effect (seconds since the epoch).
    pub event_timestamp: i64,
    /// `admin`, `user`, `policy` or `system` (CAEP).
    pub initiating_entity: String,
    /// Why, for operators, e.g. `{"en": "kicked"}` (CAEP `reason_admin`).
    pub reason_admin: HashMap<String, String>,
    pub subject: FeedSubject,
    /// User-wide events: every token of `subject.user` issued at or before this time
    /// (`iat <= not_before`) is revoked, except the tokens of `except_session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_session: Option<String>,
    /// No token this event affects can be valid after this time: followers may forget it then.
    pub expires_at: i64,
}

/// A CAEP complex subject: the user, and the session or token when only that one is revoked,
/// or the application (client) when every token issued to it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedSubject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SubjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SubjectId>,
    /// One access token, by `jti` (client-credentials tokens, which have no session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SubjectId>,
    /// A deleted client, by `client_id`: every token issued to it is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<SubjectId>,
}

/// An RFC 9493 subject identifier: `iss_sub` for users, `opaque` for sessions and tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubjectId {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl SubjectId {
    pub fn iss_sub(iss: &str, sub: &str) -> Self {
        Self { format: "iss_sub".into(), iss: Some(iss.into()), sub: Some(sub.into()), id: None }
    }

    pub fn opaque(id: &str) -> Self {
        Self { format: "opaque".into(), iss: None, sub: None, id: Some(id.into()) }
    }

    /// The user id of an `iss_sub` identifier, or the id of an `opaque` one.
    pub fn value(&self) -> Option<&str> {
        self.sub.as_deref().or(self.id.as_deref())
    }
}

/// Data of the [`SSE_CAUGHT_UP`] event: the backlog up to `last_id` has been sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtUp {
    pub last_id: i64,
}

/// What a revocation is checked against: the parts of an access token that events name.
#[derive(Clone, Copy, Debug)]
pub struct TokenRef<'a> {
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub iat: i64,
}

impl<'a> From<&'a AccessTokenClaims> for TokenRef<'a> {
    fn from(c: &'a AccessTokenClaims) -> Self {
        Self { sub: &c.sub, sid: c.sid.as_deref(), jti: &c.jti, client_id: &c.client_id, iat: c.iat }
    }
}

/// What a revocation targets, read from a [`FeedEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Session(String),
    Token(String),
    /// Every token whose `client_id` is this.
    Client(String),
    /// Tokens of `user` with `iat <= not_before`, except those of session `except`.
    User {
        user: String,
        not_before: i64,
        except: Option<String>,
    },
}

impl FeedEvent {
    /// What this event revokes; `None` for an event this version does not understand.
    pub fn target(&self) -> Option<Target> {
        let s = &self.subject;
        if let (Some(nb), Some(user)) = (self.not_before, s.user.as_ref().and_then(SubjectId::value)) {
            return Some(Target::User { user: user.into(), not_before: nb, except: self.except_session.clone() });
        }
        if let Some(sid) = s.session.as_ref().and_then(SubjectId::value) {
            return Some(Target::Session(sid.into()));
        }
        if let Some(client) = s.application.as_ref().and_then(SubjectId::value) {
            return Some(Target::Client(client.into()));
        }
        s.token.as_ref().and_then(SubjectId::value).map(|jti| Target::Token(jti.into()))
    }
}

/// The latest user-wide cut-offs of one user (seconds since the epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserCutoff {
    /// Every token with `iat <= all` is revoked: (cut-off, forget after).
    pub all: Option<(i64, i64)>,
    /// Every token with `iat <= .0` is revoked but those of session `.1`: (cut-off, session,
    /// forget after).
    pub except: Option<(i64, String, i64)>,
}

impl UserCutoff {
    pub fn revokes(&self, t: &TokenRef<'_>) -> bool {
        self.all.is_some_and(|(nb, _)| t.iat <= nb)
            || self.except.as_ref().is_some_and(|(nb, keep, _)| t.iat <= *nb && t.sid != Some(keep.as_str()))
    }

    fn add(&mut self, not_before: i64, except: Option<String>, expires_at: i64) {
        match except {
            None => {
                if self.all.is_none_or(|(nb, _)| nb < not_before) {
                    self.all = Some((not_before, expires_at));
                }
            }
            Some(keep) => {
                if self.except.as_ref().is_none_or(|(nb, _, _)| *nb < not_before) {
                    self.except = Some((not_before, keep, expires_at));
                }
            }
        }
    }

    fn prune(&mut self, now: i64) {
        if self.all.is_some_and(|(_, exp)| exp <= now) {
            self.all = None;
        }
        if self.except.as_ref().is_some_and(|(_, _, exp)| *exp <= now) {
            self.except = None;
        }
    }

    fn is_empty(&self) -> bool {
        self.all.is_none() && self.except.is_none()
    }
}

/// Revocations still in force, in memory: what a single node or a resource server keeps.
/// Applying an event twice, or out of order, gives the same state.
#[derive(Clone, Debug, Default)]
pub struct RevocationSet {
    sessions: HashMap<String, i64>,
    tokens: HashMap<String, i64>,
    clients: HashMap<String, i64>,
    users: HashMap<String, UserCutoff>,
}

impl RevocationSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, event: &FeedEvent) {
        if let Some(target) = event.target() {
            self.add(target, event.expires_at);
        }
    }

    pub fn add(&mut self, target: Target, expires_at: i64) {
        let keep_longest = |m: &mut HashMap<String, i64>, k: String| {
            let e = m.entry(k).or_insert(expires_at);
            *e = (*e).max(expires_at);
        };
        match target {
            Target::Session(sid) => keep_longest(&mut self.sessions, sid),
            Target::Token(jti) => keep_longest(&mut self.tokens, jti),
            Target::Client(client) => keep_longest(&mut self.clients, client),
            Target::User { user, not_before, except } => {
                self.users.entry(user).or_default().add(not_before, except, expires_at)
            }
        }
    }

    pub fn is_revoked(&self, t: &TokenRef<'_>) -> bool {
        t.sid.is_some_and(|sid| self.sessions.contains_key(sid))
            || (!self.tokens.is_empty() && self.tokens.contains_key(t.jti))
            || (!self.clients.is_empty() && self.clients.contains_key(t.client_id))
            || self.users.get(t.sub).is_some_and(|u| u.revokes(t))
    }

    /// Forgets what can no longer affect a valid token.
    pub fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, exp| *exp > now);
        self.tokens.retain(|_, exp| *exp > now);
        self.clients.retain(|_, exp| *exp > now);
        self.users.retain(|_, u| {
            u.prune(now);
            !u.is_empty()
        });
    }

    /// Entries held (sessions, tokens, clients and users).
    pub fn len(&self) -> usize {
        self.sessions.len() + self.tokens.len() + self.clients.len() + self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token<'a>(sub: &'a str, sid: Option<&'a str>, iat: i64) -> TokenRef<'a> {
        TokenRef { sub, sid, jti: "j1", client_id: "c1", iat }
    }

    fn event(subject: FeedSubject, not_before: Option<i64>, except: Option<&str>) -> FeedEvent {
        FeedEvent {
            id: 1,
            kind: SESSION_REVOKED.into(),
            iss: "http://i".into(),
            event_timestamp: 100,
            initiating_entity: "admin".into(),
            reason_admin: HashMap::from([("en".into(), "kicked".into())]),
            subject,
            not_before,
            except_session: except.map(Into::into),
            expires_at: 1000,
        }
    }

    #[test]
    fn session_event_revokes_only_that_session() {
        let mut set = RevocationSet::new();
        set.apply(&event(
            FeedSubject {
                user: Some(SubjectId::iss_sub("http://i", "u1")),
                session: Some(SubjectId::opaque("s1")),
                ..Default::default()
            },
            None,
            None,
        ));
        assert!(set.is_revoked(&token("u1", Some("s1"), 500)));
        assert!(!set.is_revoked(&token("u1", Some("s2"), 50)));
    }

    #[test]
    fn user_cutoff_spares_later_tokens_and_the_kept_session() {
        let mut set = RevocationSet::new();
        let user = FeedSubject { user: Some(SubjectId::iss_sub("http://i", "u1")), ..Default::default() };
        set.apply(&event(user.clone(), Some(100), Some("keep")));
        assert!(set.is_revoked(&token("u1", Some("s1"), 100)));
        assert!(!set.is_revoked(&token("u1", Some("s1"), 101)));
        assert!(!set.is_revoked(&token("u1", Some("keep"), 50)));
        // A later ban spares no one.
        set.apply(&event(user, Some(200), None));
        assert!(set.is_revoked(&token("u1", Some("keep"), 150)));
        assert!(!set.is_revoked(&token("u2", Some("s1"), 10)));
    }

    #[test]
    fn token_event_and_pruning() {
        let mut set = RevocationSet::new();
        set.apply(&event(FeedSubject { token: Some(SubjectId::opaque("j1")), ..Default::default() }, None, None));
        assert!(set.is_revoked(&token("client", None, 1)));
        set.prune(999);
        assert_eq!(set.len(), 1);
        set.prune(1000);
        assert!(set.is_empty() && !set.is_revoked(&token("client", None, 1)));
    }

    #[test]
    fn an_application_event_revokes_every_token_of_the_client() {
        let mut set = RevocationSet::new();
        set.apply(&event(FeedSubject { application: Some(SubjectId::opaque("c1")), ..Default::default() }, None, None));
        assert!(set.is_revoked(&token("u1", Some("s1"), 5000)));
        assert!(set.is_revoked(&token("c1", None, 1)));
        let other = TokenRef { client_id: "c2", ..token("u1", Some("s1"), 1) };
        assert!(!set.is_revoked(&other));
    }

    #[test]
    fn wire_shape_is_caep_like() {
        let e = event(
            FeedSubject { user: Some(SubjectId::iss_sub("http://i", "u1")), ..Default::default() },
            Some(100),
            None,
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], SESSION_REVOKED);
        assert_eq!(v["subject"]["user"]["format"], "iss_sub");
        assert_eq!(v["subject"]["user"]["sub"], "u1");
        assert!(v.get("except_session").is_none());
        let back: FeedEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.target(), Some(Target::User { user: "u1".into(), not_before: 100, except: None }));
    }
}
