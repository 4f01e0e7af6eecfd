//! One module per grant type, and `TokenService::token`, which parses a token request and runs
//! its grant.

pub mod authorization_code;
pub mod client_credentials;
pub mod otp;
pub mod password;
pub mod refresh_token;
pub mod send_code;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use oxide_auth::endpoint::PreGrant;
use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth_async::primitives::Issuer;
use portcullis_domain::user::User;

use oxide_auth::endpoint::WebRequest;
use portcullis_proto::TokenResponse;

use oxide_auth::primitives::scope::Scope as OxideScope;
use portcullis_domain::scope::Scope;

use crate::error::OAuthError;
use std::borrow::Cow;

use oxide_auth::primitives::registrar::{BoundClient, ClientUrl};
use oxide_auth_async::primitives::Registrar;
use portcullis_domain::grant::GrantType;

use crate::issuer::{DeviceContext, Holder, Issued, JwtIssuer};
use crate::registrar::{ClientRegistrar, to_oxide_scope};
use crate::request::{FormRequest, RequestContext, TokenRequest};
use crate::service::TokenService;
use portcullis_domain::ids::DeviceId;

/// The `scope` parameter, checked against RFC 6749 §3.3 (a malformed scope is `invalid_scope`).
pub(crate) fn requested_scope(req: &TokenRequest) -> Result<Option<OxideScope>, OAuthError> {
    let Some(raw) = req.param("scope")? else { return Ok(None) };
    let scope: Scope = raw
        .parse()
        .map_err(|e: portcullis_domain::scope::ScopeError| OAuthError::InvalidScope(e.to_string().into()))?;
    if scope.is_empty() {
        return Ok(None);
    }
    to_oxide_scope(&scope).map(Some).ok_or_else(|| OAuthError::broken("a checked scope did not convert"))
}

/// The device id from the form or `X-Device-Id` (they must agree), if any.
pub(crate) fn device_id(req: &TokenRequest, ctx: &RequestContext) -> Result<Option<DeviceId>, OAuthError> {
    let form = req.param("device_id")?;
    let chosen = match (form.as_deref(), ctx.device_id_header.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_request("device_id and X-Device-Id disagree"));
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    chosen.map(|raw| DeviceId::parse(raw).map_err(|e| OAuthError::InvalidRequest(e.to_string().into()))).transpose()
}

/// The first two `Registrar` steps every user grant takes: authenticate the client (a secret,
/// or a public client's id alone), then bind it to `grant`. Returns the client id, the bound
/// client (for scope negotiation) and the registrar (which knows the client now).
pub(crate) async fn authenticate_and_bind<'r>(
    svc: &TokenService,
    req: &'r FormRequest,
    grant: GrantType,
) -> Result<(&'r str, BoundClient<'r>, ClientRegistrar), OAuthError> {
    let client_id = req.auth.client_id().ok_or_else(|| {
        OAuthError::invalid_client(
            "client authentication is required: HTTP Basic, client_id and client_secret, or client_id alone for a public client",
            false,
        )
    })?;
    let registrar = ClientRegistrar::new(svc.deps.clients.clone(), svc.deps.hasher.clone(), grant, req.auth.is_basic());
    let refused = |r: &ClientRegistrar| {
        r.take_failure().unwrap_or_else(|| OAuthError::broken("client authentication failed without saying why"))
    };
    registrar.check(client_id, req.auth.secret()).await.map_err(|_| refused(&registrar))?;
    let bound = registrar
        .bound_redirect(ClientUrl { client_id: Cow::Borrowed(client_id), redirect_uri: None })
        .await
        .map_err(|_| refused(&registrar))?;
    Ok((client_id, bound, registrar))
}

/// The steps before a grant that authenticates the resource owner itself (the password, a
/// one-time code): the scope and device parameters checked, the client authenticated and bound
/// to `grant`, the scope negotiated. Returns the client id, the registrar (which knows the
/// client now), the negotiated grant and the device.
pub(crate) async fn start_owner_grant<'r>(
    svc: &TokenService,
    req: &'r TokenRequest,
    ctx: &RequestContext,
    grant: GrantType,
) -> Result<(&'r str, ClientRegistrar, PreGrant, DeviceContext), OAuthError> {
    let scope = requested_scope(req)?;
    let device_id = device_id(req, ctx)?.unwrap_or_else(DeviceId::generate);
    let (client_id, bound, registrar) = authenticate_and_bind(svc, req, grant).await?;
    let pre_grant = registrar.negotiate(bound, scope).await.map_err(|_| {
        registrar.take_failure().unwrap_or_else(|| OAuthError::broken("scope negotiation failed without saying why"))
    })?;
    Ok((client_id, registrar, pre_grant, DeviceContext::new(device_id, ctx)))
}

/// Issues `user`'s tokens on `device`, as the grants that authenticate the resource owner
/// themselves (the password, a one-time code) do: a device session, and a refresh token for a
/// client allowed to use one (as Hydra and Keycloak do). `at`: when the owner was authenticated.
pub(crate) async fn issue_for_user(
    svc: &TokenService,
    registrar: &ClientRegistrar,
    pre_grant: PreGrant,
    device: DeviceContext,
    user: &User,
    at: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let may_refresh = registrar.client().is_some_and(|c| c.allows(GrantType::RefreshToken));
    let mut issuer = JwtIssuer::for_device(svc, device, Holder::checked_now(user, at), may_refresh);
    issuer.set_identity(user.clone(), None);
    let grant = Grant {
        owner_id: user.id.to_string(),
        client_id: pre_grant.client_id,
        redirect_uri: pre_grant.redirect_uri.into_url(),
        scope: pre_grant.scope,
        until: svc.now() + Duration::minutes(1),
        extensions: Extensions::new(),
    };
    if issuer.issue(grant).await.is_err() {
        return Err(issuer.take_failure().unwrap_or_else(|| OAuthError::broken("issuing failed without saying why")));
    }
    issuer.take_issued().ok_or_else(|| OAuthError::broken("a user grant issued nothing"))
}

impl TokenService {
    /// Answers one token request.
    pub async fn token<R: WebRequest>(&self, req: &mut R, ctx: &RequestContext) -> Result<TokenResponse, OAuthError> {
        let started = Instant::now();
        let request = match TokenRequest::from_web(req) {
            Ok(r) => r,
            Err(e) => {
                record_outcome("unknown", &Err(e.clone()), started);
                return Err(e);
            }
        };
        let result = match request.grant_type {
            GrantType::ClientCredentials => client_credentials::run(self, &request).await,
            GrantType::Password => password::run(self, &request, ctx).await,
            GrantType::RefreshToken => refresh_token::run(self, &request, ctx).await,
            GrantType::AuthorizationCode => authorization_code::run(self, &request, ctx).await,
            GrantType::Otp => otp::run(self, &request, ctx).await,
        };
        record_outcome(request.grant_type.as_str(), &result, started);
        result
    }
}

fn record_outcome(grant: &'static str, result: &Result<TokenResponse, OAuthError>, started: Instant) {
    let outcome = match result {
        Ok(_) => "issued",
        Err(e) => e.code().as_str(),
    };
    metrics::counter!("portcullis_grants_total", "grant" => grant, "outcome" => outcome).increment(1);
    if result.is_ok() {
        metrics::histogram!("portcullis_token_issue_seconds", "grant" => grant).record(started.elapsed().as_secs_f64());
    }
}
