//! `grant_type=refresh_token` (RFC 6749 §6), with rotation, device binding and reuse detection.
//!
//! Client authentication and binding use the same `Registrar` steps as the other grants. The
//! rotation itself is `SessionRepo::rotate`, which applies `portcullis_domain::rotation` under
//! the family's lock; this module turns its outcome into a response and an audit event.

use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::grant::GrantType;
use portcullis_domain::ports::{RotateOutcome, RotateRequest};
use portcullis_domain::rotation::{Presentation, Refusal, RevokeReason};
use portcullis_domain::scope::Scope;
use portcullis_domain::secret::Secret;
use portcullis_domain::session::DeviceSession;
use portcullis_proto::TokenResponse;
use portcullis_tokens::{IdTokenInput, MintInput};

use crate::error::OAuthError;
use crate::issuer::{DeviceContext, REFRESH_TOKEN_PREFIX, new_token_id};
use crate::oidc::Identity;
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

    let (client_id, _, _) = super::authenticate_and_bind(svc, req, GrantType::RefreshToken).await?;

    let hasher = &svc.deps.hasher;
    let token_hash = hasher.hash(&presented);
    let requested = requested.filter(|s| !s.is_empty());
    let device = DeviceContext::new(device_id, ctx);
    let successor = Secret::generate(REFRESH_TOKEN_PREFIX);
    let (new_id, new_hash) = (new_token_id(), hasher.hash(successor.expose()));
    let policy = svc.deps.issuance.policy;
    let mut now = svc.now();
    let mut waits = 0;
    let outcome = loop {
        let outcome = svc
            .deps
            .issuance
            .sessions
            .rotate(RotateRequest {
                token_hash: &token_hash,
                by: Presentation { client_id, fingerprint: device.fingerprint.as_str(), scope: requested.as_ref() },
                new_id: new_id.clone(),
                new_hash: new_hash.clone(),
                now,
                grace: policy.reuse_grace,
                idle_ttl: policy.refresh_idle_ttl,
                ip: ctx.ip.as_deref(),
                audit: event(svc, &device, ctx),
            })
            .await
            .map_err(server)?;
        match outcome {
            // A cut-off in this second would cover the token: decide again in the next one.
            RotateOutcome::Wait { until } if waits < 3 => {
                waits += 1;
                metrics::counter!("portcullis_mint_waits_total").increment(1);
                tokio::time::sleep((until - now).to_std().unwrap_or_default()).await;
                now = svc.now().max(until);
            }
            RotateOutcome::Wait { .. } => {
                return Err(OAuthError::broken("a rotation waited for a cut-off twice"));
            }
            other => break other,
        }
    };

    match outcome {
        RotateOutcome::Unknown => Err(OAuthError::InvalidGrant(UNKNOWN.into())),
        RotateOutcome::Refused { refusal, .. } => Err(refused(refusal)),
        RotateOutcome::Revoked { reason, .. } => {
            metrics::counter!("portcullis_families_revoked_total", "reason" => reason.as_str()).increment(1);
            svc.deps.revocations.recorded().await;
            Err(OAuthError::InvalidGrant(
                match reason {
                    RevokeReason::FingerprintMismatch => {
                        "the refresh token is bound to another device; its device session has been revoked"
                    }
                    RevokeReason::ReuseDetected => {
                        "the refresh token was already used; its device session has been revoked"
                    }
                    RevokeReason::UserBanned | RevokeReason::CutOff => "the device session has ended; log in again",
                }
                .into(),
            ))
        }
        RotateOutcome::Wait { .. } => Err(OAuthError::broken("a rotation was told to wait after waiting")),
        RotateOutcome::Rotated { session, .. } => {
            // Minted at the time the rotation was decided under the lock: a cut-off recorded
            // after it has a later time, so it covers this token too.
            let scope = requested.map(|s| s.to_string()).unwrap_or_else(|| session.scope.clone());
            let id_token = identity(svc, &session, &scope).await;
            let ring = svc.deps.issuance.keys.current();
            let input = MintInput {
                sub: session.user_id.as_str(),
                client_id: session.client_id.as_str(),
                scope: &scope,
                sid: Some(session.id.as_str()),
                dfp: Some(session.fingerprint.as_str()),
                id_token: id_token.as_ref(),
            };
            // The rotation is committed: this token is promised, so it waits for a signer.
            let issuance = &svc.deps.issuance;
            let minted = issuance
                .signer
                .mint(&issuance.minter, ring, input, now, crate::signing::WhenFull::Wait)
                .await
                .map_err(|e| OAuthError::server("minting an access token", e))?;
            Ok(TokenResponse {
                access_token: minted.token,
                token_type: "Bearer".into(),
                expires_in: svc.deps.issuance.minter.ttl.num_seconds().max(0) as u64,
                scope,
                refresh_token: Some(successor.expose().to_owned()),
                device_id: Some(session.device_id.into_string()),
                id_token: minted.id_token,
            })
        }
    }
}

/// A fresh ID token's input for a refresh of `scope` (OpenID Connect Core §12.2): the same
/// `sub`, `sid` and `auth_time` as the first, no `nonce`, the profile as it is now. The rotation
/// is committed, so a user who cannot be read costs the ID token (which a refresh may leave
/// out), never the refresh.
async fn identity(svc: &TokenService, session: &DeviceSession, scope: &str) -> Option<IdTokenInput> {
    if !crate::oidc::wants_id_token(scope) {
        return None;
    }
    match svc.deps.accounts.users.find(&session.user_id).await {
        Ok(Some(user)) => Identity { user, nonce: None }.input(scope, session.auth_time.unwrap_or(session.first_seen)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %portcullis_domain::error::Chain(&e), "a refresh's ID token was left out: the user could not be read");
            None
        }
    }
}

fn server(e: portcullis_domain::ports::StoreError) -> OAuthError {
    OAuthError::server("rotating a refresh token", e)
}

/// The audit record the store completes and writes with the rotation's outcome.
fn event(svc: &TokenService, device: &DeviceContext, ctx: &RequestContext) -> AuditEvent {
    let mut e = AuditEvent::new(svc.now(), AuditKind::Refreshed);
    e.device_id = Some(device.device_id.to_string());
    e.ip = ctx.ip.clone();
    e.user_agent = ctx.user_agent.clone();
    e
}

/// The error for a refusal: nothing was revoked, and nothing about the family is told.
fn refused(refusal: Refusal) -> OAuthError {
    let grant = |d: &'static str| OAuthError::InvalidGrant(d.into());
    match refusal {
        Refusal::WiderScope => OAuthError::InvalidScope("a refresh may narrow the scope, never widen it".into()),
        Refusal::SessionEnded => grant("the device session has ended; log in again"),
        Refusal::WrongClient => grant("the refresh token was issued to another client"),
        Refusal::Expired => grant("the refresh token has expired; log in again"),
    }
}
