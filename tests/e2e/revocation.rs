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
