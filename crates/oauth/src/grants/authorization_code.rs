//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5): oxide-auth-async's
//! access-token flow over our `ClientRegistrar`, `CodeAuthorizer`, a PKCE check and
//! `JwtIssuer`, which opens the device session exactly as the password grant does.

use std::borrow::Cow;

use oxide_auth::code_grant::accesstoken::{Authorization, Error as FlowError, Request};
use oxide_auth::code_grant::error::AccessTokenErrorType;
use oxide_auth_async::code_grant::access_token::{Endpoint, Extension, access_token};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::{DeviceId, SessionId};
use portcullis_domain::ports::Authenticated;
use portcullis_domain::revocation::Reason;
use portcullis_proto::TokenResponse;

use crate::codes::CodeAuthorizer;
use crate::error::OAuthError;
use crate::issuer::{DeviceContext, Holder, JwtIssuer};
use crate::pkce::PkceVerify;
use crate::registrar::ClientRegistrar;
use crate::request::{ClientAuth, RequestContext, TokenRequest};
use crate::service::TokenService;

/// The view oxide-auth's access-token flow takes of a token request.
struct CodeRequest<'r>(&'r TokenRequest);

impl Request for CodeRequest<'_> {
    fn valid(&self) -> bool {
        true
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.0.param("code").ok().flatten()
    }

    fn authorization(&self) -> Authorization<'_> {
        match &self.0.auth {
            ClientAuth::Basic { id, secret } => {
                Authorization::UsernamePassword(Cow::Borrowed(id.as_str()), Cow::Borrowed(secret.as_slice()))
            }
            _ => Authorization::None,
        }
    }

    fn client_id(&self) -> Option<Cow<'_, str>> {
        match &self.0.auth {
            ClientAuth::Body { id, .. } | ClientAuth::Public { id } => Some(Cow::Borrowed(id.as_str())),
            _ => None,
        }
    }

    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.0.param("redirect_uri").ok().flatten()
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0.grant_type.as_str()))
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        match (key, &self.0.auth) {
            ("client_secret", ClientAuth::Body { secret, .. }) => Some(Cow::Borrowed(secret.as_str())),
            ("client_id" | "client_secret", _) => None,
            _ => self.0.param(key).ok().flatten(),
        }
    }

    fn allow_credentials_in_body(&self) -> bool {
        true
    }
}

struct CodeEndpoint<'s> {
    registrar: ClientRegistrar,
    authorizer: CodeAuthorizer<'s>,
    issuer: JwtIssuer<'s>,
    pkce: PkceVerify,
    /// The device id the client sent, if any (else the browser's, else a new one).
    device_id: Option<DeviceId>,
    ctx: &'s RequestContext,
}

impl Endpoint for CodeEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }

    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        // Asked only after the client authenticated: refuse a client not allowed this grant
        // before its code is spent.
        if self.registrar.client().is_some_and(|c| !c.allows(GrantType::AuthorizationCode)) {
            self.authorizer.refuse_all(OAuthError::UnauthorizedClient(
                "this client may not use the authorization_code grant".into(),
            ));
        }
        &mut self.authorizer
    }

    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        // Only now is the code known, and with it the browser's device id and the user.
        if let Some((code, user)) = self.authorizer.redeemed.as_ref() {
            let device_id =
                self.device_id.clone().or_else(|| code.device_id.clone()).unwrap_or_else(DeviceId::generate);
            let may_refresh = self.registrar.client().is_some_and(|c| c.allows(GrantType::RefreshToken));
            // The user authenticated when they proved their password to the browser login the
            // code came from: a cut-off since refuses it.
            let holder = Holder {
                authenticated: Authenticated { at: code.auth_time, user_version: None },
                cutoffs: user.cutoffs.clone(),
            };
            self.issuer.set_device(DeviceContext::new(device_id, self.ctx), holder, may_refresh);
            self.issuer.set_identity(user.clone(), code.nonce.clone());
        } else {
            // Never a client token for a code: without a redeemed code nothing is issued.
            self.issuer.refuse(OAuthError::broken("a token was asked for without a redeemed code"));
        }
        &mut self.issuer
    }

    fn extension(&mut self) -> &mut (dyn Extension + Send) {
        &mut self.pkce
    }
}

pub(crate) async fn run(
    svc: &TokenService,
    req: &TokenRequest,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    for key in ["code", "redirect_uri", "code_verifier"] {
        req.param(key)?;
    }
    let device_id = super::device_id(req, ctx)?;
    let mut endpoint = CodeEndpoint {
        registrar: ClientRegistrar::new(
            svc.deps.clients.clone(),
            svc.deps.hasher.clone(),
            GrantType::AuthorizationCode,
            req.auth.is_basic(),
        ),
        authorizer: CodeAuthorizer::new(svc, None),
        issuer: JwtIssuer::for_client(svc),
        pkce: PkceVerify::default(),
        device_id,
        ctx,
    };
    let flow = access_token(&mut endpoint, &CodeRequest(req)).await;
    if let Err(e) = flow {
        return Err(refusal(e, &mut endpoint));
    }
    let issued = endpoint.issuer.take_issued().ok_or_else(|| OAuthError::broken("the code flow issued nothing"))?;
    let (code, _) =
        endpoint.authorizer.redeemed.take().ok_or_else(|| OAuthError::broken("the code flow redeemed no code"))?;
    let sid = issued.minted.claims.sid.as_deref().map(SessionId::parse).transpose();
    let sid = sid.map_err(|e| OAuthError::server("reading the minted session id", e))?;
    if let Some(sid) = &sid {
        let replayed = svc
            .deps
            .browser
            .codes
            .attach_session(&code.code_hash, sid)
            .await
            .map_err(|e| OAuthError::server("recording the session of a code", e))?;
        if replayed {
            end(svc, sid).await;
            return Err(OAuthError::InvalidGrant("this authorization code was already used".into()));
        }
    }
    let mut event = AuditEvent::new(svc.now(), AuditKind::LoginSucceeded);
    event.client_id = Some(code.client_id.to_string());
    event.user_id = Some(code.user_id.to_string());
    event.actor = Some(code.user_id.to_string());
    event.device_id = issued.device_id.as_ref().map(|d| d.to_string());
    event.ip = ctx.ip.clone();
    event.user_agent = ctx.user_agent.clone();
    event.detail = sid.map(|sid| format!("sid={sid} grant=authorization_code"));
    svc.audit(event).await;
    Ok(issued.into_response())
}

async fn end(svc: &TokenService, sid: &SessionId) {
    if let Ok(Some(s)) = svc.deps.issuance.sessions.find(sid).await
        && let Err(e) = svc.end_session(&s, Reason::CodeReplayed, "policy").await
    {
        tracing::error!(error = %portcullis_domain::error::Chain(&e), "could not end the session of a replayed code");
    }
}

/// The precise error: what a primitive recorded first, else oxide-auth's kind.
fn refusal(e: FlowError, endpoint: &mut CodeEndpoint<'_>) -> OAuthError {
    let recorded = endpoint
        .registrar
        .take_failure()
        .or_else(|| endpoint.authorizer.failure.take())
        .or_else(|| endpoint.pkce.failure.take())
        .or_else(|| endpoint.issuer.take_failure());
    if let Some(r) = recorded {
        return r;
    }
    match e {
        FlowError::Invalid(mut d) => match d.description().kind() {
            AccessTokenErrorType::InvalidGrant => {
                OAuthError::InvalidGrant("the code was issued to another client or redirect_uri".into())
            }
            _ => {
                OAuthError::invalid_request("code and redirect_uri are required, with client_id or client credentials")
            }
        },
        FlowError::Unauthorized(..) => OAuthError::invalid_client("client authentication failed", false),
        FlowError::Primitive(_) => OAuthError::broken("the code flow failed in a primitive"),
    }
}
