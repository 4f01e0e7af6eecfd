//! `GET /oauth2/authorize` and `grant_type=authorization_code`: PKCE, login and consent pages,
//! redirect errors, code replay, consent withdrawal.

use portcullis_domain::grant::GrantType::{AuthorizationCode, RefreshToken};
use portcullis_e2e::authflow::{CHROME_UA, FormBrowser, csrf_of, pkce_pair, query_of};
use portcullis_e2e::{TestClient, TestServer};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn setup(public: bool) -> (TestServer, TestClient) {
    let s = TestServer::start().await;
    let c = s.app_client(&[AuthorizationCode, RefreshToken], "read write", &[REDIRECT], public).await;
    s.user("alice", "correct horse battery").await;
    (s, c)
}

fn authorize_url(s: &TestServer, client: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", client).append_pair("redirect_uri", REDIRECT);
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    s.url(&format!("/oauth2/authorize?{}", q.finish()))
}

async fn exchange(s: &TestServer, c: &TestClient, code: &str, verifier: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", c.id.as_str()),
    ];
    if let Some(secret) = &c.secret {
        form.push(("client_secret", secret));
    }
    form.extend_from_slice(extra);
    let res = s.post_form("/oauth2/token", &form, None, &[("user-agent", CHROME_UA)]).await;
    (res.status().as_u16(), res.json().await.expect("json"))
}

#[tokio::test]
async fn public_client_logs_in_consents_exchanges_and_refreshes() {
    let (s, c) = setup(true).await;
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(
        &s,
        &c.id,
        &[("scope", "read"), ("state", "xyz 1"), ("code_challenge", &challenge), ("code_challenge_method", "S256")],
    );
    let mut browser = FormBrowser::new();

    // The login page: accessible form, CSRF field, cookies with the right attributes.
    let (status, _, page) = browser.get(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<html lang="en">"#) && page.contains(r#"<label for="password">"#));
    assert!(browser.cookies.contains_key("portcullis_csrf"));

    // A wrong password re-shows the page with the error, and no login cookie.
    let csrf = csrf_of(&page);
    let (status, _, page) =
        browser.post(&url, &[("csrf", &csrf), ("action", "login"), ("username", "alice"), ("password", "nope")]).await;
    assert_eq!(status, 401);
    assert!(page.contains("wrong username or password"));
    assert!(!browser.cookies.contains_key("portcullis_login"));

    let back = browser.authorize(&s.base, &url, "alice", "correct horse battery").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let q = query_of(&back);
    assert_eq!(q["state"], "xyz 1");
    let code = &q["code"];
    assert!(code.starts_with("pcc_"));
    let device = browser.cookies["portcullis_device"].clone();

    // The code, stored only as a hash.
    let stored: i64 = portcullis_e2e::db::scalar(
        s.store.connection(),
        &format!("SELECT COUNT(*) FROM authorization_codes WHERE code_hash = '{code}'"),
        vec![],
    )
    .await;
    assert_eq!(stored, 0);

    let (status, body) = exchange(&s, &c, code, &verifier, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    assert_eq!(body["device_id"], device.as_str(), "the browser's device id by default");
    let me = s.me(body["access_token"].as_str().expect("token")).await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["client_id"], c.id);

    // The refresh token of a public client is bound and rotating.
    let refresh = body["refresh_token"].as_str().expect("refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("device_id", device.as_str()),
        ("client_id", c.id.as_str()),
    ];
    let res = s.post_form("/oauth2/token", &form, None, &[("user-agent", CHROME_UA)]).await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.expect("json");
    assert_ne!(rotated["refresh_token"], body["refresh_token"]);
    let res = s.post_form("/oauth2/token", &form, None, &[("user-agent", "curl/8.0")]).await;
    assert_eq!(res.status(), 400, "another fingerprint is refused");

    // Consent is remembered: the next authorization redirects at once.
    let (verifier2, challenge2) = pkce_pair();
    let url = authorize_url(
        &s,
        &c.id,
        &[("scope", "read"), ("code_challenge", &challenge2), ("code_challenge_method", "S256")],
    );
    let (status, location, _) = browser.get(&url).await;
    assert_eq!(status, 303);
    let code2 = query_of(&location.expect("location"))["code"].clone();
    assert_eq!(exchange(&s, &c, &code2, &verifier2, &[]).await.0, 200);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_session() {
    let (s, c) = setup(true).await;
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(&s, &c.id, &[("code_challenge", &challenge), ("code_challenge_method", "S256")]);
    let back = FormBrowser::new().authorize(&s.base, &url, "alice", "correct horse battery").await;
    let code = query_of(&back)["code"].clone();
    let (status, first) = exchange(&s, &c, &code, &verifier, &[]).await;
    assert_eq!(status, 200);
    let (status, second) = exchange(&s, &c, &code, &verifier, &[]).await;
    assert_eq!((status, second["error"].as_str()), (400, Some("invalid_grant")));
    let res =
        s.http.get(s.url("/me")).bearer_auth(first["access_token"].as_str().expect("token")).send().await.expect("me");
    assert_eq!(res.status(), 401, "the session issued from the code is revoked");
}

#[tokio::test]
async fn pkce_rules() {
    let (s, c) = setup(true).await;
    let mut browser = FormBrowser::new();
    // A public client without PKCE, and `plain`: redirected back with invalid_request and state.
    for extra in [vec![], vec![("code_challenge", "x".repeat(43)), ("code_challenge_method", "plain".to_owned())]] {
        let mut params: Vec<(&str, &str)> = vec![("state", "s1")];
        params.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let (status, location, _) = browser.get(&authorize_url(&s, &c.id, &params)).await;
        assert_eq!(status, 303);
        let q = query_of(&location.expect("location"));
        assert_eq!(q["error"], "invalid_request");
        assert_eq!(q["state"], "s1");
        assert!(q["error_description"].contains("S256") || q["error_description"].contains("PKCE"), "{q:?}");
    }
    // A wrong verifier is invalid_grant (and spends the code).
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&s, &c.id, &[("code_challenge", &challenge), ("code_challenge_method", "S256")]);
    let back = browser.authorize(&s.base, &url, "alice", "correct horse battery").await;
    let code = query_of(&back)["code"].clone();
    let (other, _) = pkce_pair();
    let (status, body) = exchange(&s, &c, &code, &other, &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn confidential_client_without_pkce_and_errors() {
    let s = TestServer::start().await;
    let c = s.app_client(&[AuthorizationCode], "read", &[REDIRECT], false).await;
    s.user("alice", "correct horse battery").await;
    let mut browser = FormBrowser::new();

    // Unknown client and unregistered redirect URI: an HTML page, never a redirect.
    for url in [
        authorize_url(&s, "nobody", &[]),
        s.url(&format!("/oauth2/authorize?response_type=code&client_id={}&redirect_uri=http://evil.example/cb", c.id)),
    ] {
        let (status, location, body) = browser.get(&url).await;
        assert_eq!((status, location), (400, None));
        assert!(body.contains("cannot continue"));
    }
    // Errors the client can be told of go back to it.
    let (status, location, _) = browser.get(&authorize_url(&s, &c.id, &[("scope", "admin"), ("state", "q")])).await;
    assert_eq!(status, 303);
    assert_eq!(query_of(&location.expect("location"))["error"], "invalid_scope");
    let url = s.url(&format!("/oauth2/authorize?response_type=token&client_id={}&redirect_uri={REDIRECT}", c.id));
    let (_, location, _) = browser.get(&url).await;
    assert_eq!(query_of(&location.expect("location"))["error"], "unsupported_response_type");

    // A form without the CSRF token is refused.
    let url = authorize_url(&s, &c.id, &[]);
    browser.get(&url).await;
    let (status, _, _) =
        browser.post(&url, &[("action", "login"), ("username", "alice"), ("password", "correct horse battery")]).await;
    assert_eq!(status, 400);

    // Deny: access_denied back at the client.
    let (_, _, page) = browser.get(&url).await;
    let csrf = csrf_of(&page);
    let (status, _, _) = browser
        .post(
            &url,
            &[("csrf", &csrf), ("action", "login"), ("username", "alice"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, page) = browser.get(&url).await;
    let (status, location, _) = browser.post(&url, &[("csrf", &csrf_of(&page)), ("action", "deny")]).await;
    assert_eq!(status, 303);
    assert_eq!(query_of(&location.expect("location"))["error"], "access_denied");

    // Confidential client without PKCE: code works with the secret, not without it.
    let back = browser.authorize(&s.base, &url, "alice", "correct horse battery").await;
    let code = query_of(&back)["code"].clone();
    let res = s
        .post_form(
            "/oauth2/token",
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", &c.id)],
            None,
            &[],
        )
        .await;
    assert_eq!(res.status(), 401);
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let res = s.token_request(&form, Some(&c)).await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_null(), "this client may not refresh");
}

#[tokio::test]
async fn withdrawing_consent_ends_the_clients_sessions() {
    let (s, c) = setup(true).await;
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(&s, &c.id, &[("code_challenge", &challenge), ("code_challenge_method", "S256")]);
    let back = FormBrowser::new().authorize(&s.base, &url, "alice", "correct horse battery").await;
    let (_, body) = exchange(&s, &c, &query_of(&back)["code"], &verifier, &[]).await;
    let token = body["access_token"].as_str().expect("token");

    let res = s.http.get(s.url("/me/consents")).bearer_auth(token).send().await.expect("list");
    let list: Value = res.json().await.expect("json");
    assert_eq!(list["consents"][0]["client_id"], c.id);
    assert_eq!(list["consents"][0]["scope"], "read write");

    let res = s.http.delete(s.url(&format!("/me/consents/{}", c.id))).bearer_auth(token).send().await.expect("del");
    assert_eq!(res.status(), 204);
    let res = s.http.get(s.url("/me")).bearer_auth(token).send().await.expect("me");
    assert_eq!(res.status(), 401, "the client's session ended with the consent");
    let withdrawn = portcullis_e2e::db::scalar(
        s.store.connection(),
        "SELECT COUNT(*) FROM revocation_events WHERE reason = 'consent_withdrawn'",
        vec![],
    )
    .await;
    assert_eq!(withdrawn, 1, "the revocation reaches the log and the feed");
}
