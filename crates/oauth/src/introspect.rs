//! RFC 7662 introspection, and the liveness check every token-accepting endpoint shares.
//!
//! A token is live only if its signature and claims verify against a published key and no
//! revocation in force covers it (`Revocations`: a kicked or logged-out session, a ban or
//! password change cutting off the user's earlier tokens, a revoked client-credentials token).

use oxide_auth_async::primitives::Registrar;
use portcullis_domain::client::Client;
use portcullis_domain::error::Cause;
use portcullis_domain::grant::GrantType;
use portcullis_proto::{AccessTokenClaims, IntrospectionResponse};
use portcullis_tokens::{VerifyError, verify_access_token};

use crate::error::OAuthError;
use crate::registrar::ClientRegistrar;
use crate::request::{ClientAuth, FormRequest};
use crate::service::TokenService;

/// Why a bearer token was not accepted. The text is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    #[error("the token has been revoked")]
    Revoked,
    /// The revocation state could not be read; the cause is for the edge's log.
    #[error("the server could not check the token")]
    Unavailable(Cause),
}

impl TokenService {
    /// The claims of a live access token.
    pub async fn live_claims(&self, token: &str) -> Result<AccessTokenClaims, TokenRejected> {
        let now = self.now();
        let ring = self.deps.issuance.keys.current();
        let minter = &self.deps.issuance.minter;
        let claims = verify_access_token(&ring, token, &minter.issuer, &minter.audience, now)?;
        match self.deps.revocations.is_revoked(&claims).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(TokenRejected::Revoked),
            Err(e) => Err(TokenRejected::Unavailable(Cause::context("checking the revocation state", e))),
        }
    }

    /// Authenticates the calling client of a form endpoint (introspection, revocation).
    /// `allow_public`: whether a public client may call with its id alone.
    pub(crate) async fn authenticate_client(
        &self,
        form: &FormRequest,
        allow_public: bool,
    ) -> Result<Client, OAuthError> {
        let id = match &form.auth {
            ClientAuth::Basic { id, .. } | ClientAuth::Body { id, .. } => id,
            ClientAuth::Public { id } if allow_public => id,
            _ => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required: HTTP Basic or client_id and client_secret",
                    false,
                ));
            }
        };
        // Any grant: authentication only, no binding.
        let registrar = ClientRegistrar::new(
            self.deps.clients.clone(),
            self.deps.hasher.clone(),
            GrantType::ClientCredentials,
            form.auth.is_basic(),
        );
        if registrar.check(id, form.auth.secret()).await.is_err() {
            return Err(registrar
                .take_failure()
                .unwrap_or_else(|| OAuthError::broken("client authentication failed without saying why")));
        }
        registrar.client().ok_or_else(|| OAuthError::broken("an authenticated client was not kept"))
    }

    /// Authenticates a resource server (a confidential client registered with
    /// `--resource-server`) from an `Authorization: Basic` header alone (the revocation feed is
    /// a GET). Another client is refused with 403 `unauthorized_client`.
    pub async fn authenticate_resource_server(&self, authorization: Option<&str>) -> Result<Client, OAuthError> {
        let form = FormRequest::new(oxide_auth::endpoint::NormalizedParameter::new(), authorization)?;
        let client = self.authenticate_client(&form, false).await?;
        if client.resource_server { Ok(client) } else { Err(OAuthError::NotResourceServer) }
    }

    /// RFC 7662, for resource servers only: any other client could otherwise learn about every
    /// token it sees (RFC 7662 §2.1 asks the endpoint to prevent token scanning).
    pub async fn introspect(&self, form: &FormRequest) -> Result<IntrospectionResponse, OAuthError> {
        if !self.authenticate_client(form, false).await?.resource_server {
            return Err(OAuthError::NotResourceServer);
        }
        let token = form.required("token")?;
        match self.live_claims(&token).await {
            Ok(claims) => Ok(IntrospectionResponse::active(claims)),
            Err(TokenRejected::Unavailable(cause)) => Err(OAuthError::Server(cause)),
            Err(_) => Ok(IntrospectionResponse::inactive()),
        }
    }
}
