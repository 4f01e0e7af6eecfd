//! [`GuardBuilder`]: the options of a [`Guard`], and `build`, which discovers the issuer's
//! metadata, fetches its keys and starts the background tasks.

use std::sync::Arc;
use std::time::Duration;

use portcullis_proto::ServerMetadata;
use tokio::sync::watch;

use crate::client::{ClientCredentials, read_json};
use crate::error::{BuildError, FetchError};
use crate::feed::{DEFAULT_SILENCE_TIMEOUT, FeedState, FeedStatus, Follower, prune_forever};
use crate::guard::{Blindness, Guard, Inner, RevocationCheck, Tasks};
use crate::introspection::Introspector;
use crate::keys::Jwks;
use crate::scheme::{AuthSchemes, TokenPlaces};

/// Where the metadata is, relative to the issuer (RFC 8414 §3).
pub const DISCOVERY_PATH: &str = "/.well-known/oauth-authorization-server";
/// The audience checked unless [`GuardBuilder::audience`] says otherwise.
pub const DEFAULT_AUDIENCE: &str = "api";
/// Time allowed for one request to the issuer (metadata, JWKS, introspection).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`FeedStartup::default`] refuses tokens while the feed has not caught up.
pub const DEFAULT_FAIL_CLOSED_FOR: Duration = Duration::from_secs(10);
/// How long the feed may send nothing (the server sends a keep-alive every 5 s) before the
/// guard counts itself blind.
pub const DEFAULT_FEED_STALENESS: Duration = Duration::from_secs(30);

/// What the guard does with tokens while its feed is blind: silent past the staleness limit,
/// so that a kick made meanwhile would go unseen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WhenBlind {
    /// Refuse every token (503) until the feed speaks again: the default, fail closed.
    Refuse,
    /// Ask the issuer's introspection endpoint about each token, remembering each answer for
    /// `cache_ttl`; refuse (503) when that fails too.
    Introspect { cache_ttl: Duration },
}

/// How the guard learns that a token was revoked before it expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Follow the issuer's revocation feed (the default): kicks, bans and logouts reach the
    /// guard within a second, and each check is an in-memory lookup. Needs client credentials.
    Feed,
    /// Ask the issuer's introspection endpoint about each token, remembering each answer for
    /// `cache_ttl` (a revocation may go unnoticed that long). Needs client credentials.
    Introspection { cache_ttl: Duration },
    /// Trust a token with a good signature until it expires.
    Off,
}

/// What the guard does with tokens before the revocation feed has sent its first `caught-up`,
/// that is before it knows which sessions are already revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedStartup {
    /// Refuse every token (503) until the feed has caught up, however long that takes.
    FailClosed,
    /// Accept tokens at once, with whatever revocations are known so far.
    FailOpen,
    /// Refuse tokens until the feed has caught up or this much time has passed since `build`,
    /// whichever comes first; then accept them (logging a warning) while the feed keeps trying.
    FailClosedFor(Duration),
}

impl Default for FeedStartup {
    /// [`FeedStartup::FailClosedFor`] [`DEFAULT_FAIL_CLOSED_FOR`]: a healthy feed catches up in
    /// milliseconds, so the window only matters when the issuer is down as the resource server
    /// starts; then a revoked session could be honoured, but only for tokens that are still
    /// unexpired, and a resource server that stays unavailable because its issuer is would turn
    /// an issuer outage into a full outage.
    fn default() -> Self {
        Self::FailClosedFor(DEFAULT_FAIL_CLOSED_FOR)
    }
}

/// Options of a [`Guard`]; start from [`Guard::builder`].
#[derive(Clone, Debug)]
pub struct GuardBuilder {
    issuer: String,
    audience: String,
    credentials: Option<ClientCredentials>,
    revocation: Revocation,
    feed_startup: FeedStartup,
    feed_silence: Duration,
    feed_staleness: Duration,
    when_blind: WhenBlind,
    device_binding: bool,
    schemes: AuthSchemes,
    places: TokenPlaces,
    http_timeout: Duration,
}

impl Guard {
    /// Options for a guard of the tokens `issuer` mints (e.g. `http://127.0.0.1:8080`).
    pub fn builder(issuer: impl Into<String>) -> GuardBuilder {
        GuardBuilder::new(issuer.into())
    }
}

impl GuardBuilder {
    pub(crate) fn new(issuer: String) -> Self {
        Self {
            issuer,
            audience: DEFAULT_AUDIENCE.to_owned(),
            credentials: None,
            revocation: Revocation::Feed,
            feed_startup: FeedStartup::default(),
            feed_silence: DEFAULT_SILENCE_TIMEOUT,
            feed_staleness: DEFAULT_FEED_STALENESS,
            when_blind: WhenBlind::Refuse,
            device_binding: false,
            schemes: AuthSchemes::default(),
            places: TokenPlaces::default(),
            http_timeout: DEFAULT_HTTP_TIMEOUT,
        }
    }

    /// The `aud` every token must carry; [`DEFAULT_AUDIENCE`] unless set.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The confidential client the guard authenticates as at the feed and the introspection
    /// endpoint.
    pub fn client_credentials(mut self, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.credentials = Some(ClientCredentials::new(client_id, client_secret));
        self
    }

    /// How revocations are learnt; [`Revocation::Feed`] unless set.
    pub fn revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// What happens before the feed has caught up; [`FeedStartup::default`] unless set.
    pub fn feed_startup(mut self, startup: FeedStartup) -> Self {
        self.feed_startup = startup;
        self
    }

    /// How long the feed may stay silent before the guard reconnects;
    /// [`DEFAULT_SILENCE_TIMEOUT`] (15 s) unless set.
    pub fn feed_silence_timeout(mut self, timeout: Duration) -> Self {
        self.feed_silence = timeout;
        self
    }

    /// How long the feed may send nothing before the guard is blind ([`Guard::health`] says so)
    /// and applies [`WhenBlind`]; [`DEFAULT_FEED_STALENESS`] (30 s) unless set. Set it above
    /// the silence timeout, so that a reconnect gets its chance first.
    pub fn feed_staleness(mut self, staleness: Duration) -> Self {
        self.feed_staleness = staleness;
        self
    }

    /// What to do with tokens while the feed is blind; [`WhenBlind::Refuse`] unless set.
    pub fn when_blind(mut self, policy: WhenBlind) -> Self {
        self.when_blind = policy;
        self
    }

    /// Require user tokens to be presented from the device they were issued to: `dfp` must match
    /// the request's `X-Device-Id` and `User-Agent`. Off unless set.
    pub fn device_binding(mut self, on: bool) -> Self {
        self.device_binding = on;
        self
    }

    /// Also accept tokens sent as `Authorization: <scheme> <token>` (e.g. `JWT`). Only `Bearer`
    /// is accepted unless set.
    pub fn accept_scheme(mut self, scheme: &str) -> Self {
        self.schemes.accept(scheme);
        self
    }

    /// Also accept the token as the `access_token` query parameter (RFC 6750 §2.3), for browser
    /// APIs that cannot set a header (`EventSource`, WebSocket). Off unless set. The risk: a URL
    /// is logged by proxies and servers, kept in browser history and sent on in `Referer`, so a
    /// token in it leaks where a header would not — use short-lived tokens, `Cache-Control:
    /// no-store` and `Referrer-Policy: no-referrer` on such responses, and keep it to the routes
    /// that need it.
    pub fn token_in_query(mut self, on: bool) -> Self {
        self.places.query = on;
        self
    }

    /// Also accept the token as `access_token` in an `application/x-www-form-urlencoded` body
    /// (RFC 6750 §2.2; not for `GET`). Off unless set; read by [`GuardLayer`](crate::GuardLayer)
    /// only, which buffers the body (up to 64 KiB) and passes it on unchanged. The risk: the
    /// token travels with the form's data, into any log or cache that keeps request bodies.
    pub fn token_in_form_body(mut self, on: bool) -> Self {
        self.places.form_body = on;
        self
    }

    /// Time allowed for each request to the issuer; [`DEFAULT_HTTP_TIMEOUT`] unless set.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Discovers the issuer's metadata, fetches its keys and starts following revocations.
    /// Fails when the issuer cannot be reached now: without its keys no token can be checked.
    /// Must run inside a Tokio runtime; the background tasks stop when the last clone of the
    /// [`Guard`] is dropped.
    pub async fn build(self) -> Result<Guard, BuildError> {
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let valid =
            reqwest::Url::parse(&issuer).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !valid {
            return Err(BuildError::IssuerUrl(self.issuer));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.http_timeout)
            .user_agent(concat!("portcullis-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;

        let metadata = discover(&http, &issuer, self.http_timeout).await?;
        if metadata.issuer.trim_end_matches('/') != issuer {
            return Err(BuildError::IssuerMismatch { expected: issuer, found: metadata.issuer });
        }

        let keys = Arc::new(Jwks::new(metadata.jwks_uri.clone(), http.clone(), self.http_timeout));
        let (max_age, n) =
            keys.fetch().await.map_err(|source| BuildError::Jwks { url: metadata.jwks_uri.clone(), source })?;
        if n == 0 {
            return Err(BuildError::NoKeys(metadata.jwks_uri));
        }
        let mut tasks = Tasks::default();
        tasks.spawn(keys.clone().refresh_forever(max_age));

        let mut feed_status = None;
        let revocation = match self.revocation {
            Revocation::Off => RevocationCheck::Off,
            Revocation::Introspection { cache_ttl } => {
                let credentials = self.credentials.ok_or(BuildError::MissingCredentials("introspection"))?;
                RevocationCheck::Introspection(Introspector::new(
                    http,
                    metadata.introspection_endpoint,
                    credentials.basic_header(),
                    self.http_timeout,
                    cache_ttl,
                ))
            }
            Revocation::Feed => {
                let credentials = self.credentials.ok_or(BuildError::MissingCredentials("the revocation feed"))?;
                let endpoint = metadata.revocation_feed_endpoint.ok_or(BuildError::NoFeed)?;
                let fallback = match self.when_blind {
                    WhenBlind::Refuse => None,
                    WhenBlind::Introspect { cache_ttl } => Some(Introspector::new(
                        http.clone(),
                        metadata.introspection_endpoint.clone(),
                        credentials.basic_header(),
                        self.http_timeout,
                        cache_ttl,
                    )),
                };
                let blind = Blindness { staleness: self.feed_staleness, fallback };
                let state = Arc::new(FeedState::new(self.feed_startup == FeedStartup::FailOpen));
                let (status, receiver) = watch::channel(FeedStatus::default());
                feed_status = Some(receiver);
                let follower = Follower {
                    http,
                    endpoint,
                    authorization: credentials.basic_header(),
                    issuer: metadata.issuer.clone(),
                    silence: self.feed_silence,
                    state: state.clone(),
                    status,
                };
                tasks.spawn(follower.run());
                tasks.spawn(prune_forever(state.clone()));
                if let FeedStartup::FailClosedFor(limit) = self.feed_startup {
                    let state = state.clone();
                    tasks.spawn(async move {
                        tokio::time::sleep(limit).await;
                        if !state.is_open() {
                            tracing::warn!(
                                after_secs = limit.as_secs(),
                                "the revocation feed has not caught up; accepting tokens with the revocations known so far"
                            );
                            state.open();
                        }
                    });
                }
                RevocationCheck::Feed { state, blind }
            }
        };

        Ok(Guard::from_inner(Inner {
            issuer: metadata.issuer,
            audience: self.audience,
            schemes: self.schemes,
            places: self.places,
            device_binding: self.device_binding,
            keys,
            revocation,
            feed_status,
            _tasks: tasks,
        }))
    }
}

async fn discover(http: &reqwest::Client, issuer: &str, timeout: Duration) -> Result<ServerMetadata, BuildError> {
    let url = format!("{issuer}{DISCOVERY_PATH}");
    let fetch = async {
        let response = http.get(&url).timeout(timeout).send().await?;
        read_json::<ServerMetadata>(response).await
    };
    fetch.await.map_err(|source: FetchError| BuildError::Discovery { url, source })
}
