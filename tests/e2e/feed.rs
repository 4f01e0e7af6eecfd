//! The revocation feed (docs/revocation-feed.md): authentication, the backlog, live kicks,
//! bans, password changes and client-token revocations, and resuming with Last-Event-ID.

use std::time::Duration;

use portcullis_domain::grant::GrantType::ClientCredentials;
use portcullis_e2e::feed::FeedFollower;
use portcullis_proto::FeedEvent;
use serde_json::{Value, json};

use crate::refresh::{FIREFOX, Fixture, fixture, sid_of};

const SOON: Duration = Duration::from_secs(3);

impl Fixture {
    fn feed_url(&self) -> String {
        self.s.url(portcullis_server::http::paths::REVOCATION_FEED)
    }

    async fn follow(&self, last_event_id: Option<&str>) -> FeedFollower {
        let secret = self.rs.secret.as_deref().expect("confidential");
        FeedFollower::connect(&self.feed_url(), &self.rs.id, secret, last_event_id).await
    }

    async fn user_id(&self) -> String {
        let body = self.login("probe", FIREFOX).await;
        crate::jwt::parts(body["access_token"].as_str().expect("at")).1["sub"].as_str().expect("sub").to_owned()
    }

    async fn kick(&self, admin: &str, user: &str, device: &str) {
        let url = self.s.url(&format!("/admin/users/{user}/devices/{device}"));
        let res = self.s.http.delete(url).bearer_auth(admin).send().await.expect("send");
        assert_eq!(res.status(), 204);
    }
}

async fn next(follower: &mut FeedFollower) -> FeedEvent {
    follower.next_revocation(SOON).await.expect("a revocation on the feed within 3 s").0
}

#[tokio::test]
async fn the_feed_is_advertised_and_needs_client_authentication() {
    let f = fixture(Duration::from_secs(10)).await;
    let (_, _, meta) = f.s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(meta["revocation_feed_endpoint"], json!(f.feed_url()));

    let res = f.s.http.get(f.feed_url()).send().await.expect("send");
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_client");
    let res = f.s.http.get(f.feed_url()).basic_auth(&f.rs.id, Some("pcs_wrong")).send().await.expect("send");
    assert_eq!(res.status(), 401);
    // An app's client is not a resource server: it may not follow every revocation.
    let res = f.s.http.get(f.feed_url()).basic_auth(&f.c.id, f.c.secret.as_deref()).send().await.expect("send");
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "unauthorized_client");
    let res = f.s.http.get(format!("{}?after=abc", f.feed_url())).basic_auth(&f.rs.id, f.rs.secret.as_deref());
    let res = res.send().await.expect("send");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().expect("description").contains("after"));
}

#[tokio::test]
async fn kicks_bans_and_password_changes_reach_a_follower_at_once() {
    let f = fixture(Duration::from_secs(10)).await;
    let user = f.user_id().await;
    let admin = f.s.admin_token().await;
    let mut feed = f.follow(None).await;
    let before = feed.backlog().await;
    assert!(before.is_empty(), "nothing revoked yet: {before:?}");

    // A kick: one session, initiated by an admin.
    let phone = f.login("phone", FIREFOX).await;
    f.kick(&admin, &user, "phone").await;
    let e = next(&mut feed).await;
    assert_eq!(e.kind, "https://schemas.openid.net/secevent/caep/event-type/session-revoked");
    assert_eq!(e.iss, f.s.base);
    assert_eq!(e.initiating_entity, "admin");
    assert_eq!(e.reason_admin["en"], "kicked");
    assert_eq!(e.subject.session.as_ref().and_then(|s| s.id.as_deref()), Some(sid_of(&phone).as_str()));
    let u = e.subject.user.as_ref().expect("user subject");
    assert_eq!((u.format.as_str(), u.sub.as_deref()), ("iss_sub", Some(user.as_str())));
    assert!(e.not_before.is_none());
    assert!(e.expires_at >= e.event_timestamp + 15 * 60);

    // A password change: a user-wide cut-off sparing the caller's session.
    let laptop = f.login("laptop", FIREFOX).await;
    let at = laptop["access_token"].as_str().expect("at");
    let res =
        f.s.http
            .post(f.s.url("/me/password"))
            .bearer_auth(at)
            .json(&json!({"current_password": "ivy's long password", "new_password": "ivy's newer password"}))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 204);
    let cutoff = loop {
        let e = next(&mut feed).await;
        if e.not_before.is_some() {
            break e;
        }
        // The other live sessions end one by one too.
        assert_eq!(e.reason_admin["en"], "password_changed");
    };
    assert_eq!(cutoff.reason_admin["en"], "password_changed");
    assert_eq!(cutoff.initiating_entity, "user");
    assert_eq!(cutoff.except_session.as_deref(), Some(sid_of(&laptop).as_str()));
    assert!(cutoff.subject.session.is_none());

    // A ban: a cut-off sparing no one.
    let res = f.s.http.post(f.s.url(&format!("/admin/users/{user}/ban"))).bearer_auth(&admin);
    let res = res.json(&json!({"reason": "abuse"})).send().await.expect("send");
    assert_eq!(res.status(), 200);
    let ban = loop {
        let e = next(&mut feed).await;
        if e.not_before.is_some() {
            break e;
        }
    };
    assert_eq!(ban.reason_admin["en"], "banned");
    assert!(ban.except_session.is_none());
    assert_eq!(f.s.introspect(&f.rs, at).await["active"], false);
}

#[tokio::test]
async fn a_revoked_client_token_is_on_the_feed_by_jti() {
    let f = fixture(Duration::from_secs(10)).await;
    let mut feed = f.follow(None).await;
    feed.backlog().await;
    let cc = f.s.client(&[ClientCredentials], "").await;
    let token = f.s.client_token(&cc, None).await["access_token"].as_str().expect("at").to_owned();
    assert_eq!(f.s.post_form("/oauth2/revoke", &[("token", &token)], Some(&cc), &[]).await.status(), 200);
    let e = next(&mut feed).await;
    let jti = crate::jwt::parts(&token).1["jti"].as_str().expect("jti").to_owned();
    assert_eq!(e.subject.token.as_ref().and_then(|t| t.id.as_deref()), Some(jti.as_str()));
    assert_eq!(e.reason_admin["en"], "revoked_by_client");
}

#[tokio::test]
async fn a_follower_resumes_with_last_event_id_and_misses_nothing() {
    let f = fixture(Duration::from_secs(10)).await;
    let user = f.user_id().await;
    let admin = f.s.admin_token().await;
    f.login("a", FIREFOX).await;
    f.kick(&admin, &user, "a").await;
    let mut feed = f.follow(None).await;
    let backlog = feed.backlog().await;
    assert_eq!(backlog.len(), 1, "the kick made before connecting is in the backlog");
    let last = backlog[0].id;
    drop(feed);

    // Two kicks while disconnected.
    for dev in ["b", "c"] {
        f.login(dev, FIREFOX).await;
        f.kick(&admin, &user, dev).await;
    }
    let mut resumed = f.follow(Some(&last.to_string())).await;
    let missed = resumed.backlog().await;
    let ids: Vec<i64> = missed.iter().map(|e| e.id).filter(|id| *id > last).collect();
    assert_eq!(ids.len(), 2, "both kicks made while away are replayed: {missed:?}");
    // `?after=` works the same.
    let url = format!("{}?after={last}", f.feed_url());
    let mut by_query = FeedFollower::connect(&url, &f.rs.id, f.rs.secret.as_deref().expect("secret"), None).await;
    assert_eq!(by_query.backlog().await.iter().filter(|e| e.id > last).count(), 2);
    // Live events still follow the backlog.
    f.login("d", FIREFOX).await;
    f.kick(&admin, &user, "d").await;
    assert!(next(&mut resumed).await.id > last);
}
