//! Real OpenID Connect relying parties log in: node's `openid-client` (npm) and Python's
//! `Authlib` (PyPI), unmodified, discover the server, run the code flow with PKCE, state and
//! nonce, validate the id_token against the JWKS themselves, read UserInfo and refresh — what a
//! third-party app does (see `portcullis_e2e::rp`; the login and consent pages are walked by a
//! form-posting browser). Needs node and npm, and python3: with `PORTCULLIS_TEST_RELYING_PARTIES`
//! set (CI) a missing one fails the test; unset, it says NOT RUN.

use portcullis_domain::grant::GrantType::{AuthorizationCode as CodeGrant, RefreshToken as RefreshGrant};
use portcullis_e2e::TestServer;
use portcullis_e2e::rp::{Rp, RpLogin, run_relying_party};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Logs alice in through `kind` and checks what the library reports back.
async fn logs_in_validates_reads_userinfo_and_refreshes(kind: Rp, device_id: &str) {
    let s = TestServer::start().await;
    let app = s.app_client(&[CodeGrant, RefreshGrant], "openid profile email phone read", &[REDIRECT], false).await;
    let secret = app.secret.clone().expect("a confidential client has a secret");
    let user = s.user("alice", "correct horse battery").await;

    let Some(result) = run_relying_party(
        kind,
        &RpLogin {
            issuer: &s.base,
            client_id: &app.id,
            client_secret: &secret,
            redirect_uri: REDIRECT,
            scope: "openid profile email phone",
            device_id,
            username: "alice",
            password: "correct horse battery",
        },
    )
    .await
    else {
        return;
    };

    // The library validated the id_token (signature, iss, aud, exp, nonce) before reporting it.
    let claims = &result["id_token_claims"];
    assert_eq!(claims["sub"], user, "{result}");
    assert_eq!(claims["iss"], s.base, "{result}");
    let aud_has_client = match &claims["aud"] {
        Value::String(aud) => *aud == app.id,
        Value::Array(auds) => auds.iter().any(|a| *a == app.id),
        _ => false,
    };
    assert!(aud_has_client, "aud names the client: {result}");
    for claim in ["sid", "nonce", "auth_time"] {
        assert!(claims.get(claim).is_some_and(|c| !c.is_null()), "the id_token has {claim}: {result}");
    }

    let userinfo = &result["userinfo"];
    assert_eq!(userinfo["sub"], claims["sub"], "{result}");
    assert_eq!(userinfo["preferred_username"], "alice", "{result}");

    // The refresh: a new refresh token and a fresh id_token, of the same user and session.
    let refreshed = &result["refreshed_id_token_claims"];
    assert_eq!(refreshed["sub"], claims["sub"], "{result}");
    assert_eq!(refreshed["sid"], claims["sid"], "{result}");
    assert_eq!(result["refresh_rotated"], true, "{result}");

    let scope = result["scope"].as_str().expect("the token response names its scope");
    assert!(scope.split_whitespace().any(|w| w == "openid"), "{result}");
    assert!(result["token_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")), "{result}");
}

#[tokio::test]
async fn openid_client_from_npm_logs_in_validates_the_id_token_reads_userinfo_and_refreshes() {
    logs_in_validates_reads_userinfo_and_refreshes(Rp::OpenidClient, "alices-node-app").await;
}

#[tokio::test]
async fn authlib_logs_in_validates_the_id_token_reads_userinfo_and_refreshes() {
    logs_in_validates_reads_userinfo_and_refreshes(Rp::Authlib, "alices-python-app").await;
}
