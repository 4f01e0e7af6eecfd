//! `ClientRegistrar`: oxide-auth's `Registrar` over `ClientRepo`.
//!
//! One instance serves one request: it caches the client it looked up and records why it
//! refused, so that the grant can answer with the exact RFC 6749 error.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use oxide_auth::primitives::registrar::{BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, RegistrarError};
use oxide_auth::primitives::scope::Scope as OxideScope;
use oxide_auth_async::primitives::Registrar;
use portcullis_domain::client::Client;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::ClientId;
use portcullis_domain::ports::ClientRepo;
use portcullis_domain::scope::{ADMIN_SCOPE, Scope};
use portcullis_domain::secret::SecretHasher;

use crate::error::OAuthError;

/// Stand-in redirect URI for grants that have none (oxide-auth's types require one).
const NO_REDIRECT: &str = "urn:portcullis:no-redirect";

pub struct ClientRegistrar {
    clients: Arc<dyn ClientRepo>,
    hasher: SecretHasher,
    grant: GrantType,
    basic: bool,
    client: Mutex<Option<Client>>,
    failure: Mutex<Option<OAuthError>>,
    /// A redirect URI found registered for the client (authorization code only).
    redirect: Mutex<Option<url::Url>>,
}

impl ClientRegistrar {
    /// A registrar serving one request for `grant`; `basic` says whether the client used Basic.
    pub fn new(clients: Arc<dyn ClientRepo>, hasher: SecretHasher, grant: GrantType, basic: bool) -> Self {
        Self {
            clients,
            hasher,
            grant,
            basic,
            client: Mutex::new(None),
            failure: Mutex::new(None),
            redirect: Mutex::new(None),
        }
    }

    /// Why the registrar refused, if it did.
    pub fn take_failure(&self) -> Option<OAuthError> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The client, once `check` or `bound_redirect` has found it.
    pub fn client(&self) -> Option<Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The redirect URI checked against the client's registration, once `bound_redirect` has.
    /// Errors may be sent there; never anywhere else.
    pub fn verified_redirect(&self) -> Option<url::Url> {
        self.redirect.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// RFC 6749 §3.1.2.3: the redirect URI must equal one registered, character for character
    /// (save a loopback port, see [`redirect_matches`]); it may be left out only when the client
    /// registered exactly one.
    fn registered_redirect(&self, client: &Client, given: Option<&ExactUrl>) -> Result<ExactUrl, RegistrarError> {
        let chosen = match given {
            Some(uri) if client.redirect_uris.iter().any(|r| redirect_matches(r, uri.as_str())) => uri.clone(),
            Some(_) => {
                return Err(self.fail(OAuthError::invalid_request("redirect_uri is not registered for this client")));
            }
            None => match client.redirect_uris.as_slice() {
                [only] => {
                    only.parse().map_err(|e| self.fail(OAuthError::server("reading a registered redirect URI", e)))?
                }
                _ => {
                    return Err(self.fail(OAuthError::invalid_request(
                        "redirect_uri is required: this client registered none or several",
                    )));
                }
            },
        };
        *self.redirect.lock().unwrap_or_else(|e| e.into_inner()) = Some(chosen.to_url());
        Ok(chosen)
    }

    fn fail(&self, e: OAuthError) -> RegistrarError {
        let primitive = matches!(e, OAuthError::Server(_));
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        if primitive { RegistrarError::PrimitiveError } else { RegistrarError::Unspecified }
    }

    fn unknown_client(&self) -> RegistrarError {
        self.fail(OAuthError::invalid_client("unknown client or wrong client credentials", self.basic))
    }

    async fn lookup(&self, client_id: &str) -> Result<Client, RegistrarError> {
        if let Some(c) = self.client().filter(|c| c.id.as_str() == client_id) {
            return Ok(c);
        }
        let Ok(id) = ClientId::parse(client_id) else { return Err(self.unknown_client()) };
        match self.clients.find(&id).await {
            Ok(Some(c)) => {
                *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
                Ok(c)
            }
            Ok(None) => Err(self.unknown_client()),
            Err(e) => Err(self.fail(OAuthError::server("looking up a client", e))),
        }
    }

    /// The scopes this grant may hand out for `client`: user grants never carry `admin`.
    fn grantable(&self, client: &Client) -> Scope {
        match self.grant {
            GrantType::ClientCredentials => client.scope.clone(),
            _ => client.scope.without(ADMIN_SCOPE),
        }
    }
}

/// Whether `given` is the registered redirect URI `registered`: equal character for character, or,
/// for a loopback IP literal over http, equal in all but the port. RFC 8252 §7.3: a native app
/// listens on whatever port the OS gives it, so the server "MUST allow any port to be specified
/// at the time of the request for loopback IP redirect URIs". `localhost` gets no such leeway
/// (RFC 8252 §8.3: it may resolve elsewhere).
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(mut registered), Ok(mut given)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
                Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
                _ => false,
            }
    };
    if !loopback(&registered) || !loopback(&given) || given.username() != "" || given.password().is_some() {
        return false;
    }
    // Both parsed from strings that differ only in the port (or not at all): compare the rest.
    let _ = registered.set_port(None);
    let _ = given.set_port(None);
    registered.as_str() == given.as_str()
}

#[async_trait]
impl Registrar for ClientRegistrar {
    async fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self.lookup(&bound.client_id).await?;
        let exact = match self.grant {
            GrantType::AuthorizationCode => Some(self.registered_redirect(&client, bound.redirect_uri.as_deref())?),
            _ => None,
        };
        if !client.allows(self.grant) {
            return Err(self.fail(OAuthError::UnauthorizedClient(
                format!("this client may not use the {} grant", self.grant).into(),
            )));
        }
        let uri = match exact.or(bound.redirect_uri.map(|u| u.into_owned())) {
            Some(exact) => RegisteredUrl::Exact(exact),
            None => RegisteredUrl::Semantic(
                url::Url::parse(NO_REDIRECT)
                    .map_err(|e| self.fail(OAuthError::server("parsing the no-redirect URI", e)))?,
            ),
        };
        Ok(BoundClient { client_id: bound.client_id, redirect_uri: Cow::Owned(uri) })
    }

    async fn negotiate<'a>(
        &self,
        bound: BoundClient<'a>,
        scope: Option<OxideScope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = self.lookup(&bound.client_id).await?;
        let grantable = self.grantable(&client);
        let granted = match scope {
            None => grantable,
            Some(requested) => {
                let requested: Scope =
                    requested.to_string().parse().map_err(|e: portcullis_domain::scope::ScopeError| {
                        self.fail(OAuthError::InvalidScope(e.to_string().into()))
                    })?;
                let refused: Vec<&str> = requested.difference(&grantable).collect();
                if !refused.is_empty() {
                    return Err(self.fail(OAuthError::InvalidScope(
                        format!("scope not allowed for this client: {}", refused.join(" ")).into(),
                    )));
                }
                requested
            }
        };
        let scope =
            to_oxide_scope(&granted).ok_or_else(|| self.fail(OAuthError::broken("a granted scope did not convert")))?;
        Ok(PreGrant { client_id: bound.client_id.into_owned(), redirect_uri: bound.redirect_uri.into_owned(), scope })
    }

    async fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        let client = self.lookup(client_id).await?;
        match (&client.secret_hash, passphrase) {
            (Some(hash), Some(secret)) if self.hasher.verify(secret, hash) => Ok(()),
            (Some(_), Some(_)) => Err(self.unknown_client()),
            (Some(_), None) => Err(self.fail(OAuthError::invalid_client(
                "this client is confidential and must authenticate with its secret",
                self.basic,
            ))),
            (None, None) => Ok(()),
            (None, Some(_)) => Err(self.fail(OAuthError::invalid_client(
                "this client is public and has no secret; send only client_id",
                self.basic,
            ))),
        }
    }
}

/// Our scope in oxide-auth's type. The empty scope is spelled as no tokens at all.
pub(crate) fn to_oxide_scope(s: &Scope) -> Option<OxideScope> {
    s.to_string().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn redirect_uris_match_exactly() {
        assert!(redirect_matches("https://app.example/cb", "https://app.example/cb"));
        assert!(!redirect_matches("https://app.example/cb", "https://app.example/cb/"));
        assert!(!redirect_matches("https://app.example/cb", "https://app.example/cb?x=1"));
        assert!(!redirect_matches("https://app.example/cb", "https://app.example:8443/cb"));
        assert!(!redirect_matches("https://app.example/cb", "https://APP.example/cb"));
        assert!(!redirect_matches("com.example.app:/cb", "com.example.app:/cb2"));
    }

    #[test]
    fn loopback_ip_redirects_may_use_any_port() {
        assert!(redirect_matches("http://127.0.0.1/callback", "http://127.0.0.1:49152/callback"));
        assert!(redirect_matches("http://127.0.0.1:8000/callback", "http://127.0.0.1:49152/callback"));
        assert!(redirect_matches("http://[::1]/callback", "http://[::1]:50000/callback"));
        // Only the port may differ.
        assert!(!redirect_matches("http://127.0.0.1/callback", "http://127.0.0.1:49152/other"));
        assert!(!redirect_matches("http://127.0.0.1/callback", "http://127.0.0.1:49152/callback?x=1"));
        assert!(!redirect_matches("http://127.0.0.1/callback", "http://user@127.0.0.1:49152/callback"));
        assert!(!redirect_matches("http://127.0.0.1/callback", "http://[::1]:49152/callback"));
        // Not `localhost`, not other addresses, not https (a loopback listener speaks http).
        assert!(!redirect_matches("http://localhost/callback", "http://localhost:49152/callback"));
        assert!(!redirect_matches("http://127.0.0.2/callback", "http://127.0.0.2:49152/callback"));
        assert!(!redirect_matches("https://127.0.0.1/callback", "https://127.0.0.1:49152/callback"));
        assert!(!redirect_matches("http://10.0.0.1/callback", "http://10.0.0.1:49152/callback"));
    }
}
