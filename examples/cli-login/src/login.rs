//! The flow itself: discovery (RFC 8414), the authorization request with S256 PKCE and `state`,
//! the browser, the code exchange, `/me`.

use std::time::Duration;

use anyhow::{Context, bail};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;

use crate::callback::{Listener, Outcome};

pub struct Options {
    pub issuer: String,
    pub client_id: String,
    pub scope: Option<String>,
    pub device_id: Option<String>,
    pub port: u16,
    pub open_browser: bool,
    pub timeout: Duration,
}

/// The parts of the server's metadata (RFC 8414) this app uses.
#[derive(Deserialize)]
struct Metadata {
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

/// `GET /me`: who the token belongs to.
#[derive(Debug, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub username: String,
    pub device_id: String,
    pub scope: String,
}

pub async fn run(options: &Options) -> anyhow::Result<Me> {
    // Token requests must not follow redirects (the oauth2 crate's advice).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let metadata = discover(&http, &options.issuer).await?;
    if !metadata.code_challenge_methods_supported.iter().any(|m| m == "S256") {
        bail!("{} does not offer S256 PKCE, which a public client needs", options.issuer);
    }

    let listener = Listener::bind(options.port).await?;
    let client = BasicClient::new(ClientId::new(options.client_id.clone()))
        .set_auth_uri(AuthUrl::new(metadata.authorization_endpoint).context("authorization_endpoint")?)
        .set_token_uri(TokenUrl::new(metadata.token_endpoint).context("token_endpoint")?)
        .set_redirect_uri(RedirectUrl::new(listener.redirect_uri.clone()).context("redirect URI")?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
    for scope in options.scope.iter().flat_map(|s| s.split_whitespace()) {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, state) = request.url();

    println!("Open this page in your browser to log in:\n\n    {url}\n");
    println!("Waiting for the browser on {} …", listener.redirect_uri);
    if options.open_browser && open::that_detached(url.as_str()).is_err() {
        println!("(No browser could be started here: open the page yourself.)");
    }

    let outcome = tokio::time::timeout(options.timeout, listener.wait(state.secret().clone()))
        .await
        .with_context(|| format!("the browser did not come back within {} s", options.timeout.as_secs()))??;
    let code = match outcome {
        Outcome::Code(code) => code,
        Outcome::Refused { error, description } => {
            bail!("the server refused the login: {error}{}", description.map(|d| format!(" ({d})")).unwrap_or_default())
        }
    };

    let mut exchange = client.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(verifier);
    if let Some(device) = &options.device_id {
        exchange = exchange.add_extra_param("device_id", device.clone());
    }
    let tokens = exchange.request_async(&http).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(e) => anyhow::anyhow!(
            "the code exchange was refused: {}{}",
            e.error().as_ref(),
            e.error_description().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        other => anyhow::anyhow!("the code exchange failed: {other}"),
    })?;

    let me = format!("{}/me", options.issuer);
    let res = http.get(&me).bearer_auth(tokens.access_token().secret()).send().await.context("GET /me")?;
    if !res.status().is_success() {
        bail!("GET /me answered {}", res.status());
    }
    res.json::<Me>().await.context("GET /me: unexpected body")
}

async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Metadata> {
    let url = format!("{issuer}/.well-known/oauth-authorization-server");
    let res = http.get(&url).send().await.with_context(|| format!("cannot reach {issuer}"))?;
    if !res.status().is_success() {
        bail!("{url} answered {}", res.status());
    }
    res.json().await.with_context(|| format!("{url} is not an OAuth 2.0 metadata document"))
}
