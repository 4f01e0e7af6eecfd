//! `grant_type=refresh_token` (RFC 6749 §6), with rotation, device binding and reuse detection.
//!
//! Client authentication and binding use the same `Registrar` steps as the other grants. The
//! rotation itself is `SessionRepo::rotate`, which applies `portcullis_domain::rotation` under
//! the family's lock; this module turns its outcome into a response and an audit event.

use std::borrow::Cow;

use oxide_auth::primitives::registrar::ClientUrl;
use oxide_auth_async::primitives::Registrar;
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::SessionId;
use portcullis_domain::ports::{RotateOutcome, RotateRequest};
use portcullis_domain::rotation::{Refusal, RevokeReason};
use portcullis_domain::scope::Scope;
use portcullis_domain::secret::Secret;
use portcullis_domain::session::DeviceSession;
use portcullis_proto::TokenResponse;
use portcullis_tokens::MintInput;

use crate::error::OAuthError;
use crate::issuer::{DeviceContext, REFRESH_TOKEN_PREFIX};
use crate::registrar::ClientRegistrar;
use crate::request::{RequestContext, TokenRequest};
use crate::service::TokenService;

const UNKNOWN: &str = "the refresh token is unknown, expired or revoked";

pub(crate) async fn run(
    svc: &TokenService,
    req: &TokenRequest,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let presented = req.required("refresh_token")?;
    let device_id = super::device_id(req, ctx)?.ok_or_else(|| {
        OAuthError::invalid_request(
            "device_id (or the X-Device-Id header) is required to refresh: the token is bound to it",
        )
    })?;
    let requested: Option<Scope> = match req.param("scope")? {
        Some(raw) => Some(
            raw.parse()
                .map_err(|e: portcullis_domain::scope::ScopeError| OAuthError::InvalidScope(e.to_string().into()))?,
        ),
        None => None,
    };

    let client_id = req.auth.client_id().ok_or_else(|| {
        OAuthError::invalid_client("client authentication is required: HTTP Basic, client_id and client_secret, or client_id alone for a public client", false)
    })?;
    let registrar = ClientRegistrar::new(
        svc.deps.clients.clone(),
        svc.deps.hasher.clone(),
        GrantType::RefreshToken,
        req.auth.is_basic(),
    );
    let refused = |r: &ClientRegistrar| r.take_failure().unwrap_or(OAuthError::Server);
    registrar.check(client_id, req.auth.secret()).await.map_err(|_| refused(&registrar))?;
    registrar
        .bound_redirect(ClientUrl { client_id: Cow::Borrowed(client_id), redirect_uri: None })
        .await
        .map_err(|_| refused(&registrar))?;

    // Checks that need the family but change nothing: the token's client and its scope.
    let hasher = &svc.deps.hasher;
    let token_hash = hasher.hash(&presented);
    let family = svc
        .deps
        .sessions
        .find_by_token(&token_hash)
        .await
        .map_err(server)?
        .ok_or(OAuthError::InvalidGrant(UNKNOWN.into()))?;
    if family.client_id.as_str() != client_id {
        return Err(OAuthError::InvalidGrant("the refresh token was issued to another client".into()));
    }
    let granted: Scope = family.scope.parse().map_err(|_| OAuthError::Server)?;
    let scope = match requested {
        Some(s) if !s.is_empty() && !s.is_subset(&granted) => {
            return Err(OAuthError::InvalidScope("a refresh may narrow the scope, never widen it".into()));
        }
        Some(s) if !s.is_empty() => s,
        _ => granted,
    };

    let device = DeviceContext::new(device_id, ctx);
    let successor = Secret::generate(REFRESH_TOKEN_PREFIX);
    let now = svc.now();
    let policy = svc.deps.policy;
    let outcome = svc
        .deps
        .sessions
        .rotate(RotateRequest {
            token_hash: &token_hash,
            fingerprint: device.fingerprint.as_str(),
            new_id: SessionId::generate().into_string(),
            new_hash: hasher.hash(successor.expose()),
            now,
            grace: policy.reuse_grace,
            idle_ttl: policy.refresh_idle_ttl,
            ip: ctx.ip.as_deref(),
        })
        .await
        .map_err(server)?;

    match outcome {
        RotateOutcome::Unknown => Err(OAuthError::InvalidGrant(UNKNOWN.into())),
        RotateOutcome::Refused { refusal, .. } => Err(OAuthError::InvalidGrant(
            match refusal {
                Refusal::SessionEnded => "the device session has ended; log in again",
                Refusal::Expired => "the refresh token has expired; log in again",
                Refusal::Superseded => "the refresh token was replaced by a later one",
            }
            .into(),
        )),
        RotateOutcome::Revoked { session, reason } => {
            let kind = match reason {
                RevokeReason::FingerprintMismatch => AuditKind::FingerprintMismatch,
                RevokeReason::ReuseDetected => AuditKind::RefreshReuseDetected,
            };
            svc.audit(event(svc, kind, &session, &device, ctx)).await;
            metrics::counter!("portcullis_families_revoked_total", "reason" => reason.as_str()).increment(1);
            Err(OAuthError::InvalidGrant(
                match reason {
                    RevokeReason::FingerprintMismatch => {
                        "the refresh token is bound to another device; its device session has been revoked"
                    }
                    RevokeReason::ReuseDetected => {
                        "the refresh token was already used; its device session has been revoked"
                    }
                }
                .into(),
            ))
        }
        RotateOutcome::Rotated { session, retry } => {
            let scope = scope.to_string();
            let ring = svc.deps.keys.current();
            let input = MintInput {
                sub: session.user_id.as_str(),
                client_id: session.client_id.as_str(),
                scope: &scope,
                sid: Some(session.id.as_str()),
                dfp: Some(session.fingerprint.as_str()),
            };
            let minted = svc.deps.minter.mint(&ring, input, now).map_err(|e| {
                tracing::error!(error = %e, "minting failed");
                OAuthError::Server
            })?;
            let mut e = event(svc, AuditKind::Refreshed, &session, &device, ctx);
            e.detail = Some(if retry { "retry" } else { "rotated" }.to_owned());
            svc.audit(e).await;
            Ok(TokenResponse {
                access_token: minted.token,
                token_type: "Bearer".into(),
                expires_in: svc.deps.minter.ttl.num_seconds().max(0) as u64,
                scope,
                refresh_token: Some(successor.expose().to_owned()),
                device_id: Some(session.device_id.into_string()),
            })
        }
    }
}

fn server(e: portcullis_domain::ports::StoreError) -> OAuthError {
    tracing::error!(error = %e, "session store failed");
    OAuthError::Server
}

fn event(
    svc: &TokenService,
    kind: AuditKind,
    s: &DeviceSession,
    device: &DeviceContext,
    ctx: &RequestContext,
) -> AuditEvent {
    let mut e = AuditEvent::new(svc.now(), kind);
    e.actor = Some(s.user_id.to_string());
    e.user_id = Some(s.user_id.to_string());
    e.client_id = Some(s.client_id.to_string());
    e.device_id = Some(device.device_id.to_string());
    e.ip = ctx.ip.clone();
    e.user_agent = ctx.user_agent.clone();
    e.detail = Some(format!("sid={}", s.id));
    e
}
