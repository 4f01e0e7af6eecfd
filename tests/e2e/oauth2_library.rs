//! A standard client library completes the authorization-code flow: the Rust `oauth2` crate
//! builds the authorization URL with S256 PKCE, exchanges the code and refreshes, exactly as a
//! third-party app would (the login and consent pages are walked by a form-posting browser).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope,
    TokenResponse, TokenUrl,
};
use portcullis_domain::grant::GrantType::{AuthorizationCode as CodeGrant, RefreshToken as RefreshGrant};
use portcullis_e2e::TestServer;
use portcullis_e2e::authflow::{FormBrowser, query_of};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
async fn the_oauth2_crate_logs_in_with_pkce_exchanges_and_refreshes() {
    let s = TestServer::start().await;
    let app = s.app_client(&[CodeGrant, RefreshGrant], "read write", &[REDIRECT], true).await;
    s.user("alice", "correct horse battery").await;

    let client = BasicClient::new(ClientId::new(app.id.clone()))
        .set_auth_uri(AuthUrl::new(s.url("/oauth2/authorize")).expect("auth url"))
        .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).expect("token url"))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect url"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = FormBrowser::new();
    let back = browser.authorize(&s.base, url.as_str(), "alice", "correct horse battery").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let query = query_of(&back);
    assert_eq!(query.get("state"), Some(state.secret()), "state comes back unchanged");

    // As the oauth2 docs advise: no redirects followed by the token client.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http");
    let tokens = client
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .set_pkce_verifier(verifier)
        .add_extra_param("device_id", "alices-cli")
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");
    assert_eq!(tokens.scopes().map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()), Some(vec!["read".into()]));
    let me = s.me(tokens.access_token().secret()).await;
    assert_eq!(me["username"], "alice");

    let first = tokens.refresh_token().expect("a refresh token").secret().clone();
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(first.clone()))
        .add_extra_param("device_id", "alices-cli")
        .request_async(&http)
        .await
        .expect("the refresh succeeds");
    let second = refreshed.refresh_token().expect("a rotated refresh token").secret().clone();
    assert_ne!(second, first, "the refresh token rotates");
    s.me(refreshed.access_token().secret()).await;

    // Within the reuse grace the same device presenting the used token again is a retry: it
    // rotates again and the earlier successor dies. The library surfaces the RFC error for it.
    let used = RefreshToken::new(first);
    let retry = client.exchange_refresh_token(&used).add_extra_param("device_id", "alices-cli");
    retry.request_async(&http).await.expect("a retry within the grace window rotates again");
    let superseded = RefreshToken::new(second);
    let stale = client.exchange_refresh_token(&superseded).add_extra_param("device_id", "alices-cli");
    match stale.request_async(&http).await {
        Err(oauth2::RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error().as_ref(), "invalid_grant");
            assert!(e.error_description().is_some_and(|d| !d.is_empty()));
        }
        other => panic!("a superseded refresh token must be invalid_grant: {other:?}"),
    }
}
