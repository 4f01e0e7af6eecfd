//! RFC 7009 revocation and `POST /me/logout`.

use std::time::Duration;

use portcullis_domain::grant::GrantType::ClientCredentials;
use serde_json::Value;

use crate::refresh::{FIREFOX, fixture, sid_of};

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let f = fixture(Duration::from_secs(10)).await;
    let body = f.login("d", FIREFOX).await;
    let sid = sid_of(&body);
    let rt = body["refresh_token"].as_str().expect("rt");
    let res =
        f.s.post_form("/oauth2/revoke", &[("token", rt), ("token_type_hint", "refresh_token")], Some(&f.c), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(f.live_tokens(&sid).await, 0);
    assert_eq!(f.s.introspect(&f.rs, body["access_token"].as_str().expect("at")).await["active"], false);
    let (status, _) = f.refresh(rt, "d", FIREFOX).await;
    assert_eq!(status, 400);
    assert_eq!(f.audits("session_revoked").await, 1);
}

#[tokio::test]
async fn revoking_access_tokens() {
    let f = fixture(Duration::from_secs(10)).await;
    // A user's access token ends its device session.
    let body = f.login("d", FIREFOX).await;
    let res =
        f.s.post_form("/oauth2/revoke", &[("token", body["access_token"].as_str().expect("at"))], Some(&f.c), &[])
            .await;
    assert_eq!(res.status(), 200);
    assert_eq!(f.live_tokens(&sid_of(&body)).await, 0);
    // A client token goes on the denylist; its siblings stay valid.
    let cc = f.s.resource_server().await;
    let a = f.s.client_token(&cc, None).await["access_token"].as_str().expect("a").to_owned();
    let b = f.s.client_token(&cc, None).await["access_token"].as_str().expect("b").to_owned();
    assert_eq!(f.s.post_form("/oauth2/revoke", &[("token", &a)], Some(&cc), &[]).await.status(), 200);
    assert_eq!(f.s.introspect(&cc, &a).await, serde_json::json!({"active": false}));
    assert_eq!(f.s.introspect(&cc, &b).await["active"], true);
}

#[tokio::test]
async fn unknown_tokens_answer_200_and_foreign_tokens_are_refused() {
    let f = fixture(Duration::from_secs(10)).await;
    let body = f.login("d", FIREFOX).await;
    let other = f.s.client(&[ClientCredentials], "").await;
    for token in ["pcr_nothing", "not-a-token"] {
        let res = f.s.post_form("/oauth2/revoke", &[("token", token)], Some(&other), &[]).await;
        assert_eq!(res.status(), 200);
    }
    for token in [body["refresh_token"].as_str().expect("rt"), body["access_token"].as_str().expect("at")] {
        let res = f.s.post_form("/oauth2/revoke", &[("token", token)], Some(&other), &[]).await;
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.expect("json")["error"], "unauthorized_client");
    }
    assert_eq!(f.live_tokens(&sid_of(&body)).await, 1, "another client cannot revoke this client's tokens");
    let res = f.s.post_form("/oauth2/revoke", &[("token", "x")], None, &[]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_client");
    let res = f.s.post_form("/oauth2/revoke", &[], Some(&f.c), &[]).await;
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_request");
}

#[tokio::test]
async fn logout_ends_the_current_device_only() {
    let f = fixture(Duration::from_secs(10)).await;
    let here = f.login("here", FIREFOX).await;
    let there = f.login("there", FIREFOX).await;
    let at = here["access_token"].as_str().expect("at");
    let res = f.s.http.post(f.s.url("/me/logout")).bearer_auth(at).send().await.expect("send");
    assert_eq!(res.status(), 204);
    let res = f.s.http.get(f.s.url("/me")).bearer_auth(at).send().await.expect("send");
    assert_eq!(res.status(), 401, "the access token of a logged-out session is dead at once");
    let (status, _) = f.refresh(here["refresh_token"].as_str().expect("rt"), "here", FIREFOX).await;
    assert_eq!(status, 400);
    let (status, _) = f.refresh(there["refresh_token"].as_str().expect("rt"), "there", FIREFOX).await;
    assert_eq!(status, 200, "the other device is untouched");
}

/// One rule: for a table of revocations and tokens, the node's fast state (in process, or Redis
/// on the PostgreSQL run), the log's SQL check and the feed's events (what the guard applies)
/// all agree, and agree with the table.
#[tokio::test]
async fn the_state_the_log_and_the_feed_judge_every_token_alike() {
    use portcullis_domain::ids::{ClientId, SessionId, UserId};
    use portcullis_domain::revocation::{NewRevocation, Reason, Target};
    use portcullis_proto::{AccessTokenClaims, RevocationSet, TokenRef};
    use portcullis_revocation::RevocationLog;

    let s = portcullis_e2e::TestServer::start().await;
    let now = s.now();
    let cut = now.timestamp();
    for target in [
        Target::Session { sid: SessionId::parse("s1").unwrap(), user: UserId::parse("u1").unwrap() },
        Target::User { user: UserId::parse("u2").unwrap(), except: Some(SessionId::parse("keep").unwrap()) },
        Target::Token { jti: "j3".into() },
        Target::Client { client: ClientId::parse("c4").unwrap() },
    ] {
        let r = NewRevocation { at: now, target, reason: Reason::Kicked };
        RevocationLog::append(&s.store, &r).await.expect("append");
    }
    s.app.revocations().recorded().await;
    let mut fed = RevocationSet::new();
    for e in s.app.revocations().backlog_page(0, 100).await.expect("backlog").0 {
        fed.apply(&e);
    }
    let claims = |sub: &str, sid: Option<&str>, jti: &str, client: &str, iat: i64| AccessTokenClaims {
        iss: s.base.clone(),
        sub: sub.into(),
        aud: "api".into(),
        exp: iat + 900,
        iat,
        nbf: iat,
        jti: jti.into(),
        client_id: client.into(),
        scope: String::new(),
        sid: sid.map(Into::into),
        dfp: None,
    };
    let table = [
        ("the kicked session", claims("u1", Some("s1"), "a", "c0", cut - 5), true),
        ("another session of that user", claims("u1", Some("s9"), "a", "c0", cut - 5), false),
        ("cut off, before", claims("u2", Some("s2"), "a", "c0", cut - 1), true),
        ("cut off, its own second", claims("u2", Some("s2"), "a", "c0", cut), true),
        ("cut off, the next second", claims("u2", Some("s2"), "a", "c0", cut + 1), false),
        ("the kept session", claims("u2", Some("keep"), "a", "c0", cut - 1), false),
        ("the revoked jti", claims("c0", None, "j3", "c0", cut - 1), true),
        ("the deleted client's user token", claims("u5", Some("s5"), "a", "c4", cut + 100), true),
        ("the deleted client's own token", claims("c4", None, "b", "c4", cut - 1), true),
        ("nobody revoked", claims("u6", Some("s6"), "z", "c6", cut - 1), false),
    ];
    for (what, c, revoked) in table {
        let state = s.app.revocations().is_revoked(&c).await.expect("state answers");
        let sql = RevocationLog::revokes(&s.store, &TokenRef::from(&c), now - chrono::Duration::hours(1))
            .await
            .expect("sql answers");
        let feed = fed.is_revoked(&TokenRef::from(&c));
        assert_eq!((state, sql, feed), (revoked, revoked, revoked), "{what}: state {state}, sql {sql}, feed {feed}");
    }
}
