//! `/admin/users` (create, list, read, ban, unban) and `POST /me/password` (contract §4).

use std::time::Duration;

use serde_json::{Value, json};

use crate::refresh::{FIREFOX, Fixture, fixture, sid_of};

async fn admin(f: &Fixture) -> String {
    f.s.admin_token().await
}

async fn call(f: &Fixture, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = f.s.http.request(method, f.s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("send");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admins_create_list_and_read_users() {
    let f = fixture(Duration::from_secs(10)).await;
    let token = admin(&f).await;
    let (status, made) = call(
        &f,
        reqwest::Method::POST,
        "/admin/users",
        &token,
        Some(json!({"username": "lee", "password": "lee's long password"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["username"], "lee");
    assert_eq!(made["status"], "active");
    assert!(made.get("password_hash").is_none());
    let (status, dup) = call(
        &f,
        reqwest::Method::POST,
        "/admin/users",
        &token,
        Some(json!({"username": "lee", "password": "another long one"})),
    )
    .await;
    assert_eq!((status, dup["error"].as_str()), (409, Some("conflict")));
    let (status, bad) =
        call(&f, reqwest::Method::POST, "/admin/users", &token, Some(json!({"username": "max", "password": "short"})))
            .await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_request")));
    let (status, bad) = call(&f, reqwest::Method::POST, "/admin/users", &token, Some(json!({"name": "nope"}))).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_request")));

    let (status, page) = call(&f, reqwest::Method::GET, "/admin/users?limit=1", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(page["users"].as_array().expect("a").len(), 1);
    let cursor = page["next_cursor"].as_str().expect("two users: a next page");
    let (_, rest) =
        call(&f, reqwest::Method::GET, &format!("/admin/users?limit=1&cursor={cursor}"), &token, None).await;
    assert_ne!(rest["users"][0]["user_id"], page["users"][0]["user_id"]);
    let id = made["user_id"].as_str().expect("id");
    let (status, one) = call(&f, reqwest::Method::GET, &format!("/admin/users/{id}"), &token, None).await;
    assert_eq!((status, one["username"].as_str()), (200, Some("lee")));
    let (status, _) = call(&f, reqwest::Method::GET, "/admin/users/nobody", &token, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_ban_ends_every_session_and_every_grant_until_unban() {
    let f = fixture(Duration::from_secs(10)).await;
    let token = admin(&f).await;
    let laptop = f.login("laptop", FIREFOX).await;
    let phone = f.login("phone", FIREFOX).await;
    let (_, me) = call(&f, reqwest::Method::GET, "/me", laptop["access_token"].as_str().expect("at"), None).await;
    let id = me["user_id"].as_str().expect("id").to_owned();

    let (status, banned) =
        call(&f, reqwest::Method::POST, &format!("/admin/users/{id}/ban"), &token, Some(json!({"reason": "fraud"})))
            .await;
    assert_eq!(status, 200, "{banned}");
    assert_eq!((banned["status"].as_str(), banned["ban_reason"].as_str()), (Some("banned"), Some("fraud")));
    for body in [&laptop, &phone] {
        assert_eq!(f.live_tokens(&sid_of(body)).await, 0);
        assert_eq!(f.s.introspect(&f.rs, body["access_token"].as_str().expect("at")).await["active"], false);
    }
    let (status, _) = f.refresh(phone["refresh_token"].as_str().expect("rt"), "phone", FIREFOX).await;
    assert_eq!(status, 400);
    let res =
        f.s.token_request(
            &[("grant_type", "password"), ("username", "ivy"), ("password", "ivy's long password")],
            Some(&f.c),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().expect("d").contains("banned"));
    let (status, _) =
        call(&f, reqwest::Method::POST, &format!("/admin/users/{id}/ban"), &token, Some(json!({"reason": ""}))).await;
    assert_eq!(status, 400);

    let (status, unbanned) = call(&f, reqwest::Method::POST, &format!("/admin/users/{id}/unban"), &token, None).await;
    assert_eq!((status, unbanned["status"].as_str()), (200, Some("active")));
    // Old sessions stay dead; a new login works.
    assert_eq!(f.live_tokens(&sid_of(&laptop)).await, 0);
    f.login("laptop", FIREFOX).await;
    assert_eq!(f.audits("user_banned").await, 1);
    assert_eq!(f.audits("user_unbanned").await, 1);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let f = fixture(Duration::from_secs(10)).await;
    let here = f.login("here", FIREFOX).await;
    let stolen = f.login("thief", FIREFOX).await;
    let at = here["access_token"].as_str().expect("at");
    let (status, err) = call(
        &f,
        reqwest::Method::POST,
        "/me/password",
        at,
        Some(json!({"current_password": "wrong", "new_password": "a brand new password"})),
    )
    .await;
    assert_eq!((status, err["error"].as_str()), (403, Some("access_denied")));
    let (status, err) = call(
        &f,
        reqwest::Method::POST,
        "/me/password",
        at,
        Some(json!({"current_password": "ivy's long password", "new_password": "short"})),
    )
    .await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(f.live_tokens(&sid_of(&stolen)).await, 1, "refusals change nothing");

    let (status, _) = call(
        &f,
        reqwest::Method::POST,
        "/me/password",
        at,
        Some(json!({"current_password": "ivy's long password", "new_password": "a brand new password"})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(f.live_tokens(&sid_of(&stolen)).await, 0, "the stolen session ended");
    assert_eq!(f.s.introspect(&f.rs, stolen["access_token"].as_str().expect("at")).await["active"], false);
    assert_eq!(f.live_tokens(&sid_of(&here)).await, 1, "the current session lives on");
    let res =
        f.s.token_request(
            &[("grant_type", "password"), ("username", "ivy"), ("password", "ivy's long password")],
            Some(&f.c),
        )
        .await;
    assert_eq!(res.status(), 400, "the old password is dead");
    let res =
        f.s.token_request(
            &[("grant_type", "password"), ("username", "ivy"), ("password", "a brand new password")],
            Some(&f.c),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(f.audits("password_changed").await, 1);
}
