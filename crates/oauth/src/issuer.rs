//! `JwtIssuer`: oxide-auth's `Issuer`. Mints the access token; for user grants it also opens
//! the device session and its first refresh token.

use crate::signing::WhenFull;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth_async::primitives::Issuer;
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId};
use portcullis_domain::ports::{Authenticated, Opened};
use portcullis_domain::secret::Secret;
use portcullis_domain::session::{DeviceSession, NewRefreshToken};
use portcullis_domain::user::{Cutoffs, User};
use portcullis_fingerprint::{Fingerprint, UserAgentFamilies};
use portcullis_proto::TokenResponse;
use portcullis_tokens::{MintInput, Minted};

use crate::error::OAuthError;
use crate::oidc::Identity;
use crate::request::RequestContext;
use crate::service::TokenService;

/// Prefix of every refresh token (lets secret scanners recognise one).
pub const REFRESH_TOKEN_PREFIX: &str = "pcr_";

/// The device a user token is issued to.
#[derive(Clone, Debug)]
pub struct DeviceContext {
    pub device_id: DeviceId,
    pub families: UserAgentFamilies,
    pub fingerprint: Fingerprint,
    pub ip: Option<String>,
}

impl DeviceContext {
    pub fn new(device_id: DeviceId, ctx: &RequestContext) -> Self {
        let families = UserAgentFamilies::parse(ctx.user_agent.as_deref());
        let fingerprint = Fingerprint::compute(device_id.as_str(), &families);
        Self { device_id, families, fingerprint, ip: ctx.ip.clone() }
    }
}

/// Who a user token is for, as the grant authenticated them.
#[derive(Clone, Debug)]
pub struct Holder {
    pub authenticated: Authenticated,
    /// The user's cut-offs as read with the credential check: tokens are minted after them.
    pub cutoffs: Cutoffs,
}

impl Holder {
    /// A user who just proved a credential (a password, a one-time code) at `at`.
    pub fn checked_now(user: &User, at: DateTime<Utc>) -> Self {
        Self { authenticated: Authenticated { at, user_version: Some(user.updated_at) }, cutoffs: user.cutoffs.clone() }
    }
}

/// The time to mint an access token of session `sid` (`None`: a new session) at: now, or — in
/// the second of a cut-off the token would otherwise fall under — the start of the next second,
/// waited for (docs/decisions/0011: resource servers compare whole seconds).
pub(crate) async fn mint_time(svc: &TokenService, cutoffs: &Cutoffs, sid: Option<&SessionId>) -> DateTime<Utc> {
    let now = svc.now();
    match cutoffs.live_from(sid) {
        Some(from) if from > now => {
            metrics::counter!("portcullis_mint_waits_total").increment(1);
            tokio::time::sleep((from - now).to_std().unwrap_or_default()).await;
            svc.now().max(from)
        }
        _ => now,
    }
}

/// What was issued, for the token response.
pub struct Issued {
    pub minted: Minted,
    pub refresh: Option<Secret>,
    pub device_id: Option<DeviceId>,
    pub expires_in: u64,
}

impl Issued {
    pub fn into_response(self) -> TokenResponse {
        TokenResponse {
            access_token: self.minted.token,
            token_type: "Bearer".into(),
            expires_in: self.expires_in,
            scope: self.minted.claims.scope,
            refresh_token: self.refresh.map(|s| s.expose().to_owned()),
            device_id: self.device_id.map(DeviceId::into_string),
            id_token: self.minted.id_token,
        }
    }
}

pub struct JwtIssuer<'s> {
    svc: &'s TokenService,
    device: Option<(DeviceContext, Holder)>,
    /// Whom an ID token would be about (user grants; minted when the scope has `openid`).
    identity: Option<Identity>,
    refresh: bool,
    issued: Option<Issued>,
    failure: Option<OAuthError>,
}

/// The user changed (a ban, a password change, a cut-off) while the grant was in flight.
const RACED: &str = "the account changed while signing in (a ban, a password change or a sign-out); sign in again";

impl<'s> JwtIssuer<'s> {
    /// An issuer of client tokens (no device, no refresh token).
    pub fn for_client(svc: &'s TokenService) -> Self {
        Self { svc, device: None, identity: None, refresh: false, issued: None, failure: None }
    }

    /// An issuer of user tokens bound to `device` for `holder`; `refresh`: whether the client
    /// may refresh (only then is a refresh token issued).
    pub fn for_device(svc: &'s TokenService, device: DeviceContext, holder: Holder, refresh: bool) -> Self {
        Self { svc, device: Some((device, holder)), identity: None, refresh, issued: None, failure: None }
    }

    /// Makes this an issuer of user tokens (see `for_device`).
    pub fn set_device(&mut self, device: DeviceContext, holder: Holder, refresh: bool) {
        self.device = Some((device, holder));
        self.refresh = refresh;
    }

    /// The user an ID token would be about, and the authorization request's `nonce`: with a
    /// scope that has `openid`, one is minted with the access token.
    pub(crate) fn set_identity(&mut self, user: User, nonce: Option<String>) {
        self.identity = Some(Identity { user, nonce });
    }

    /// Makes `issue` refuse with `e`.
    pub fn refuse(&mut self, e: OAuthError) {
        self.device = None;
        self.failure = Some(e);
    }

    pub fn take_issued(&mut self) -> Option<Issued> {
        self.issued.take()
    }

    pub fn take_failure(&mut self) -> Option<OAuthError> {
        self.failure.take()
    }

    fn fail<T>(&mut self, why: &str) -> Result<T, ()> {
        self.failure = Some(OAuthError::broken(format!("token issuing failed: {why}")));
        Err(())
    }

    fn fail_with<T>(&mut self, cause: Cause) -> Result<T, ()> {
        self.failure = Some(OAuthError::Server(cause));
        Err(())
    }

    /// A token not minted: 503 when the signers are full (nothing was stored yet), else ours.
    fn sign_failed<T>(&mut self, e: crate::signing::SignError) -> Result<T, ()> {
        match e {
            crate::signing::SignError::Busy => {
                self.failure = Some(signers_busy());
                Err(())
            }
            e => self.fail_with(Cause::context("minting an access token", e)),
        }
    }

    async fn issue_user(&mut self, grant: &Grant, device: DeviceContext, holder: Holder) -> Result<Issued, ()> {
        let svc = self.svc;
        let (Ok(user_id), Ok(client_id)) = (UserId::parse(&grant.owner_id), ClientId::parse(&grant.client_id)) else {
            return self.fail("grant carries malformed ids");
        };
        let now = mint_time(svc, &holder.cutoffs, None).await;
        let scope = normalized_scope(grant);
        let sid = SessionId::generate();
        let ring = svc.deps.issuance.keys.current();
        let id_token = self.identity.as_ref().and_then(|i| i.input(&scope, holder.authenticated.at));
        let input = MintInput {
            sub: user_id.as_str(),
            client_id: client_id.as_str(),
            scope: &scope,
            sid: Some(sid.as_str()),
            dfp: Some(device.fingerprint.as_str()),
            id_token: id_token.as_ref(),
        };
        let minted =
            match svc.deps.issuance.signer.mint(&svc.deps.issuance.minter, ring, input, now, WhenFull::Refuse).await {
                Ok(minted) => minted,
                Err(e) => return self.sign_failed(e),
            };
        let policy = svc.deps.issuance.policy;
        let absolute = now + policy.session_absolute_ttl;
        let idle = (now + policy.refresh_idle_ttl).min(absolute);
        let refresh = self.refresh.then(|| Secret::generate(REFRESH_TOKEN_PREFIX));
        let session = DeviceSession {
            id: sid,
            user_id,
            client_id,
            device_id: device.device_id.clone(),
            fingerprint: device.fingerprint.into_string(),
            browser: device.families.browser,
            os: device.families.os,
            device: device.families.device,
            scope,
            last_ip: device.ip,
            first_seen: now,
            last_seen: now,
            auth_time: Some(holder.authenticated.at),
            idle_expires_at: idle,
            absolute_expires_at: absolute,
            revoked_at: None,
            revoked_reason: None,
        };
        let first = refresh.as_ref().map(|r| NewRefreshToken {
            id: new_token_id(),
            token_hash: svc.deps.hasher.hash(r.expose()),
            issued_at: now,
            expires_at: idle,
        });
        match svc.deps.issuance.sessions.create(&session, first.as_ref(), holder.authenticated).await {
            Ok(Opened::Opened) => {}
            Ok(Opened::Refused) => {
                self.failure = Some(OAuthError::InvalidGrant(RACED.into()));
                return Err(());
            }
            Err(e) => {
                self.failure = Some(OAuthError::server("storing a device session", e));
                return Err(());
            }
        }
        Ok(Issued {
            minted,
            refresh,
            device_id: Some(device.device_id),
            expires_in: svc.deps.issuance.minter.ttl.num_seconds().max(0) as u64,
        })
    }
}

/// The granted scope in our canonical (sorted) spelling; oxide-auth's set has no order.
fn normalized_scope(grant: &Grant) -> String {
    let raw = grant.scope.to_string();
    raw.parse::<portcullis_domain::scope::Scope>().map(|s| s.to_string()).unwrap_or(raw)
}

/// A fresh refresh-token row id (random, not secret: the token itself is the secret).
pub(crate) fn new_token_id() -> String {
    SessionId::generate().into_string()
}

/// The answer when every signer is busy and the queue is full.
pub(crate) fn signers_busy() -> OAuthError {
    OAuthError::Unavailable {
        retry_after: 1,
        description: "the server is too busy signing tokens; retry after Retry-After".into(),
    }
}

#[async_trait]
impl Issuer for JwtIssuer<'_> {
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        if self.failure.is_some() {
            return Err(());
        }
        let now = self.svc.deps.clock.now();
        let issued = match self.device.take() {
            Some((device, holder)) => self.issue_user(&grant, device, holder).await?,
            None => {
                let ring = self.svc.deps.issuance.keys.current();
                let scope = normalized_scope(&grant);
                let input = MintInput {
                    sub: &grant.owner_id,
                    client_id: &grant.client_id,
                    scope: &scope,
                    sid: None,
                    dfp: None,
                    id_token: None,
                };
                let issuance = &self.svc.deps.issuance;
                match issuance.signer.mint(&issuance.minter, ring, input, now, WhenFull::Refuse).await {
                    Ok(minted) => Issued {
                        minted,
                        refresh: None,
                        device_id: None,
                        expires_in: self.svc.deps.issuance.minter.ttl.num_seconds().max(0) as u64,
                    },
                    Err(e) => return self.sign_failed(e),
                }
            }
        };
        let token = IssuedToken {
            token: issued.minted.token.clone(),
            refresh: issued.refresh.as_ref().map(|s| s.expose().to_owned()),
            until: DateTime::from_timestamp(issued.minted.claims.exp, 0).unwrap_or(now),
            token_type: TokenType::Bearer,
        };
        self.issued = Some(issued);
        Ok(token)
    }

    async fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        // The refresh_token grant does not go through this issuer.
        Err(())
    }

    async fn recover_token(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }

    async fn recover_refresh(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}
