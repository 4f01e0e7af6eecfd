//! PKCE (RFC 7636), S256 only, in the two places it acts: the authorization request, where the
//! challenge is parsed and stored with the code (`PkceAuthorize`), and the code exchange, where
//! the verifier must hash to it (`PkceVerify`). The challenge itself is
//! `portcullis_domain::authcode::CodeChallenge`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use oxide_auth::primitives::grant::{Extensions, GrantExtension, Value};
use portcullis_domain::authcode::{CodeChallenge, CodeVerifier};

use crate::error::OAuthError;
use crate::registrar::ClientRegistrar;

mod authorization {
    pub use oxide_auth::code_grant::authorization::Request;
    pub use oxide_auth_async::code_grant::authorization::Extension;
}

mod access_token {
    pub use oxide_auth::code_grant::accesstoken::Request;
    pub use oxide_auth_async::code_grant::access_token::Extension;
}

/// The grant extension under which the S256 challenge travels from authorization to exchange.
pub(crate) struct PkceExtension;

impl GrantExtension for PkceExtension {
    fn identifier(&self) -> &'static str {
        "pkce"
    }
}

/// The PKCE half of the authorization request (RFC 7636 §4.4): S256 only, required for
/// public clients, honoured for confidential ones.
pub(crate) struct PkceAuthorize {
    registrar: Arc<ClientRegistrar>,
    failure: Mutex<Option<String>>,
}

impl PkceAuthorize {
    pub(crate) fn new(registrar: Arc<ClientRegistrar>) -> Self {
        Self { registrar, failure: Mutex::new(None) }
    }

    /// Why the challenge was refused, if it was.
    pub(crate) fn take_failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

#[async_trait]
impl authorization::Extension for PkceAuthorize {
    async fn extend(&mut self, request: &(dyn authorization::Request + Sync)) -> Result<Extensions, ()> {
        let challenge = request.extension("code_challenge");
        let method = request.extension("code_challenge_method");
        let public = self.registrar.client().is_none_or(|c| c.is_public());
        let mut ext = Extensions::new();
        let refused = match (challenge, method) {
            (Some(c), m) => match CodeChallenge::parse(&c, m.as_deref()) {
                Ok(ch) => {
                    ext.set(&PkceExtension, Value::private(Some(ch.as_str().to_owned())));
                    return Ok(ext);
                }
                Err(e) => e.to_string(),
            },
            (None, Some(_)) => "code_challenge_method without code_challenge".to_owned(),
            (None, None) if public => "a public client must use PKCE: send code_challenge with S256".to_owned(),
            (None, None) => return Ok(ext),
        };
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(refused);
        Err(())
    }
}

/// RFC 7636 §4.6: the verifier must hash to the challenge the code was issued with.
#[derive(Default)]
pub(crate) struct PkceVerify {
    pub(crate) failure: Option<OAuthError>,
}

#[async_trait]
impl access_token::Extension for PkceVerify {
    async fn extend(
        &mut self,
        request: &(dyn access_token::Request + Sync),
        mut data: Extensions,
    ) -> Result<Extensions, ()> {
        let challenge = data.remove(&PkceExtension).and_then(|v| v.into_private_value().ok().flatten());
        let verifier = request.extension("code_verifier");
        let refusal = match (challenge, verifier) {
            (Some(ch), Some(v)) => match CodeVerifier::parse(&v) {
                Ok(v) if CodeChallenge::from_stored(ch).verify(&v) => return Ok(Extensions::new()),
                Ok(_) => OAuthError::InvalidGrant("code_verifier does not match the code_challenge".into()),
                Err(e) => OAuthError::InvalidRequest(e.to_string().into()),
            },
            (Some(_), None) => {
                OAuthError::InvalidGrant("code_verifier is required: the code was issued with PKCE".into())
            }
            (None, Some(_)) => {
                OAuthError::InvalidGrant("code_verifier sent, but the code was issued without PKCE".into())
            }
            (None, None) => return Ok(Extensions::new()),
        };
        self.failure = Some(refusal);
        Err(())
    }
}
