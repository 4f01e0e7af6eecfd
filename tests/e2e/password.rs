//! `grant_type=password`: device sessions, fingerprints, refresh tokens, errors, audit.

use portcullis_domain::grant::GrantType::{ClientCredentials, Password, RefreshToken};
use portcullis_e2e::{TestClient, TestServer};
use portcullis_fingerprint::Fingerprint;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::jwt::verify_with_jwks;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

async fn setup() -> (TestServer, TestClient, String) {
    let s = TestServer::start().await;
    let c = s.client(&[Password, RefreshToken], "read write admin").await;
    let uid = s.user("alice", "correct horse battery").await;
    (s, c, uid)
}

async fn count(s: &TestServer, sql: &str) -> i64 {
    portcullis_e2e::db::scalar(s.store.connection(), sql, vec![]).await
}

#[tokio::test]
async fn login_opens_a_bound_device_session() {
    let (s, c, uid) = setup().await;
    let res = s
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "correct horse battery"),
                ("scope", "read"),
            ],
            Some(&c),
            &[("user-agent", FIREFOX)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.expect("json");
    let device_id = body["device_id"].as_str().expect("a device_id is made when none is sent");
    let refresh = body["refresh_token"].as_str().expect("refresh token");
    assert!(refresh.starts_with("pcr_") && refresh.len() >= 4 + 43, "≥256 bits");
    let claims = verify_with_jwks(&s, body["access_token"].as_str().expect("token")).await;
    assert_eq!(claims["sub"], uid);
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(claims["scope"], "read");
    assert!(claims["sid"].is_string());
    assert_eq!(claims["dfp"], Fingerprint::of_request(device_id, Some(FIREFOX)).as_str());

    // The session row: families parsed, fingerprint stored, refresh token stored only as a hash.
    let sid = claims["sid"].as_str().expect("sid");
    let db = s.store.connection();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT browser, os, device, fingerprint, device_id FROM device_sessions WHERE id = $1",
            [sid.into()],
        ))
        .await
        .expect("query")
        .expect("session row");
    assert_eq!(row.try_get_by_index::<String>(0).expect("browser"), "Firefox");
    assert_eq!(row.try_get_by_index::<String>(1).expect("os"), "Linux");
    assert_eq!(row.try_get_by_index::<String>(3).expect("fp"), claims["dfp"].as_str().expect("dfp"));
    assert_eq!(row.try_get_by_index::<String>(4).expect("device"), device_id);
    let plain = count(&s, &format!("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = '{refresh}'")).await;
    assert_eq!(plain, 0, "the refresh token is never stored in the clear");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM refresh_tokens").await, 1);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_succeeded'").await, 1);
}

#[tokio::test]
async fn device_id_is_echoed_from_form_or_header() {
    let (s, c, _) = setup().await;
    let body = s.login(&c, "alice", "correct horse battery", &[("device_id", "phone-1")]).await;
    assert_eq!(body["device_id"], "phone-1");
    // A client that may not refresh gets no refresh token, but still a device session.
    let no_refresh = s.client(&[Password], "read").await;
    let plain = s.login(&no_refresh, "alice", "correct horse battery", &[]).await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    assert!(crate::jwt::parts(plain["access_token"].as_str().expect("at")).1["sid"].is_string());
    let res = s
        .post_form(
            "/oauth2/token",
            &[("grant_type", "password"), ("username", "alice"), ("password", "correct horse battery")],
            Some(&c),
            &[("x-device-id", "laptop-2")],
        )
        .await;
    assert_eq!(res.json::<Value>().await.expect("json")["device_id"], "laptop-2");
    // No User-Agent at all (a CLI): families are Other and the device id carries the binding.
    let (_, claims) = crate::jwt::parts(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["dfp"], Fingerprint::of_request("phone-1", None).as_str());
}

#[tokio::test]
async fn user_tokens_never_carry_admin() {
    let (s, c, _) = setup().await;
    let body = s.login(&c, "alice", "correct horse battery", &[]).await;
    assert_eq!(body["scope"], "read write");
    let res = s
        .token_request(
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "correct horse battery"),
                ("scope", "admin"),
            ],
            Some(&c),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_scope");
}

#[tokio::test]
async fn public_clients_log_in_with_client_id_alone() {
    let s = TestServer::start().await;
    let public = s.public_client(&[Password, RefreshToken], "read").await;
    s.user("bob", "hunter2hunter2").await;
    let res = s
        .token_request(
            &[
                ("grant_type", "password"),
                ("client_id", &public.id),
                ("username", "bob"),
                ("password", "hunter2hunter2"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert!(body["refresh_token"].is_string());
    // A public client that sends a secret is refused.
    let res = s
        .token_request(
            &[
                ("grant_type", "password"),
                ("client_id", &public.id),
                ("client_secret", "x"),
                ("username", "bob"),
                ("password", "hunter2hunter2"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
}

async fn expect(s: &TestServer, c: Option<&TestClient>, form: &[(&str, &str)], status: u16, code: &str) -> Value {
    let res = s.token_request(form, c).await;
    assert_eq!(res.status().as_u16(), status, "{form:?}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], code, "{form:?}: {body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

#[tokio::test]
async fn errors_and_audit_of_failures() {
    let (s, c, _) = setup().await;
    let pw = ("grant_type", "password");
    let wrong =
        expect(&s, Some(&c), &[pw, ("username", "alice"), ("password", "wrong password")], 400, "invalid_grant").await;
    let unknown =
        expect(&s, Some(&c), &[pw, ("username", "mallory"), ("password", "wrong password")], 400, "invalid_grant")
            .await;
    assert_eq!(wrong, unknown, "unknown users and wrong passwords look the same");
    expect(&s, Some(&c), &[pw, ("username", "alice")], 400, "invalid_request").await;
    expect(&s, Some(&c), &[pw, ("password", "x")], 400, "invalid_request").await;
    expect(
        &s,
        Some(&c),
        &[pw, ("username", "alice"), ("password", "correct horse battery"), ("device_id", "bad id!")],
        400,
        "invalid_request",
    )
    .await;
    expect(
        &s,
        Some(&c),
        &[pw, ("username", "alice"), ("password", "correct horse battery"), ("device_id", &"d".repeat(129))],
        400,
        "invalid_request",
    )
    .await;
    expect(&s, None, &[pw, ("username", "alice"), ("password", "correct horse battery")], 401, "invalid_client").await;
    let cc_only = s.client(&[ClientCredentials], "read").await;
    expect(
        &s,
        Some(&cc_only),
        &[pw, ("username", "alice"), ("password", "correct horse battery")],
        400,
        "unauthorized_client",
    )
    .await;
    expect(
        &s,
        Some(&c),
        &[("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", "https://a.example/cb")],
        400,
        "unauthorized_client",
    )
    .await;
    expect(&s, Some(&c), &[("grant_type", "authorization_code"), ("code", "x")], 400, "invalid_request").await;

    // Failures are audited with their reason; no session or refresh token was written.
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_failed' AND detail = 'wrong_password'").await,
        1
    );
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_failed' AND detail = 'unknown_user'").await,
        1
    );
    assert_eq!(count(&s, "SELECT COUNT(*) FROM device_sessions").await, 0);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM refresh_tokens").await, 0);
}

#[tokio::test]
async fn banned_users_get_no_tokens() {
    let (s, c, uid) = setup().await;
    let db = s.store.connection();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE users SET status = 'banned', ban_reason = 'abuse' WHERE id = $1",
        [uid.into()],
    ))
    .await
    .expect("ban");
    let body = expect(
        &s,
        Some(&c),
        &[("grant_type", "password"), ("username", "alice"), ("password", "correct horse battery")],
        400,
        "invalid_grant",
    )
    .await;
    assert!(body["error_description"].as_str().expect("text").contains("banned"));
    // Someone without the password learns nothing about the ban.
    let body = expect(
        &s,
        Some(&c),
        &[("grant_type", "password"), ("username", "alice"), ("password", "guess guess")],
        400,
        "invalid_grant",
    )
    .await;
    assert!(!body["error_description"].as_str().expect("text").contains("banned"));
}
