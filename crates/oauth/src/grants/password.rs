//! `grant_type=password` (RFC 6749 §4.3). oxide-auth has no such flow; this one takes the
//! same steps with the same primitives as the client-credentials flow: authenticate the
//! client (`Registrar::check`), bind it to the grant (`bound_redirect`), negotiate the scope
//! (`negotiate`), then — the one extra step — authenticate the resource owner, and issue
//! (`Issuer::issue`) with a device session.

use chrono::Duration;
use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth_async::primitives::{Issuer, Registrar};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::{DeviceId, Username};
use portcullis_domain::password::MAX_PASSWORD_LEN;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{User, UserStatus};
use portcullis_proto::TokenResponse;

use crate::error::OAuthError;
use crate::issuer::{DeviceContext, JwtIssuer};
use crate::request::{RequestContext, TokenRequest};
use crate::service::TokenService;

const BAD_CREDENTIALS: &str = "wrong username or password";

pub(crate) async fn run(
    svc: &TokenService,
    req: &TokenRequest,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let username = req.required("username")?;
    let password = req.required("password")?;
    if password.len() > MAX_PASSWORD_LEN {
        return Err(OAuthError::InvalidRequest(format!("password is longer than {MAX_PASSWORD_LEN} bytes").into()));
    }
    let scope = super::requested_scope(req)?;
    let device_id = super::device_id(req, ctx)?.unwrap_or_else(DeviceId::generate);

    let (client_id, bound, registrar) = super::authenticate_and_bind(svc, req, GrantType::Password).await?;
    let pre_grant =
        registrar.negotiate(bound, scope).await.map_err(|_| registrar.take_failure().unwrap_or(OAuthError::Server))?;

    let device = DeviceContext::new(device_id, ctx);
    let user_key = throttle(svc, &username, ctx, client_id, &device).await?;
    let user = authenticate_user(svc, &username, Secret::new(password.into_owned()), ctx, client_id, &device).await?;

    // Hydra and Keycloak alike: a refresh token only for a client allowed to use it.
    let may_refresh = registrar.client().is_some_and(|c| c.allows(GrantType::RefreshToken));
    let mut issuer = JwtIssuer::for_device(svc, device.clone(), may_refresh);
    let grant = Grant {
        owner_id: user.id.to_string(),
        client_id: pre_grant.client_id,
        redirect_uri: pre_grant.redirect_uri.into_url(),
        scope: pre_grant.scope,
        until: svc.now() + Duration::minutes(1),
        extensions: Extensions::new(),
    };
    if issuer.issue(grant).await.is_err() {
        return Err(issuer.take_failure().unwrap_or(OAuthError::Server));
    }
    let issued = issuer.take_issued().ok_or(OAuthError::Server)?;
    if let Err(e) = svc.deps.attempts.reset(&user_key).await {
        tracing::warn!(error = %e, "could not clear the login attempt count");
    }

    let mut event = login_event(svc, AuditKind::LoginSucceeded, ctx, client_id, &device);
    event.user_id = Some(user.id.to_string());
    event.actor = Some(user.id.to_string());
    event.detail = issued.minted.claims.sid.clone().map(|sid| format!("sid={sid}"));
    svc.audit(event).await;
    Ok(issued.into_response())
}

/// Counts this attempt against the username and the address — before any password is checked,
/// so parallel guesses cannot pass the limit — and refuses it past the limit. Returns the
/// username's counter key (cleared after a successful login).
pub(crate) async fn throttle(
    svc: &TokenService,
    username: &str,
    ctx: &RequestContext,
    client_id: &str,
    device: &DeviceContext,
) -> Result<String, OAuthError> {
    let policy = svc.deps.throttle;
    let user_key = format!("user:{}", username.chars().take(Username::MAX_LEN).collect::<String>());
    let ip_key = format!("ip:{}", ctx.ip.as_deref().unwrap_or("unknown"));
    let count = |key: String, limit: u32| async move {
        match svc.deps.attempts.hit(&key, policy.window).await {
            Ok((n, left)) => (n > limit).then_some(left),
            Err(e) => {
                tracing::error!(error = %e, "login attempt counter failed");
                None
            }
        }
    };
    let over_user = count(user_key.clone(), policy.per_user).await;
    let over_ip = count(ip_key, policy.per_ip).await;
    if let Some(retry_after) = over_user.max(over_ip) {
        metrics::counter!("portcullis_logins_throttled_total").increment(1);
        let mut event = login_event(svc, AuditKind::LoginFailed, ctx, client_id, device);
        event.detail = Some("throttled".to_owned());
        svc.audit(event).await;
        return Err(OAuthError::TooManyAttempts { retry_after });
    }
    Ok(user_key)
}

pub(crate) fn login_event(
    svc: &TokenService,
    kind: AuditKind,
    ctx: &RequestContext,
    client_id: &str,
    device: &DeviceContext,
) -> AuditEvent {
    let mut e = AuditEvent::new(svc.now(), kind);
    e.client_id = Some(client_id.to_owned());
    e.device_id = Some(device.device_id.to_string());
    e.ip = ctx.ip.clone();
    e.user_agent = ctx.user_agent.clone();
    e
}

/// Checks the resource owner's credentials; every refusal is audited with its reason and
/// answered with the same `invalid_grant`, except a ban, which is told only to someone who
/// knows the password.
pub(crate) async fn authenticate_user(
    svc: &TokenService,
    username: &str,
    password: Secret,
    ctx: &RequestContext,
    client_id: &str,
    device: &DeviceContext,
) -> Result<User, OAuthError> {
    let user = match Username::parse(username) {
        Ok(name) => svc.deps.users.find_by_username(&name).await.map_err(|e| {
            tracing::error!(error = %e, "user lookup failed");
            OAuthError::Server
        })?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = svc.deps.passwords.verify(password, stored).await.map_err(|_| OAuthError::Server)?;
    let failure = match (&user, matches) {
        (None, _) => Some(("unknown_user", OAuthError::InvalidGrant(BAD_CREDENTIALS.into()))),
        (Some(_), false) => Some(("wrong_password", OAuthError::InvalidGrant(BAD_CREDENTIALS.into()))),
        (Some(u), true) if u.status == UserStatus::Banned => {
            Some(("banned", OAuthError::InvalidGrant("this account is banned; contact an administrator".into())))
        }
        (Some(_), true) => None,
    };
    match (failure, user) {
        (None, Some(user)) => Ok(user),
        (Some((why, err)), user) => {
            let mut event = login_event(svc, AuditKind::LoginFailed, ctx, client_id, device);
            event.user_id = user.map(|u| u.id.to_string());
            event.detail = Some(why.to_owned());
            svc.audit(event).await;
            Err(err)
        }
        (None, None) => Err(OAuthError::Server),
    }
}
