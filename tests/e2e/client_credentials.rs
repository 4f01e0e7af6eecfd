//! `grant_type=client_credentials`: tokens and every RFC 6749 §5.2 error it can produce.

use portcullis_domain::grant::GrantType::{ClientCredentials, Password};
use portcullis_e2e::{TestClient, TestServer};
use serde_json::Value;

use crate::jwt::{parts, verify_with_jwks};

#[tokio::test]
async fn basic_auth_issues_a_verifiable_rfc9068_token() {
    let s = TestServer::start().await;
    let c = s.client(&[ClientCredentials], "read write").await;
    let res = s.token_request(&[("grant_type", "client_credentials"), ("scope", "read")], Some(&c)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none(), "client_credentials never gets a refresh token");
    assert!(body.get("device_id").is_none());
    let token = body["access_token"].as_str().expect("token");
    let claims = verify_with_jwks(&s, token).await;
    assert_eq!(claims["sub"], c.id);
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), 900);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims.get("sid").is_none() && claims.get("dfp").is_none());
    let (header, _) = parts(token);
    assert_eq!(header["kid"], portcullis_e2e::keys::test_key().kid);
}

#[tokio::test]
async fn body_credentials_work_and_jti_is_unique() {
    let s = TestServer::start().await;
    let c = s.client(&[ClientCredentials], "read write").await;
    let secret = c.secret.clone().expect("secret");
    let mut jtis = std::collections::HashSet::new();
    for _ in 0..5 {
        let res = s
            .token_request(
                &[("grant_type", "client_credentials"), ("client_id", &c.id), ("client_secret", &secret)],
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["scope"], "read write", "no scope asked: the client's whole scope");
        let (_, claims) = parts(body["access_token"].as_str().expect("token"));
        assert!(jtis.insert(claims["jti"].as_str().expect("jti").to_owned()));
    }
}

#[tokio::test]
async fn admin_scope_is_granted_to_admin_clients() {
    let s = TestServer::start().await;
    let c = s.client(&[ClientCredentials], "admin").await;
    let body = s.client_token(&c, Some("admin")).await;
    assert_eq!(body["scope"], "admin");
}

/// Sends `form` (with optional Basic auth) and checks status, error code and description.
async fn expect_error(
    s: &TestServer,
    form: &[(&str, &str)],
    basic: Option<&TestClient>,
    status: u16,
    code: &str,
) -> reqwest::header::HeaderMap {
    let res = s.token_request(form, basic).await;
    assert_eq!(res.status().as_u16(), status, "form {form:?}");
    let headers = res.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = res.json().await.expect("json error body");
    assert_eq!(body["error"], code, "form {form:?}: {body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    headers
}

#[tokio::test]
async fn errors_follow_rfc6749_section_5_2() {
    let s = TestServer::start().await;
    let c = s.client(&[ClientCredentials], "read").await;
    let secret = c.secret.clone().expect("secret");
    let wrong = TestClient { id: c.id.clone(), secret: Some("pcs_wrong".into()) };
    let unknown = TestClient { id: "pc_nobody".into(), secret: Some("x".into()) };
    let cc = ("grant_type", "client_credentials");

    // invalid_client with Basic: 401 and a Basic challenge.
    let h = expect_error(&s, &[cc], Some(&wrong), 401, "invalid_client").await;
    assert!(h["www-authenticate"].to_str().expect("ascii").starts_with("Basic"));
    expect_error(&s, &[cc], Some(&unknown), 401, "invalid_client").await;
    // invalid_client in the body: 401 without a challenge.
    let h = expect_error(&s, &[cc, ("client_id", &c.id), ("client_secret", "nope")], None, 401, "invalid_client").await;
    assert!(h.get("www-authenticate").is_none());
    expect_error(&s, &[cc], None, 401, "invalid_client").await;
    expect_error(&s, &[cc, ("client_id", &c.id)], None, 401, "invalid_client").await;
    // invalid_request: two methods at once, secret without id, repeated parameters.
    expect_error(&s, &[cc, ("client_secret", &secret)], Some(&c), 400, "invalid_request").await;
    expect_error(&s, &[cc, ("client_secret", &secret)], None, 400, "invalid_request").await;
    expect_error(&s, &[cc, cc], Some(&c), 400, "invalid_request").await;
    expect_error(&s, &[("scope", "read")], Some(&c), 400, "invalid_request").await;
    // unsupported_grant_type.
    expect_error(&s, &[("grant_type", "implicit")], Some(&c), 400, "unsupported_grant_type").await;
    expect_error(
        &s,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
        Some(&c),
        400,
        "unsupported_grant_type",
    )
    .await;
    // invalid_scope: not registered, or malformed.
    expect_error(&s, &[cc, ("scope", "write")], Some(&c), 400, "invalid_scope").await;
    expect_error(&s, &[cc, ("scope", "read\"quote")], Some(&c), 400, "invalid_scope").await;
    // unauthorized_client: a client without the grant.
    let pw_only = s.client(&[Password], "read").await;
    expect_error(&s, &[cc], Some(&pw_only), 400, "unauthorized_client").await;
    // A public client cannot use client_credentials at all.
    let public = s.public_client(&[Password], "").await;
    expect_error(&s, &[cc, ("client_id", &public.id)], None, 401, "invalid_client").await;
}

#[tokio::test]
async fn malformed_bodies_are_client_errors_not_500() {
    let s = TestServer::start().await;
    let c = s.client(&[ClientCredentials], "").await;
    let url = s.url("/oauth2/token");
    let json = s
        .http
        .post(&url)
        .basic_auth(&c.id, c.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("send");
    assert_eq!(json.status(), 400);
    assert_eq!(json.json::<Value>().await.expect("json")["error"], "invalid_request");
    let huge = "x".repeat(64 * 1024);
    let big = s
        .http
        .post(&url)
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "client_credentials"), ("scope", huge.as_str())])
        .send()
        .await
        .expect("send");
    assert!(big.status().is_client_error(), "{}", big.status());
    let long_param = "y".repeat(5000);
    let res = s.token_request(&[("grant_type", "client_credentials"), ("scope", &long_param)], Some(&c)).await;
    assert_eq!(res.status(), 400);
    let bad_basic = s
        .http
        .post(&url)
        .header("authorization", "Basic !!!notbase64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(bad_basic.status(), 401);
    assert_eq!(bad_basic.json::<Value>().await.expect("json")["error"], "invalid_client");
    let get = s.http.get(&url).send().await.expect("send");
    assert_eq!(get.status(), 405);
}
