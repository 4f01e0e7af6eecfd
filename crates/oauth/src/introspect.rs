//! RFC 7662 introspection of access tokens, for authenticated confidential clients.
//!
//! A token is active only if its signature and claims verify against a published key and,
//! for a user token, its device session is still live: a kicked, logged-out or expired
//! session makes its access tokens inactive at once.

use oxide_auth_async::primitives::Registrar;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::SessionId;
use portcullis_proto::IntrospectionResponse;
use portcullis_tokens::verify_access_token;

use crate::error::OAuthError;
use crate::registrar::ClientRegistrar;
use crate::request::{ClientAuth, FormRequest};
use crate::service::TokenService;

impl TokenService {
    pub async fn introspect(&self, form: &FormRequest) -> Result<IntrospectionResponse, OAuthError> {
        let (ClientAuth::Basic { id, .. } | ClientAuth::Body { id, .. }) = &form.auth else {
            return Err(OAuthError::invalid_client(
                "introspection requires client authentication: HTTP Basic or client_id and client_secret",
                false,
            ));
        };
        // Any grant: authentication only, no binding.
        let registrar = ClientRegistrar::new(
            self.deps.clients.clone(),
            self.deps.hasher.clone(),
            GrantType::ClientCredentials,
            form.auth.is_basic(),
        );
        if registrar.check(id, form.auth.secret()).await.is_err() {
            return Err(registrar.take_failure().unwrap_or(OAuthError::Server));
        }
        let token = form.required("token")?;
        let now = self.now();
        let ring = self.deps.keys.current();
        let minter = &self.deps.minter;
        let Ok(claims) = verify_access_token(&ring, &token, &minter.issuer, &minter.audience, now) else {
            return Ok(IntrospectionResponse::inactive());
        };
        if let Some(sid) = &claims.sid {
            let Ok(sid) = SessionId::parse(sid) else { return Ok(IntrospectionResponse::inactive()) };
            match self.deps.sessions.find(&sid).await {
                Ok(Some(session)) if session.is_active(now) => {}
                Ok(_) => return Ok(IntrospectionResponse::inactive()),
                Err(e) => {
                    tracing::error!(error = %e, "session lookup failed");
                    return Err(OAuthError::Server);
                }
            }
        }
        Ok(IntrospectionResponse::active(claims))
    }
}
