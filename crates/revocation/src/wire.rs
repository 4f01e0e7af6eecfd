//! A recorded revocation in the vocabulary of the rule and the feed (`portcullis_proto::feed`).

use std::collections::HashMap;

use chrono::Duration;
use portcullis_domain::revocation::{Revocation, Target};
use portcullis_proto::feed::{self, FeedEvent, FeedSubject, SESSION_REVOKED, SubjectId};

/// What `r` revokes, as the rule reads it; user-wide cut-offs in whole seconds.
pub fn target(r: &Revocation) -> feed::Target {
    match &r.target {
        Target::Session { sid, .. } => feed::Target::Session(sid.to_string()),
        Target::Token { jti } => feed::Target::Token(jti.clone()),
        Target::Client { client } => feed::Target::Client(client.to_string()),
        Target::User { user, except } => feed::Target::User {
            user: user.to_string(),
            not_before: r.cutoff_secs(),
            except: except.as_ref().map(ToString::to_string),
        },
    }
}

/// The feed's form of `r` (docs/revocation-feed.md), for `issuer`, forgotten after `horizon`.
pub fn event(r: &Revocation, issuer: &str, horizon: Duration) -> FeedEvent {
    let user = |u: &dyn ToString| Some(SubjectId::iss_sub(issuer, &u.to_string()));
    let (subject, not_before, except_session) = match &r.target {
        Target::Session { sid, user: u } => (
            FeedSubject { user: user(u), session: Some(SubjectId::opaque(sid.as_str())), ..FeedSubject::default() },
            None,
            None,
        ),
        Target::Client { client } => (
            FeedSubject { application: Some(SubjectId::opaque(client.as_str())), ..FeedSubject::default() },
            None,
            None,
        ),
        Target::User { user: u, except } => (
            FeedSubject { user: user(u), ..FeedSubject::default() },
            Some(r.cutoff_secs()),
            except.as_ref().map(ToString::to_string),
        ),
        Target::Token { jti } => {
            (FeedSubject { token: Some(SubjectId::opaque(jti)), ..FeedSubject::default() }, None, None)
        }
    };
    FeedEvent {
        id: r.id,
        kind: SESSION_REVOKED.to_owned(),
        iss: issuer.to_owned(),
        event_timestamp: r.at.timestamp(),
        initiating_entity: r.reason.initiating_entity().to_owned(),
        reason_admin: HashMap::from([("en".to_owned(), r.reason.as_str().to_owned())]),
        subject,
        not_before,
        except_session,
        expires_at: r.expires_at(horizon).timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use portcullis_domain::ids::{ClientId, SessionId, UserId};
    use portcullis_domain::revocation::Reason;
    use portcullis_proto::{RevocationSet, TokenRef};

    use super::*;

    /// The feed event a revocation becomes revokes exactly what the revocation's own target does.
    #[test]
    fn a_revocation_and_its_feed_event_revoke_the_same_tokens() {
        let at = DateTime::from_timestamp(1_000, 400_000_000).unwrap();
        let user = UserId::parse("u1").unwrap();
        for target in [
            Target::Session { sid: SessionId::parse("s1").unwrap(), user: user.clone() },
            Target::User { user: user.clone(), except: Some(SessionId::parse("keep").unwrap()) },
            Target::Token { jti: "j1".into() },
            Target::Client { client: ClientId::parse("c1").unwrap() },
        ] {
            let r = Revocation { id: 7, at, target, reason: Reason::Kicked };
            let mut direct = RevocationSet::new();
            direct.add(super::target(&r), 5_000);
            let mut fed = RevocationSet::new();
            fed.apply(&event(&r, "http://i", Duration::hours(1)));
            for (sub, sid, jti, client, iat) in [
                ("u1", Some("s1"), "j0", "c0", 999),
                ("u1", Some("s2"), "j0", "c0", 1_000),
                ("u1", Some("s2"), "j0", "c0", 1_001),
                ("u1", Some("keep"), "j0", "c0", 900),
                ("x", None, "j1", "c0", 10),
                ("x", None, "j2", "c1", 10),
            ] {
                let t = TokenRef { sub, sid, jti, client_id: client, iat };
                assert_eq!(direct.is_revoked(&t), fed.is_revoked(&t), "{:?} {t:?}", r.target);
            }
        }
    }
}
