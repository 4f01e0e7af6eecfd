//! `grant_type=client_credentials` (RFC 6749 §4.4), through oxide-auth-async's flow.

use oxide_auth::code_grant::accesstoken::ErrorDescription;
use oxide_auth::code_grant::client_credentials::Error as FlowError;
use oxide_auth::code_grant::error::AccessTokenErrorType;
use oxide_auth::primitives::grant::Grant;
use oxide_auth_async::code_grant::client_credentials::{Endpoint, Extension, client_credentials};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};
use portcullis_domain::grant::GrantType;
use portcullis_proto::TokenResponse;

use crate::error::OAuthError;
use crate::issuer::JwtIssuer;
use crate::registrar::ClientRegistrar;
use crate::request::TokenRequest;
use crate::service::TokenService;

/// The primitives oxide-auth's flow drives for one request.
struct FlowEndpoint<'s> {
    registrar: ClientRegistrar,
    issuer: JwtIssuer<'s>,
    authorizer: NoAuthorizer,
    extension: (),
}

/// This flow never stores authorization codes.
struct NoAuthorizer;

impl oxide_auth::primitives::authorizer::Authorizer for NoAuthorizer {
    fn authorize(&mut self, _: Grant) -> Result<String, ()> {
        Err(())
    }

    fn extract(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}

impl Endpoint for FlowEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }

    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }

    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }

    fn extension(&mut self) -> &mut (dyn Extension + Send) {
        &mut self.extension
    }
}

impl FlowEndpoint<'_> {
    /// The precise error a primitive recorded, else the flow's own.
    fn error(&mut self, flow: FlowError, basic: bool) -> OAuthError {
        if let Some(e) = self.registrar.take_failure().or_else(|| self.issuer.take_failure()) {
            return e;
        }
        match flow {
            FlowError::Invalid(desc) => from_description(desc, basic),
            FlowError::Unauthorized(..) => {
                OAuthError::invalid_client("client authentication is required for client_credentials", basic)
            }
            FlowError::Ignore | FlowError::Primitive(_) => {
                OAuthError::broken("the client-credentials flow failed in a primitive")
            }
        }
    }
}

fn from_description(mut desc: ErrorDescription, basic: bool) -> OAuthError {
    match desc.description().kind() {
        AccessTokenErrorType::InvalidClient => {
            OAuthError::invalid_client("client authentication is required for client_credentials", basic)
        }
        AccessTokenErrorType::UnauthorizedClient => {
            OAuthError::UnauthorizedClient("this client may not use the client_credentials grant".into())
        }
        AccessTokenErrorType::InvalidScope => OAuthError::InvalidScope("the requested scope is invalid".into()),
        AccessTokenErrorType::InvalidGrant => OAuthError::InvalidGrant("the grant is invalid".into()),
        AccessTokenErrorType::UnsupportedGrantType => OAuthError::UnsupportedGrantType("unsupported grant_type".into()),
        _ => OAuthError::invalid_request(
            "the client_credentials request is malformed: authenticate the client with HTTP Basic or client_id and client_secret",
        ),
    }
}

pub(crate) async fn run(svc: &TokenService, req: &TokenRequest) -> Result<TokenResponse, OAuthError> {
    // Checked here so that a malformed scope is invalid_scope, not oxide-auth's invalid_request.
    super::requested_scope(req)?;
    let basic = req.auth.is_basic();
    if matches!(req.auth, crate::request::ClientAuth::None | crate::request::ClientAuth::Public { .. }) {
        return Err(OAuthError::invalid_client(
            "client_credentials needs client authentication: HTTP Basic or client_id and client_secret",
            false,
        ));
    }
    let mut endpoint = FlowEndpoint {
        registrar: ClientRegistrar::new(
            svc.deps.clients.clone(),
            svc.deps.hasher.clone(),
            GrantType::ClientCredentials,
            basic,
        ),
        issuer: JwtIssuer::for_client(svc),
        authorizer: NoAuthorizer,
        extension: (),
    };
    let pending = match client_credentials(&mut endpoint, req).await {
        Ok(p) => p,
        Err(e) => return Err(endpoint.error(e, basic)),
    };
    // The client acts on its own behalf: it is the resource owner.
    let owner = pending.as_solicitation().pre_grant().client_id.clone();
    if let Err(e) = pending.issue(&mut endpoint, owner, false).await {
        return Err(endpoint.error(e, basic));
    }
    endpoint
        .issuer
        .take_issued()
        .map(|i| i.into_response())
        .ok_or_else(|| OAuthError::broken("the client-credentials flow issued nothing"))
}
