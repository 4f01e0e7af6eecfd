//! OpenID Connect (contract §8): discovery, ID tokens from the code, refresh and password
//! grants, UserInfo, and the authorization request's `prompt`, `max_age`, `nonce`,
//! `id_token_hint` and `login_hint` — over HTTP against the real server, each ID token verified
//! against the JWKS as a relying party would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_domain::grant::GrantType::{
    AuthorizationCode as CodeGrant, ClientCredentials, Password, RefreshToken as RefreshGrant,
};
use portcullis_domain::secret::Secret;
use portcullis_e2e::authflow::{FormBrowser, pkce_pair, query_of};
use portcullis_e2e::{TestClient, TestServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::jwt::parts;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery";

/// alice, with an email, a phone and a display name.
async fn alice(s: &TestServer) -> String {
    let new = portcullis_server::ops::NewUser {
        username: "alice".into(),
        password: Some(Secret::new(PASSWORD)),
        phone: Some("+14155550100".into()),
        email: Some("alice@example.com".into()),
    };
    let id = s.app.directory().create_user(new, "test").await.expect("user").id;
    let update =
        portcullis_server::ops::ProfileEdit { display_name: Some(Some("Alice Liddell".into())), ..Default::default() };
    s.app.directory().update_profile(&id, update, "test").await.expect("display name");
    id.to_string()
}

/// Verifies an ID token as a relying party does: RS256 under the JWKS key of its `kid`, `typ`
/// JWT, `iss` the issuer, `aud` the client, unexpired. Returns its claims.
async fn verify_id_token(s: &TestServer, token: &str, client: &str) -> Value {
    let (header, _) = parts(token);
    assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("RS256"), Some("JWT")), "{header}");
    let kid = header["kid"].as_str().expect("kid");
    let (_, _, jwks) = s.get_json(portcullis_server::http::paths::JWKS).await;
    let jwk = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid).expect("kid is in the JWKS");
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().expect("a string"), jwk["e"].as_str().expect("a string"))
            .expect("an RSA key");
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[client]);
    v.set_issuer(&[s.base.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("the ID token verifies against the JWKS").claims
}

/// OpenID Connect Core §3.1.3.6.
fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
}

fn authorize_url(s: &TestServer, app: &TestClient, scope: &str, extra: &str) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let url = s.url(&format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=st8&code_challenge={challenge}&code_challenge_method=S256{extra}",
        app.id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
    ));
    (url, verifier)
}

async fn exchange(s: &TestServer, app: &TestClient, back: &str, verifier: &str) -> Value {
    exchange_on(s, app, back, verifier, Some("alices-laptop")).await
}

/// The code exchange, naming the device `device` (or none: the session is the browser's device's).
async fn exchange_on(s: &TestServer, app: &TestClient, back: &str, verifier: &str, device: Option<&str>) -> Value {
    let code = query_of(back).get("code").cloned().unwrap_or_else(|| panic!("a code: {back}"));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    form.extend(device.map(|d| ("device_id", d)));
    let res = s.token_request(&form, Some(app)).await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// A client that registered where RP-initiated logout may send the browser.
async fn notes_app(s: &TestServer, scope: &str) -> TestClient {
    s.register_spec(portcullis_domain::client::ClientSpec {
        name: "Notes".into(),
        grants: vec![CodeGrant, RefreshGrant],
        scope: scope.parse().expect("scope"),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![LOGGED_OUT.into()],
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn both_discovery_documents_agree_and_name_the_openid_endpoints() {
    let s = TestServer::start().await;
    let (status, headers, oidc) = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().expect("ascii").starts_with("application/json"));
    let (_, _, oauth) = s.get_json("/.well-known/oauth-authorization-server").await;
    for (key, value) in oauth.as_object().expect("object") {
        assert_eq!(&oidc[key], value, "{key} differs between the two documents");
    }
    assert_eq!(oidc["issuer"], s.base);
    assert_eq!(oidc["userinfo_endpoint"], s.url("/oauth2/userinfo"));
    assert_eq!(oidc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(oidc["subject_types_supported"], json!(["public"]));
    assert_eq!(oidc["response_types_supported"], json!(["code"]));
    for scope in ["openid", "profile", "email", "phone"] {
        assert!(oidc["scopes_supported"].as_array().expect("an array").contains(&json!(scope)), "{scope}");
    }
    for claim in ["sub", "auth_time", "nonce", "sid", "preferred_username", "email", "phone_number"] {
        assert!(oidc["claims_supported"].as_array().expect("an array").contains(&json!(claim)), "{claim}");
    }
}

#[tokio::test]
async fn the_code_flow_gives_an_id_token_and_a_refresh_a_fresh_one() {
    let s = TestServer::start().await;
    let app = s.app_client(&[CodeGrant, RefreshGrant], "openid profile email phone read", &[REDIRECT], false).await;
    let user = alice(&s).await;
    let (url, verifier) = authorize_url(&s, &app, "openid profile email", "&nonce=n-0S6_WzA2Mj");
    let mut browser = FormBrowser::new();
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let before = s.now().timestamp();
    let tokens = exchange(&s, &app, &back, &verifier).await;
    assert_eq!(tokens["scope"], "email openid profile");

    let id_token = tokens["id_token"].as_str().expect("an id_token with scope openid");
    let claims = verify_id_token(&s, id_token, &app.id).await;
    let (_, access) = parts(tokens["access_token"].as_str().expect("a string"));
    assert_eq!(claims["sub"], user);
    assert_eq!(claims["azp"], app.id);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "the request's nonce, unchanged");
    assert_eq!(claims["sid"], access["sid"], "sid is the access token's device session");
    assert_eq!(claims["at_hash"], at_hash(tokens["access_token"].as_str().expect("a string")));
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(auth_time <= before && before - auth_time < 60, "auth_time is the sign-in: {auth_time} vs {before}");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["email"], "alice@example.com");
    assert!(claims.get("phone_number").is_none(), "phone was not asked for: {claims}");

    // A refresh: a fresh ID token of the same session and sign-in, without the nonce.
    let res = s
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().expect("a string")),
                ("device_id", "alices-laptop"),
            ],
            Some(&app),
        )
        .await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.expect("json");
    let again = verify_id_token(&s, refreshed["id_token"].as_str().expect("a fresh id_token"), &app.id).await;
    assert_ne!(refreshed["id_token"], tokens["id_token"]);
    assert_eq!(
        (&again["sub"], &again["sid"], &again["auth_time"]),
        (&claims["sub"], &claims["sid"], &claims["auth_time"])
    );
    assert!(again.get("nonce").is_none(), "a refreshed ID token carries no nonce: {again}");
    assert_eq!(again["at_hash"], at_hash(refreshed["access_token"].as_str().expect("a string")));

    // A narrower refresh without openid: no ID token.
    let res = s
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refreshed["refresh_token"].as_str().expect("a string")),
                ("device_id", "alices-laptop"),
                ("scope", "email"),
            ],
            Some(&app),
        )
        .await;
    let narrow: Value = res.json().await.expect("json");
    assert_eq!(narrow["scope"], "email", "{narrow}");
    assert!(narrow.get("id_token").is_none(), "{narrow}");
}

#[tokio::test]
async fn userinfo_answers_the_scopes_claims_and_refuses_as_rfc_6750_says() {
    let s = TestServer::start().await;
    let app = s.client(&[Password, ClientCredentials], "openid profile email phone read").await;
    let user = alice(&s).await;
    let login = s.login(&app, "alice", PASSWORD, &[("scope", "openid phone")]).await;
    let id_claims =
        verify_id_token(&s, login["id_token"].as_str().expect("the password grant gives one"), &app.id).await;
    assert_eq!(id_claims["phone_number"], "+14155550100");
    assert!(id_claims.get("nonce").is_none() && id_claims.get("email").is_none(), "{id_claims}");
    let token = login["access_token"].as_str().expect("a string");

    let http = reqwest::Client::new();
    let get = http.get(s.url("/oauth2/userinfo")).bearer_auth(token).send().await.expect("request");
    assert_eq!(get.status(), 200);
    let info: Value = get.json().await.expect("json");
    assert_eq!(info, json!({"sub": user, "phone_number": "+14155550100"}));
    let post = http.post(s.url("/oauth2/userinfo")).bearer_auth(token).send().await.expect("request");
    assert_eq!(post.status(), 200);
    assert_eq!(post.json::<Value>().await.expect("json"), info);

    let wide = s.login(&app, "alice", PASSWORD, &[("scope", "openid profile email")]).await;
    let info: Value = http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(wide["access_token"].as_str().expect("a string"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["name"], "Alice Liddell");
    assert_eq!(info["email"], "alice@example.com");
    assert!(info["updated_at"].is_i64() && info.get("phone_number").is_none(), "{info}");

    let refusal = |res: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(res.status(), status);
        let challenge = res.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
        assert!(challenge.contains(&format!("error=\"{code}\"")), "{challenge}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"], code);
    };
    // No openid in the token: not for UserInfo, and no ID token either.
    let plain = s.login(&app, "alice", PASSWORD, &[("scope", "read")]).await;
    assert!(plain.get("id_token").is_none(), "{plain}");
    let res =
        http.get(s.url("/oauth2/userinfo")).bearer_auth(plain["access_token"].as_str().expect("a string")).send().await;
    refusal(res.expect("request"), 403, "insufficient_scope").await;
    // A client's own token, even with openid, has no user.
    let client = s.client_token(&app, Some("openid")).await;
    assert!(client.get("id_token").is_none(), "{client}");
    let res = http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(client["access_token"].as_str().expect("a string"))
        .send()
        .await;
    refusal(res.expect("request"), 403, "insufficient_scope").await;
    refusal(http.get(s.url("/oauth2/userinfo")).send().await.expect("request"), 401, "invalid_token").await;
    refusal(
        http.get(s.url("/oauth2/userinfo")).bearer_auth("nope").send().await.expect("request"),
        401,
        "invalid_token",
    )
    .await;
    // Signed out: the token is refused at once, like everywhere else.
    let out = http.post(s.url("/me/logout")).bearer_auth(token).send().await.expect("request");
    assert_eq!(out.status(), 204);
    refusal(
        http.get(s.url("/oauth2/userinfo")).bearer_auth(token).send().await.expect("request"),
        401,
        "invalid_token",
    )
    .await;
}

/// The error an authorization request was sent back with, checking its `state`.
fn error_of(location: &str) -> String {
    assert!(location.starts_with(REDIRECT), "back to the client: {location}");
    let q = query_of(location);
    assert_eq!(q.get("state").map(String::as_str), Some("st8"), "{location}");
    q.get("error").cloned().unwrap_or_else(|| panic!("an error: {location}"))
}

#[tokio::test]
async fn prompt_max_age_and_the_hints_decide_whether_a_page_is_shown() {
    let clock = std::sync::Arc::new(portcullis_domain::clock::ManualClock::from_system());
    let s = TestServer::start_with_clock(clock).await;
    let app = s.app_client(&[CodeGrant, RefreshGrant], "openid profile read", &[REDIRECT], false).await;
    alice(&s).await;
    s.user("bob", PASSWORD).await;
    let mut browser = FormBrowser::new();

    // Nobody signed in: prompt=none cannot show the login page.
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=none");
    let (status, location, _) = browser.get(&url).await;
    assert_eq!((status, error_of(&location.expect("a Location")).as_str()), (303, "login_required"));
    // Malformed OpenID parameters go back to the client as invalid_request.
    for extra in ["&prompt=none+login", "&prompt=sometimes", "&max_age=-5", "&id_token_hint=not.a.token"] {
        let (url, _) = authorize_url(&s, &app, "openid", extra);
        let (status, location, _) = browser.get(&url).await;
        assert_eq!((status, error_of(&location.expect("a Location")).as_str()), (303, "invalid_request"), "{extra}");
    }
    let (url, _) = authorize_url(&s, &app, "openid", &format!("&nonce={}", "n".repeat(513)));
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "invalid_request");

    // login_hint fills the username in.
    let (url, _) = authorize_url(&s, &app, "openid", "&login_hint=alice");
    let (status, _, body) = browser.get(&url).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"value="alice""#), "the username field holds the hint: {body}");

    // Signed in and consented: prompt=none answers with a code, no page.
    let (url, verifier) = authorize_url(&s, &app, "openid", "");
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let first = exchange(&s, &app, &back, &verifier).await;
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=none");
    let (status, location, _) = browser.get(&url).await;
    assert_eq!(status, 303);
    assert!(query_of(location.as_deref().expect("a Location")).contains_key("code"), "{location:?}");
    // A scope not yet consented to: consent_required.
    let (url, _) = authorize_url(&s, &app, "openid read", "&prompt=none");
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "consent_required");
    // prompt=consent asks again although the consent stands.
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=consent");
    let (status, _, body) = browser.get(&url).await;
    assert_eq!(status, 200);
    assert!(body.contains("Allow") && !body.contains(r#"name="password""#), "the consent page: {body}");

    // prompt=login: the login page although signed in; once signed in, a code (asked once).
    let (url, verifier) = authorize_url(&s, &app, "openid", "&prompt=login");
    let (status, _, body) = browser.get(&url).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"name="password""#), "the login page: {body}");
    s.manual_clock().advance(chrono::Duration::seconds(30));
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let relogged = exchange(&s, &app, &back, &verifier).await;
    let auth_time =
        |t: &Value| parts(t["id_token"].as_str().expect("a string")).1["auth_time"].as_i64().expect("a number");
    assert!(auth_time(&relogged) >= auth_time(&first) + 30, "a new sign-in's auth_time");

    // max_age: a sign-in older than it asks again; a younger one does not.
    s.manual_clock().advance(chrono::Duration::seconds(120));
    let (url, _) = authorize_url(&s, &app, "openid", "&max_age=60");
    let (status, _, body) = browser.get(&url).await;
    assert!(status == 200 && body.contains(r#"name="password""#), "{status} {body}");
    let (url, _) = authorize_url(&s, &app, "openid", "&max_age=60&prompt=none");
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "login_required");
    let (url, _) = authorize_url(&s, &app, "openid", "&max_age=600&prompt=none");
    assert!(query_of(&browser.get(&url).await.1.expect("a Location")).contains_key("code"));

    // id_token_hint: alice's own is fine, even expired (she signs in again: a browser login
    // lasts 10 minutes, an ID token 15); bob's is not who is signed in.
    let alices = first["id_token"].as_str().expect("a string").to_owned();
    s.manual_clock().advance(chrono::Duration::minutes(16));
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=login");
    assert!(browser.authorize(&s.base, &url, "alice", PASSWORD).await.starts_with(REDIRECT));
    let (url, _) = authorize_url(&s, &app, "openid", &format!("&prompt=none&id_token_hint={alices}"));
    assert!(
        query_of(&browser.get(&url).await.1.expect("a Location")).contains_key("code"),
        "an expired hint still names alice"
    );
    let mut bobs_browser = FormBrowser::new();
    let (url, verifier) = authorize_url(&s, &app, "openid", "");
    let back = bobs_browser.authorize(&s.base, &url, "bob", PASSWORD).await;
    let bobs = exchange(&s, &app, &back, &verifier).await;
    let (url, _) = authorize_url(
        &s,
        &app,
        "openid",
        &format!("&prompt=none&id_token_hint={}", bobs["id_token"].as_str().expect("a string")),
    );
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "login_required");
    // A hint issued to another client would tell this one who is signed in: refused.
    let other = s.app_client(&[CodeGrant], "openid", &[REDIRECT], false).await;
    let (url, _) = authorize_url(&s, &other, "openid", &format!("&prompt=none&id_token_hint={alices}"));
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "invalid_request");
    // Request objects are refused, not ignored.
    let (url, _) = authorize_url(&s, &app, "openid", "&request=eyJhbGciOiJub25lIn0.e30.");
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "request_not_supported");
    // prompt=login spelt %70rompt is read as the endpoint reads it: asked once, not forever.
    let (url, verifier) = authorize_url(&s, &app, "openid", "&%70rompt=login");
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    exchange(&s, &app, &back, &verifier).await;
    // An access token is not an ID token.
    let (url, _) = authorize_url(
        &s,
        &app,
        "openid",
        &format!("&id_token_hint={}", bobs["access_token"].as_str().expect("a string")),
    );
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "invalid_request");
}

const LOGGED_OUT: &str = "http://127.0.0.1:9/logged-out";

/// Whether `token`'s session still refreshes (`device_id` as it was issued).
async fn refreshes(s: &TestServer, app: &TestClient, tokens: &Value, device: &str) -> bool {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().expect("a refresh token")),
        ("device_id", device),
    ];
    s.token_request(&form, Some(app)).await.status() == 200
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_browser_login_and_the_sessions_it_opened() {
    let s = TestServer::start().await;
    let app = notes_app(&s, "openid profile").await;
    let other = s.app_client(&[CodeGrant, RefreshGrant], "openid", &[REDIRECT], false).await;
    alice(&s).await;
    s.user("bob", PASSWORD).await;
    let mut browser = FormBrowser::new();
    // Two apps signed in through this browser: one names its own device, one takes the browser's.
    let (url, verifier) = authorize_url(&s, &app, "openid", "");
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let notes = exchange(&s, &app, &back, &verifier).await;
    let (url, verifier) = authorize_url(&s, &other, "openid", "");
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let second = exchange_on(&s, &other, &back, &verifier, None).await;
    let second_device = second["device_id"].as_str().expect("the browser's device").to_owned();
    let hint = notes["id_token"].as_str().expect("an id_token").to_owned();
    let logout = |q: String| s.url(&format!("/oauth2/logout?{q}"));
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();

    // Refused, on an error page, never redirected: a URI the client did not register, one with
    // nobody to check it against, a hint this server did not sign, a client_id not the hint's.
    for (q, why) in [
        (
            format!("id_token_hint={hint}&post_logout_redirect_uri={}", enc("http://127.0.0.1:9/elsewhere")),
            "not registered",
        ),
        (format!("post_logout_redirect_uri={}", enc(LOGGED_OUT)), "needs client_id"),
        ("id_token_hint=a.b.c".to_owned(), "not an ID token"),
        (format!("id_token_hint={}", notes["access_token"].as_str().expect("a string")), "not an ID token"),
        (format!("id_token_hint={hint}&client_id={}", other.id), "not the audience"),
    ] {
        let (status, location, body) = browser.get(&logout(q)).await;
        assert_eq!((status, location), (400, None), "{body}");
        assert!(body.contains(why), "{why}: {body}");
    }
    assert!(refreshes(&s, &app, &notes, "alices-laptop").await, "nothing ended yet");

    // No hint: the person confirms first (a link elsewhere cannot sign them out); "stay" keeps all.
    let (status, _, page) = browser.get(&logout(format!("client_id={}", app.id))).await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign out?") && page.contains("Notes asks to sign you out."), "{page}");
    let (status, _, body) = browser
        .post(&s.url("/oauth2/logout"), &[("action", "logout"), ("csrf", "forged"), ("client_id", &app.id)])
        .await;
    assert_eq!(status, 400, "a forged confirmation: {body}");
    let csrf = portcullis_e2e::authflow::csrf_of(&page);
    let (status, _, body) = browser.post(&s.url("/oauth2/logout"), &[("action", "stay"), ("csrf", &csrf)]).await;
    assert!(status == 200 && body.contains("still signed in"), "{body}");
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=none");
    assert!(query_of(&browser.get(&url).await.1.expect("a Location")).contains_key("code"), "still signed in");

    // The hint names who is signed in: signed out at once, back to the app with its state.
    let q = format!("id_token_hint={hint}&post_logout_redirect_uri={}&state=bye", enc(LOGGED_OUT));
    let (status, location, _) = browser.get(&logout(q)).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(format!("{LOGGED_OUT}?state=bye").as_str()));
    assert!(!refreshes(&s, &app, &notes, "alices-laptop").await, "the hint's session ended");
    assert!(!refreshes(&s, &other, &second, &second_device).await, "the browser's device sessions ended");
    let http = reqwest::Client::new();
    let me = http.get(s.url("/me")).bearer_auth(notes["access_token"].as_str().expect("a string")).send().await;
    assert_eq!(me.expect("request").status(), 401, "its access token is refused at once");
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=none");
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "login_required", "the browser login ended");

    // Someone else's hint while alice is signed in: confirm, and only alice's browser signs out.
    let (url, verifier) = authorize_url(&s, &app, "openid", "");
    let back = FormBrowser::new().authorize(&s.base, &url, "bob", PASSWORD).await;
    let bobs = exchange(&s, &app, &back, &verifier).await;
    let (url, verifier) = authorize_url(&s, &other, "openid", "");
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let alices = exchange_on(&s, &other, &back, &verifier, None).await;
    let (status, _, page) =
        browser.get(&logout(format!("id_token_hint={}", bobs["id_token"].as_str().expect("a string")))).await;
    assert!(status == 200 && page.contains("Sign out?") && page.contains("Notes asks to sign you out."), "{page}");
    let csrf = portcullis_e2e::authflow::csrf_of(&page);
    let hint = bobs["id_token"].as_str().expect("a string");
    let (status, _, body) =
        browser.post(&s.url("/oauth2/logout"), &[("action", "logout"), ("csrf", &csrf), ("id_token_hint", hint)]).await;
    assert!(status == 200 && body.contains("You are signed out"), "{body}");
    assert!(!refreshes(&s, &other, &alices, &second_device).await, "alice, signed in here, is signed out");
    assert!(refreshes(&s, &app, &bobs, "alices-laptop").await, "bob's session is not this browser's to end");

    // bob's ID token, leaked and replayed from a browser that is not bob's: ends nothing.
    let hint = bobs["id_token"].as_str().expect("a string");
    let (status, _, body) = FormBrowser::new().get(&logout(format!("id_token_hint={hint}"))).await;
    assert!(status == 200 && body.contains("not signed in"), "{body}");
    assert!(refreshes(&s, &app, &bobs, "alices-laptop").await, "a leaked hint is no kill switch");

    // A deleted client's hint sends the browser nowhere, even to a URI it once registered.
    let id = portcullis_domain::ids::ClientId::parse(&app.id).expect("client id");
    s.app.control().delete_client(&id, "test").await.expect("deleted");
    let q = format!("id_token_hint={hint}&post_logout_redirect_uri={}", enc(LOGGED_OUT));
    let (status, location, body) = browser.get(&logout(q)).await;
    assert_eq!((status, location), (400, None), "{body}");
    assert!(body.contains("unknown or deleted"), "{body}");
}

/// Browser logins last ten minutes, sessions weeks: a logout after the login expired still ends
/// the sessions this browser opened, found by its device cookie and the hint.
#[tokio::test]
async fn a_logout_after_the_browser_login_expired_still_ends_this_browsers_sessions() {
    let clock = std::sync::Arc::new(portcullis_domain::clock::ManualClock::from_system());
    let s = TestServer::start_with_clock(clock).await;
    let app = notes_app(&s, "openid").await;
    alice(&s).await;
    let mut browser = FormBrowser::new();
    let (url, verifier) = authorize_url(&s, &app, "openid", "");
    let back = browser.authorize(&s.base, &url, "alice", PASSWORD).await;
    let tokens = exchange_on(&s, &app, &back, &verifier, None).await;
    let device = tokens["device_id"].as_str().expect("the browser's device").to_owned();
    s.manual_clock().advance(chrono::Duration::minutes(11));
    let (url, _) = authorize_url(&s, &app, "openid", "&prompt=none");
    assert_eq!(error_of(&browser.get(&url).await.1.expect("a Location")), "login_required", "the login expired");

    let q = format!(
        "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}&state=s1",
        tokens["id_token"].as_str().expect("an id_token"),
        url::form_urlencoded::byte_serialize(LOGGED_OUT.as_bytes()).collect::<String>()
    );
    // From another browser: nothing of alice's ends, though it goes back to the app.
    let (status, location, _) = FormBrowser::new().get(&s.url(&q)).await;
    assert_eq!((status, location.as_deref()), (303, Some(format!("{LOGGED_OUT}?state=s1").as_str())));
    assert!(refreshes(&s, &app, &tokens, &device).await);
    // From hers: her sessions on it end.
    let (status, _, _) = browser.get(&s.url(&q)).await;
    assert_eq!(status, 303);
    assert!(!refreshes(&s, &app, &tokens, &device).await, "the session this browser opened ended");
}
