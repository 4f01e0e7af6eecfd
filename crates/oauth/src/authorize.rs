//! The authorization endpoint (RFC 6749 §4.1.1, RFC 7636): oxide-auth-async's authorization
//! flow over our `ClientRegistrar`, a `CodeAuthorizer` and a PKCE extension; then login and
//! consent decide whether the `Pending` request is authorized, denied, or needs a page.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use oxide_auth::code_grant::authorization::{Error as FlowError, Request};
use oxide_auth_async::code_grant::authorization::{Endpoint, Extension, Pending, authorization_code};
use oxide_auth_async::primitives::{Authorizer, Registrar};
use portcullis_domain::consent::Consent;
use portcullis_domain::error::Cause;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::{ClientId, DeviceId, UserId};
use portcullis_domain::scope::Scope;
use url::Url;

use crate::codes::CodeAuthorizer;
use crate::error::OAuthError;
use crate::oidc::OidcParams;
use crate::pkce::PkceAuthorize;
use crate::registrar::ClientRegistrar;
use crate::request::MAX_PARAM_LEN;
use crate::service::TokenService;

/// Longest query string the endpoint reads.
pub const MAX_QUERY_LEN: usize = 8192;

/// An authorization request's query, parsed once and bounded. A repeated or oversized
/// parameter makes the whole request invalid (an error page: nothing in it can be trusted).
#[derive(Clone)]
pub struct AuthorizeRequest {
    params: HashMap<String, String>,
    valid: bool,
}

impl std::fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeRequest").field("client_id", &self.params.get("client_id")).finish_non_exhaustive()
    }
}

impl AuthorizeRequest {
    pub fn from_query(query: &str) -> Self {
        let mut params = HashMap::new();
        let mut valid = query.len() <= MAX_QUERY_LEN;
        if valid {
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                if v.len() > MAX_PARAM_LEN || params.insert(k.into_owned(), v.into_owned()).is_some() {
                    valid = false;
                }
            }
        }
        Self { params, valid }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The `client_id` parameter, if any (for audit events).
    pub fn client_id(&self) -> Option<&str> {
        self.get("client_id")
    }
}

impl Request for AuthorizeRequest {
    fn valid(&self) -> bool {
        self.valid
    }

    fn client_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("client_id").map(Into::into)
    }

    fn scope(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("scope").map(Into::into)
    }

    fn redirect_uri(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("redirect_uri").map(Into::into)
    }

    fn state(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("state").map(Into::into)
    }

    fn response_type(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("response_type").map(Into::into)
    }

    fn extension(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.get(key).map(Into::into)
    }
}

/// What the resource owner did on the page, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing yet (a plain GET, or right after logging in).
    None,
    Allow,
    Deny,
}

/// What the consent and login pages show.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub client_id: String,
    pub client_name: String,
    pub scope: Scope,
    /// Where the browser will be sent (its origin, shown to the user).
    pub redirect_origin: String,
    /// The client signs people up (`--signup`): the login page offers "create an account".
    pub signup: bool,
    /// OpenID Connect's `login_hint`: the username the login form starts with.
    pub login_hint: Option<String>,
}

/// The next step of an authorization request.
#[derive(Debug)]
pub enum Authorized {
    /// Send the browser back to the client (with a code, or an RFC 6749 §4.1.2.1 error).
    Redirect(Url),
    /// Show the login page.
    Login(Prompt),
    /// Show the consent page; `user` is the logged-in user.
    Consent { prompt: Prompt, user: UserId },
}

/// An authorization request that cannot be answered by redirecting: the client or its
/// redirect URI is unknown, so the error is shown to the user, never sent anywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error("{0}")]
    BadRequest(String),
    /// The cause is logged once, at the edge, and never shown.
    #[error("the server could not complete the request: {0}")]
    Server(Cause),
}

struct AuthorizeEndpoint<'s> {
    registrar: Arc<ClientRegistrar>,
    authorizer: CodeAuthorizer<'s>,
    pkce: PkceAuthorize,
}

impl Endpoint for AuthorizeEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &*self.registrar
    }

    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }

    fn extension(&mut self) -> &mut (dyn Extension + Send) {
        &mut self.pkce
    }
}

impl TokenService {
    /// Runs one authorization request for the logged-in `user` (if any: the user and when they
    /// proved their password), with the owner's `decision` from the consent page. `device`: the
    /// browser's device id (its cookie).
    pub async fn authorize(
        &self,
        req: &AuthorizeRequest,
        user: Option<&(UserId, DateTime<Utc>)>,
        decision: Decision,
        device: Option<DeviceId>,
    ) -> Result<Authorized, AuthorizeError> {
        let registrar = Arc::new(ClientRegistrar::new(
            self.deps.clients.clone(),
            self.deps.hasher.clone(),
            GrantType::AuthorizationCode,
            false,
        ));
        let mut endpoint = AuthorizeEndpoint {
            registrar: registrar.clone(),
            authorizer: CodeAuthorizer::new(self, device),
            pkce: PkceAuthorize::new(registrar.clone()),
        };
        let pending = match authorization_code(&mut endpoint, req).await {
            Ok(p) => p,
            Err(e) => return self.flow_error(e, &endpoint, req),
        };
        let Some(client) = registrar.client() else {
            return Err(AuthorizeError::Server(Cause::msg("an authenticated client was not kept")));
        };
        let requested: Scope = pending
            .pre_grant()
            .scope
            .to_string()
            .parse()
            .map_err(|e| AuthorizeError::Server(Cause::context("reading a negotiated scope", e)))?;
        // Request objects (Core §6) are not supported, as discovery says: refuse, never ignore.
        for (param, error) in [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")] {
            if req.get(param).is_some() {
                return Ok(oidc_error(&pending, req, error, "request objects are not supported"));
            }
        }
        let oidc = match OidcParams::parse(|k| req.get(k)) {
            Ok(p) => p,
            Err(why) => return Ok(oidc_error(&pending, req, "invalid_request", why)),
        };
        let hinted = match oidc.id_token_hint.as_deref().map(|h| self.hinted_subject(h, &client.id)) {
            Some(Ok(sub)) => Some(sub),
            Some(Err(why)) => return Ok(oidc_error(&pending, req, "invalid_request", why)),
            None => None,
        };
        let prompt = Prompt {
            client_id: client.id.to_string(),
            client_name: client.name.clone(),
            scope: requested.clone(),
            redirect_origin: pending.pre_grant().redirect_uri.to_url().origin().ascii_serialization(),
            signup: client.signup,
            login_hint: oidc.login_hint.clone(),
        };
        // Signed in, and recently enough, as whoever the client names: else the login page
        // (`prompt=login` is dropped from the URL the sign-in goes back to, so it asks once).
        let now = self.now();
        let signed_in = self.live_user(user).await?.filter(|(id, at)| {
            !oidc.login && !oidc.too_old(*at, now) && hinted.as_deref().is_none_or(|sub| sub == id.as_str())
        });
        let Some((user, auth_time)) = signed_in else {
            if oidc.none {
                return Ok(oidc_error(&pending, req, "login_required", "the user must sign in"));
            }
            return Ok(Authorized::Login(prompt));
        };
        match decision {
            Decision::Deny => return deny(pending).map(Authorized::Redirect),
            Decision::Allow => self.remember_consent(&user, &client.id, &requested).await?,
            Decision::None => {
                let standing = self
                    .deps
                    .browser
                    .consents
                    .find(&user, &client.id)
                    .await
                    .map_err(|e| AuthorizeError::Server(Cause::context("looking up a consent", e)))?;
                if oidc.consent || !standing.is_some_and(|c| c.covers(&requested)) {
                    if oidc.none {
                        let why = "the user must consent to this app's scope";
                        return Ok(oidc_error(&pending, req, "consent_required", why));
                    }
                    return Ok(Authorized::Consent { prompt, user });
                }
            }
        }
        endpoint.authorizer.set_owner(user.clone(), auth_time, oidc.nonce);
        match pending.authorize(&mut endpoint, user.as_str().into()).await {
            Ok(url) => Ok(Authorized::Redirect(url)),
            Err(e) => Err(AuthorizeError::Server(match endpoint.authorizer.failure.take() {
                Some(OAuthError::Server(cause)) => cause,
                _ => Cause::msg(match e {
                    FlowError::Ignore => "authorizing a consented request was ignored",
                    FlowError::Redirect(_) => "authorizing a consented request redirected with an error",
                    FlowError::PrimitiveError => "authorizing a consented request failed in a primitive",
                }),
            })),
        }
    }

    /// The `sub` of an `id_token_hint` issued to `client`, or why it is refused (another
    /// client's would let this one ask whether the browser is signed in as that token's user).
    fn hinted_subject(&self, hint: &str, client: &ClientId) -> Result<String, &'static str> {
        let ring = self.deps.issuance.keys.current();
        let claims = portcullis_tokens::verify_id_token_hint(&ring, hint, &self.deps.issuance.minter.issuer)
            .map_err(|_| "id_token_hint is not an ID token this server issued")?;
        if claims.aud != client.as_str() {
            return Err("id_token_hint was issued to another client");
        }
        Ok(claims.sub)
    }

    /// The user, if still allowed to authorize: exists, not banned, not cut off since they
    /// proved their password.
    async fn live_user(
        &self,
        user: Option<&(UserId, DateTime<Utc>)>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, AuthorizeError> {
        let Some((id, auth_time)) = user else { return Ok(None) };
        let found = self
            .deps
            .accounts
            .users
            .find(id)
            .await
            .map_err(|e| AuthorizeError::Server(Cause::context("looking up a user", e)))?;
        Ok(found.filter(|u| u.may_open_session(*auth_time)).map(|u| (u.id, *auth_time)))
    }

    async fn remember_consent(&self, user: &UserId, client: &ClientId, scope: &Scope) -> Result<(), AuthorizeError> {
        let fail =
            |e: portcullis_domain::ports::StoreError| AuthorizeError::Server(Cause::context("saving a consent", e));
        let earlier = self.deps.browser.consents.find(user, client).await.map_err(fail)?;
        let merged = match earlier {
            Some(c) => format!("{} {}", c.scope, scope).parse().unwrap_or_else(|_| scope.clone()),
            None => scope.clone(),
        };
        let consent =
            Consent { user_id: user.clone(), client_id: client.clone(), scope: merged, granted_at: self.now() };
        self.deps.browser.consents.save(&consent).await.map_err(fail)
    }

    /// Maps a refusal of oxide-auth's flow: a redirect carries our precise description; an
    /// ignored request (unknown client, unregistered redirect URI) becomes an error page.
    fn flow_error(
        &self,
        e: FlowError,
        endpoint: &AuthorizeEndpoint<'_>,
        req: &AuthorizeRequest,
    ) -> Result<Authorized, AuthorizeError> {
        let recorded = endpoint.registrar.take_failure();
        match e {
            FlowError::Redirect(mut url) => {
                let pkce = endpoint.pkce.take_failure();
                let why = pkce.or_else(|| recorded.map(|r| r.description().to_owned()));
                if let Some(why) = why {
                    url.description().explain(why);
                }
                Ok(Authorized::Redirect(rfc_error_url(url.into())))
            }
            FlowError::Ignore => match (recorded, endpoint.registrar.verified_redirect()) {
                // The redirect URI is registered: RFC 6749 §4.1.2.1 says tell the client there.
                (Some(OAuthError::UnauthorizedClient(why)), Some(mut url)) => {
                    url.query_pairs_mut()
                        .append_pair("error", "unauthorized_client")
                        .append_pair("error_description", &why)
                        .extend_pairs(req.get("state").map(|s| ("state", s)));
                    Ok(Authorized::Redirect(url))
                }
                (Some(OAuthError::Server(cause)), _) => Err(AuthorizeError::Server(cause)),
                (Some(e), _) => Err(AuthorizeError::BadRequest(e.description().to_owned())),
                (None, _) if !req.valid => Err(AuthorizeError::BadRequest(
                    "the request is malformed: a parameter is repeated or too long".into(),
                )),
                (None, _) => {
                    Err(AuthorizeError::BadRequest("client_id is missing or redirect_uri is malformed".into()))
                }
            },
            FlowError::PrimitiveError => {
                Err(AuthorizeError::Server(Cause::msg("the authorization flow failed in a primitive")))
            }
        }
    }
}

/// An OpenID Connect refusal sent back to the client (Core §3.1.2.6), with the request's
/// `state`: the client and its redirect URI are known by now.
fn oidc_error(pending: &Pending, req: &AuthorizeRequest, error: &str, why: &str) -> Authorized {
    let mut url = pending.pre_grant().redirect_uri.to_url();
    url.query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_description", why)
        .extend_pairs(req.get("state").map(|s| ("state", s)));
    Authorized::Redirect(url)
}

fn deny(pending: Pending) -> Result<Url, AuthorizeError> {
    match pending.deny() {
        Ok(url) => Ok(url),
        Err(FlowError::Redirect(mut url)) => {
            url.description().explain("the user denied the request");
            Ok(rfc_error_url(url.into()))
        }
        Err(_) => Err(AuthorizeError::Server(Cause::msg("denying a request did not redirect"))),
    }
}

/// oxide-auth names the error parameters `description` and `uri`; RFC 6749 §4.1.2.1 says
/// `error_description` and `error_uri`. Renames them, keeping every other parameter in order.
fn rfc_error_url(mut url: Url) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let k = match k.as_ref() {
                "description" => "error_description".to_owned(),
                "uri" => "error_uri".to_owned(),
                _ => k.into_owned(),
            };
            (k, v.into_owned())
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_parameters_take_their_rfc_names() {
        let url = Url::parse("https://app.example/cb?x=1&state=s&error=access_denied&description=no").unwrap();
        assert_eq!(
            rfc_error_url(url).as_str(),
            "https://app.example/cb?x=1&state=s&error=access_denied&error_description=no"
        );
    }

    #[test]
    fn repeated_or_oversized_parameters_invalidate_the_request() {
        assert!(AuthorizeRequest::from_query("client_id=a&state=1").valid);
        assert!(!AuthorizeRequest::from_query("client_id=a&client_id=b").valid);
        assert!(!AuthorizeRequest::from_query(&format!("state={}", "x".repeat(MAX_PARAM_LEN + 1))).valid);
    }
}
