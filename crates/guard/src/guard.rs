//! [`Guard`]: one check of a presented access token, from its signature to the scopes the
//! resource needs, and a view of the background work (keys, revocation feed).

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use http::header::USER_AGENT;
use portcullis_proto::{AccessTokenClaims, TokenRef};
use tokio::sync::watch;

use crate::device::{self, DEVICE_ID_HEADER};
use crate::error::{AuthError, InvalidToken};
use crate::feed::{FeedState, FeedStatus};
use crate::introspection::Introspector;
use crate::jws::{Jws, unix_now};
use crate::keys::Jwks;
use crate::scheme::{AuthSchemes, TokenPlaces, access_token_param};

/// Verifies Portcullis access tokens for one resource server. Cheap to clone; every clone shares
/// the keys, the revocations and the background tasks, which stop when the last clone is dropped.
#[derive(Clone)]
pub struct Guard(Arc<Inner>);

pub(crate) struct Inner {
    pub issuer: String,
    pub audience: String,
    pub schemes: AuthSchemes,
    pub places: TokenPlaces,
    pub device_binding: bool,
    pub keys: Arc<Jwks>,
    pub revocation: RevocationCheck,
    pub feed_status: Option<watch::Receiver<FeedStatus>>,
    pub _tasks: Tasks,
}

pub(crate) enum RevocationCheck {
    Off,
    Feed { state: Arc<FeedState>, blind: Blindness },
    Introspection(Introspector),
}

/// When the feed counts as blind (silent past `staleness`) and what the guard does then: refuse
/// every token (no fallback), or ask introspection about each.
pub(crate) struct Blindness {
    pub staleness: std::time::Duration,
    pub fallback: Option<Introspector>,
}

/// What a resource server's health check can say about its guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// How revocations are learnt: `feed`, `introspection` or `off`.
    pub revocation: &'static str,
    /// With the feed: a stream is open now.
    pub feed_connected: bool,
    /// With the feed: the first backlog has been received.
    pub feed_caught_up: bool,
    /// With the feed: how long since it last sent anything (events or keep-alives).
    pub feed_silent_for: Option<std::time::Duration>,
    /// With the feed: silent past the staleness limit, so revocations may be missed; tokens
    /// are refused, or checked by introspection, until it speaks again.
    pub blind: bool,
}

impl Health {
    /// Whether the guard can vouch for what it accepts: it is not blind.
    pub fn is_healthy(&self) -> bool {
        !self.blind
    }
}

/// What a request presents: its access token and, for device binding, its `X-Device-Id` and
/// `User-Agent`. `Debug` leaves the token out.
#[derive(Clone, Copy, Default)]
pub struct Presented<'a> {
    pub token: &'a str,
    pub device_id: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> Presented<'a> {
    /// Just a token: with device binding on, a bound token presented this way is refused.
    pub fn token(token: &'a str) -> Self {
        Self { token, device_id: None, user_agent: None }
    }

    pub fn with_device(self, device_id: Option<&'a str>, user_agent: Option<&'a str>) -> Self {
        Self { device_id, user_agent, ..self }
    }
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("token", &"<redacted>")
            .field("device_id", &self.device_id)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Guard {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// Checks a bare token: signature, claims and revocation. The same as [`Guard::check`] with
    /// no device and no scope.
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims, AuthError> {
        self.check(Presented::token(token), &[]).await
    }

    /// Checks the token of a request's headers (`Authorization`, and `X-Device-Id` and
    /// `User-Agent` when device binding is on) and that it carries every scope of `scopes`.
    pub async fn check_headers(&self, headers: &HeaderMap, scopes: &[&str]) -> Result<AccessTokenClaims, AuthError> {
        let token = self.0.schemes.token(headers)?;
        self.check_token(token, headers, scopes).await
    }

    /// As [`check_headers`](Self::check_headers), also taking the token from the request's
    /// query (`?access_token=`) when the guard opted in
    /// ([`GuardBuilder::token_in_query`](crate::GuardBuilder::token_in_query)), or from
    /// `form_body` (a form-encoded body's `access_token`, when it opted in to that). A token sent
    /// more than one way is refused (RFC 6750 §2).
    pub async fn check_request(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        form_body: Option<&str>,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims, AuthError> {
        let places = self.0.places;
        let from_query = match query {
            Some(q) if places.query => access_token_param(q)?,
            _ => None,
        };
        let from_body = match form_body {
            Some(b) if places.form_body => access_token_param(b)?,
            _ => None,
        };
        let from_header = match self.0.schemes.token(headers) {
            Ok(token) => Some(token),
            Err(AuthError::Missing) => None,
            Err(e) => return Err(e),
        };
        let token = match (from_header, from_query.as_deref(), from_body.as_deref()) {
            (Some(t), None, None) | (None, Some(t), None) | (None, None, Some(t)) => t,
            (None, None, None) => return Err(AuthError::Missing),
            _ => return Err(InvalidToken::SeveralMethods.into()),
        };
        self.check_token(token, headers, scopes).await
    }

    /// Where else than `Authorization` this guard reads tokens.
    pub fn token_places(&self) -> TokenPlaces {
        self.0.places
    }

    async fn check_token(
        &self,
        token: &str,
        headers: &HeaderMap,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims, AuthError> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let presented =
            Presented { token, device_id: header(DEVICE_ID_HEADER), user_agent: header(USER_AGENT.as_str()) };
        self.check(presented, scopes).await
    }

    /// Checks a presented token, in this order: shape and header (RS256, `at+jwt`, `kid`), the
    /// signature under the issuer's key of that `kid`, `iss`, `aud`, `exp` and `nbf`, revocation,
    /// device binding (when on), and finally that it carries every scope of `scopes`.
    pub async fn check(&self, presented: Presented<'_>, scopes: &[&str]) -> Result<AccessTokenClaims, AuthError> {
        let outcome = self.check_inner(presented, scopes).await;
        if let Err(error) = &outcome {
            tracing::debug!(%error, "access token refused");
        }
        outcome
    }

    async fn check_inner(&self, presented: Presented<'_>, scopes: &[&str]) -> Result<AccessTokenClaims, AuthError> {
        let inner = &*self.0;
        let jws = Jws::parse(presented.token)?;
        match self.verify_with_current_keys(&jws) {
            Some(verified) => verified?,
            None => {
                if !inner.keys.refetch_for(&jws.kid).await {
                    return Err(InvalidToken::UnknownKey.into());
                }
                self.verify_with_current_keys(&jws).unwrap_or(Err(InvalidToken::UnknownKey))?;
            }
        }
        let claims = jws.claims(&inner.issuer, &inner.audience, unix_now())?;

        match &inner.revocation {
            RevocationCheck::Off => {}
            RevocationCheck::Feed { state, blind } => {
                if !state.is_open() {
                    return Err(AuthError::Unavailable);
                }
                if state.is_revoked(&TokenRef::from(&claims)) {
                    return Err(InvalidToken::Revoked.into());
                }
                let silent = state.silent_for();
                if silent >= blind.staleness {
                    // Blind: a kick made since the feed went silent would be missed.
                    match &blind.fallback {
                        None => {
                            tracing::warn!(silent_secs = silent.as_secs(), "revocation feed is stale; refusing tokens");
                            return Err(AuthError::Unavailable);
                        }
                        Some(introspector) => match introspector.is_active(presented.token, &claims).await {
                            Ok(true) => {}
                            Ok(false) => return Err(InvalidToken::Revoked.into()),
                            Err(error) => {
                                tracing::warn!(%error, "feed stale and introspection failed; refusing the token");
                                return Err(AuthError::Unavailable);
                            }
                        },
                    }
                }
            }
            RevocationCheck::Introspection(introspector) => {
                match introspector.is_active(presented.token, &claims).await {
                    Ok(true) => {}
                    Ok(false) => return Err(InvalidToken::Revoked.into()),
                    Err(error) => {
                        tracing::warn!(%error, "introspection failed; refusing the token for now");
                        return Err(AuthError::Unavailable);
                    }
                }
            }
        }

        if inner.device_binding {
            device::check(&claims, presented.device_id, presented.user_agent)?;
        }
        if !scopes.iter().all(|s| claims.has_scope(s)) {
            return Err(AuthError::InsufficientScope { required: scopes.join(" ") });
        }
        Ok(claims)
    }

    /// `None` when no current key has the token's `kid`.
    fn verify_with_current_keys(&self, jws: &Jws<'_>) -> Option<Result<(), InvalidToken>> {
        let keys = self.0.keys.current();
        keys.find(&jws.kid).map(|k| jws.verify_signature(&k.key))
    }

    /// The `iss` tokens must carry.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// The `aud` tokens must carry.
    pub fn audience(&self) -> &str {
        &self.0.audience
    }

    /// The authentication schemes accepted in `Authorization`.
    pub fn schemes(&self) -> &AuthSchemes {
        &self.0.schemes
    }

    /// The revocation feed's progress, to read or to wait on (`wait_for`); `None` unless the
    /// guard follows the feed.
    pub fn feed_status(&self) -> Option<watch::Receiver<FeedStatus>> {
        self.0.feed_status.clone()
    }

    /// Completes once the revocation feed has sent its first `caught-up`: from then on every
    /// revocation the issuer had recorded is known. Completes at once when the guard does not
    /// follow the feed. Bound the wait with `tokio::time::timeout`.
    pub async fn caught_up(&self) {
        if let Some(mut status) = self.feed_status() {
            // An error means the follower is gone (the guard is being dropped): nothing to wait for.
            let _ = status.wait_for(|s| s.caught_up).await;
        }
    }

    /// Revocations held in memory (sessions, tokens and users), when following the feed.
    pub fn revocations_held(&self) -> usize {
        match &self.0.revocation {
            RevocationCheck::Feed { state, .. } => state.len(),
            _ => 0,
        }
    }

    /// The guard's health, for the resource server's own `/readyz`: unhealthy while blind.
    pub fn health(&self) -> Health {
        let status = self.0.feed_status.as_ref().map(|s| s.borrow().clone()).unwrap_or_default();
        match &self.0.revocation {
            RevocationCheck::Feed { state, blind } => {
                let silent = state.silent_for();
                Health {
                    revocation: "feed",
                    feed_connected: status.connected,
                    feed_caught_up: status.caught_up,
                    feed_silent_for: Some(silent),
                    blind: silent >= blind.staleness,
                }
            }
            other => Health {
                revocation: if matches!(other, RevocationCheck::Off) { "off" } else { "introspection" },
                feed_connected: false,
                feed_caught_up: false,
                feed_silent_for: None,
                blind: false,
            },
        }
    }

    /// Requests made for the JWKS so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.0.keys.fetches()
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("issuer", &self.0.issuer)
            .field("audience", &self.0.audience)
            .field("jwks_uri", &self.0.keys.uri())
            .finish_non_exhaustive()
    }
}

/// The background tasks of one guard, aborted when it is dropped.
#[derive(Default)]
pub(crate) struct Tasks(Vec<tokio::task::AbortHandle>);

impl Tasks {
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task).abort_handle());
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
