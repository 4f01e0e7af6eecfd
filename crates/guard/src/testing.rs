//! Feature `testing`: [`FakeIssuer`], a small in-process authorization server (metadata, JWKS with
//! `Cache-Control`, a revocation feed you drive, introspection) and [`TestKey`] to mint tokens,
//! so that services embedding the guard can be tested without a real Portcullis.
//!
//! Not for production: keys are generated on the fly and nothing is persisted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_proto::feed::{CaughtUp, FeedSubject, SESSION_REVOKED, SubjectId};
use portcullis_proto::{
    ACCESS_TOKEN_TYP, AccessTokenClaims, FeedEvent, IntrospectionResponse, Jwk, JwkSet, RevocationSet, ServerMetadata,
    TokenRef,
};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use tokio::sync::{broadcast, mpsc, watch};

use crate::jws::unix_now;

/// The confidential client the fake issuer accepts at its feed and introspection endpoint.
pub const CLIENT_ID: &str = "resource-server";
pub const CLIENT_SECRET: &str = "resource-server-secret";
/// The audience of the tokens it mints.
pub const AUDIENCE: &str = "api";
/// Lifetime of the tokens it mints.
pub const TOKEN_TTL_SECS: i64 = 900;
/// The `retry:` its feed sends, in milliseconds (short, so tests reconnect quickly).
pub const FEED_RETRY_MS: u64 = 100;

/// An RSA-2048 signing key and its public forms.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub jwk: Jwk,
    /// The public key as SPKI PEM (what an HS256 confusion attack would use as the secret).
    pub public_key_pem: String,
    /// The public key as PKCS#1 DER.
    pub public_key_der: Vec<u8>,
    encoding: EncodingKey,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Keys generated so far in this process: RSA generation is slow, tests reuse them.
static POOL: Mutex<Vec<TestKey>> = Mutex::new(Vec::new());

impl TestKey {
    /// A fresh key; its `kid` is its RFC 7638 thumbprint.
    pub fn generate() -> Self {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation");
        let public = private.to_public_key();
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()));
        let der = private.to_pkcs1_der().expect("PKCS#1 DER");
        Self {
            jwk: Jwk::rs256(kid.clone(), n, e),
            kid,
            public_key_pem: public.to_public_key_pem(LineEnding::LF).expect("SPKI PEM"),
            public_key_der: public.to_pkcs1_der().expect("PKCS#1 DER").as_bytes().to_vec(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        }
    }

    /// The `n`-th key of this process's pool, generated on first use. Different `n`, different key.
    pub fn pooled(n: usize) -> Self {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        while pool.len() <= n {
            pool.push(Self::generate());
        }
        pool[n].clone()
    }

    /// The same key material published under another `kid`.
    pub fn with_kid(&self, kid: &str) -> Self {
        let mut key = self.clone();
        key.kid = kid.to_owned();
        key.jwk.kid = kid.to_owned();
        key
    }

    /// An RS256 `at+jwt` token of `claims`, naming this key's `kid`.
    pub fn sign(&self, claims: &AccessTokenClaims) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        self.sign_with(&header, claims)
    }

    /// A token with any header (RS256 is the only algorithm this key signs).
    pub fn sign_with(&self, header: &Header, claims: &impl serde::Serialize) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).expect("signing")
    }
}

/// A fake Portcullis on `127.0.0.1:<random port>`. Dropping it stops it.
pub struct FakeIssuer {
    url: String,
    state: Arc<Shared>,
    server: tokio::task::AbortHandle,
}

struct Shared {
    issuer: String,
    keys: Mutex<Keys>,
    jwks_max_age: AtomicU64,
    jwks_fetches: AtomicUsize,
    down: AtomicBool,
    feed: Mutex<Vec<FeedEvent>>,
    live: broadcast::Sender<FeedEvent>,
    /// Bumped to end every open feed stream.
    cut: watch::Sender<u64>,
    feed_silent: AtomicBool,
    feed_connections: Mutex<Vec<Option<String>>>,
    introspections: AtomicUsize,
}

struct Keys {
    published: Vec<TestKey>,
    signing: TestKey,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeIssuer {
    /// Starts a fake issuer signing with [`TestKey::pooled`]`(0)`, its JWKS cached for 300 s.
    pub async fn start() -> Self {
        Self::start_with_key(TestKey::pooled(0)).await
    }

    pub async fn start_with_key(key: TestKey) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Shared {
            issuer: url.clone(),
            keys: Mutex::new(Keys { published: vec![key.clone()], signing: key }),
            jwks_max_age: AtomicU64::new(300),
            jwks_fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            feed: Mutex::new(Vec::new()),
            live: broadcast::channel(1024).0,
            cut: watch::channel(0).0,
            feed_silent: AtomicBool::new(false),
            feed_connections: Mutex::new(Vec::new()),
            introspections: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/oauth2/revocation-feed", get(feed))
            .route("/oauth2/introspect", post(introspect))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
        .abort_handle();
        Self { url, state, server }
    }

    /// The issuer URL, also the `iss` of its tokens.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Claims of a fresh user token: new `jti` and `sid`, issued now, valid [`TOKEN_TTL_SECS`].
    pub fn claims(&self, sub: &str, scope: &str) -> AccessTokenClaims {
        let now = unix_now();
        AccessTokenClaims {
            iss: self.url.clone(),
            sub: sub.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: now + TOKEN_TTL_SECS,
            iat: now,
            nbf: now,
            jti: random_id(),
            client_id: "app".to_owned(),
            scope: scope.to_owned(),
            sid: Some(random_id()),
            dfp: None,
        }
    }

    /// `claims` signed by the current signing key.
    pub fn mint(&self, claims: &AccessTokenClaims) -> String {
        lock(&self.state.keys).signing.sign(claims)
    }

    /// A fresh user token and its claims.
    pub fn token(&self, sub: &str, scope: &str) -> (String, AccessTokenClaims) {
        let claims = self.claims(sub, scope);
        (self.mint(&claims), claims)
    }

    pub fn signing_key(&self) -> TestKey {
        lock(&self.state.keys).signing.clone()
    }

    /// Publishes `key` in the JWKS and signs with it from now on; the old key stays published.
    pub fn rotate_to(&self, key: TestKey) {
        let mut keys = lock(&self.state.keys);
        keys.published.retain(|k| k.kid != key.kid);
        keys.published.push(key.clone());
        keys.signing = key;
    }

    /// Removes a key from the JWKS.
    pub fn retire(&self, kid: &str) {
        lock(&self.state.keys).published.retain(|k| k.kid != kid);
    }

    /// The `max-age` of the JWKS responses from now on.
    pub fn set_jwks_max_age(&self, secs: u64) {
        self.state.jwks_max_age.store(secs, Ordering::Relaxed);
    }

    /// JWKS requests served so far.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::Relaxed)
    }

    /// Down: every endpoint answers 503 and every open feed stream ends.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::Relaxed);
        if down {
            self.drop_feed_connections();
        }
    }

    /// Ends every open feed stream (the followers should reconnect with `Last-Event-ID`).
    pub fn drop_feed_connections(&self) {
        self.state.cut.send_modify(|n| *n += 1);
    }

    /// Silent: new feed streams are answered 200 but never sent a byte.
    pub fn set_feed_silent(&self, silent: bool) {
        self.state.feed_silent.store(silent, Ordering::Relaxed);
    }

    /// The `Last-Event-ID` (or `?after=`) of every feed request so far, in order.
    pub fn feed_connections(&self) -> Vec<Option<String>> {
        lock(&self.state.feed_connections).clone()
    }

    /// Introspection requests served so far.
    pub fn introspections(&self) -> usize {
        self.state.introspections.load(Ordering::Relaxed)
    }

    /// Records a revocation and sends it to every open feed stream; returns its id.
    pub fn push_event(&self, subject: FeedSubject, not_before: Option<i64>, except_session: Option<&str>) -> i64 {
        let now = unix_now();
        let mut log = lock(&self.state.feed);
        let id = log.last().map_or(1, |e| e.id + 1);
        let event = FeedEvent {
            id,
            kind: SESSION_REVOKED.to_owned(),
            iss: self.url.clone(),
            event_timestamp: now,
            initiating_entity: "admin".to_owned(),
            reason_admin: HashMap::from([("en".to_owned(), "kicked".to_owned())]),
            subject,
            not_before,
            except_session: except_session.map(str::to_owned),
            expires_at: now + TOKEN_TTL_SECS + 60,
        };
        log.push(event.clone());
        // Sent under the log's lock, so a stream never sees an event both in its backlog and live.
        let _ = self.state.live.send(event);
        id
    }

    /// Kicks one device session.
    pub fn revoke_session(&self, sub: &str, sid: &str) -> i64 {
        let user = Some(SubjectId::iss_sub(&self.url, sub));
        self.push_event(
            FeedSubject { user, session: Some(SubjectId::opaque(sid)), ..FeedSubject::default() },
            None,
            None,
        )
    }

    /// Revokes one token by `jti`.
    pub fn revoke_token(&self, jti: &str) -> i64 {
        self.push_event(FeedSubject { token: Some(SubjectId::opaque(jti)), ..FeedSubject::default() }, None, None)
    }

    /// Revokes every token of `sub` issued at or before `not_before` (a ban), but those of
    /// `except_session` (a password change).
    pub fn revoke_user(&self, sub: &str, not_before: i64, except_session: Option<&str>) -> i64 {
        let user = Some(SubjectId::iss_sub(&self.url, sub));
        self.push_event(FeedSubject { user, ..FeedSubject::default() }, Some(not_before), except_session)
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.server.abort();
        self.drop_feed_connections();
    }
}

fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "down for the test").into_response()
}

fn authenticated(headers: &HeaderMap) -> bool {
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

fn invalid_client() -> Response {
    let body = serde_json::json!({"error": "invalid_client", "error_description": "client authentication failed"});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn metadata(State(s): State<Arc<Shared>>) -> Response {
    if s.down.load(Ordering::Relaxed) {
        return unavailable();
    }
    let url = |p: &str| format!("{}{p}", s.issuer);
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    axum::Json(ServerMetadata {
        issuer: s.issuer.clone(),
        authorization_endpoint: url("/oauth2/authorize"),
        token_endpoint: url("/oauth2/token"),
        jwks_uri: url("/.well-known/jwks.json"),
        revocation_endpoint: url("/oauth2/revoke"),
        introspection_endpoint: url("/oauth2/introspect"),
        revocation_feed_endpoint: Some(url("/oauth2/revocation-feed")),
        grant_types_supported: strings(&["password", "client_credentials", "refresh_token"]),
        response_types_supported: strings(&["code"]),
        token_endpoint_auth_methods_supported: strings(&["client_secret_basic"]),
        revocation_endpoint_auth_methods_supported: strings(&["client_secret_basic"]),
        introspection_endpoint_auth_methods_supported: strings(&["client_secret_basic"]),
        code_challenge_methods_supported: strings(&["S256"]),
        scopes_supported: strings(&["read", "write"]),
    })
    .into_response()
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    if s.down.load(Ordering::Relaxed) {
        return unavailable();
    }
    s.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    let set = JwkSet { keys: lock(&s.keys).published.iter().map(|k| k.jwk.clone()).collect() };
    let cache = format!("public, max-age={}", s.jwks_max_age.load(Ordering::Relaxed));
    let cache = HeaderValue::from_str(&cache).unwrap_or(HeaderValue::from_static("no-cache"));
    ([(header::CACHE_CONTROL, cache)], axum::Json(set)).into_response()
}

#[derive(serde::Deserialize)]
struct After {
    after: Option<String>,
}

async fn feed(State(s): State<Arc<Shared>>, headers: HeaderMap, Query(q): Query<After>) -> Response {
    if s.down.load(Ordering::Relaxed) {
        return unavailable();
    }
    if !authenticated(&headers) {
        return invalid_client();
    }
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(q.after);
    lock(&s.feed_connections).push(resume.clone());
    let after = match resume.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "after must be an integer").into_response(),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    if !s.feed_silent.load(Ordering::Relaxed) {
        let now = unix_now();
        let (backlog, live) = {
            let log = lock(&s.feed);
            let backlog: Vec<FeedEvent> =
                log.iter().filter(|e| after.map_or(e.expires_at > now, |a| e.id > a)).cloned().collect();
            (backlog, s.live.subscribe())
        };
        let last = backlog.last().map_or(after.unwrap_or(0), |e| e.id);
        tokio::spawn(stream_feed(tx, backlog, last, live, s.cut.subscribe()));
    } else {
        // Keep the sender alive with the stream, so the body stays open and silent until cut.
        let mut cut = s.cut.subscribe();
        cut.borrow_and_update();
        tokio::spawn(async move {
            tokio::select! {
                _ = tx.closed() => {}
                _ = cut.changed() => {}
            }
        });
    }
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    }));
    let sse = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    (sse, body).into_response()
}

fn frame(e: &FeedEvent) -> Bytes {
    let data = serde_json::to_string(e).unwrap_or_default();
    Bytes::from(format!("id: {}\nevent: session-revoked\ndata: {data}\n\n", e.id))
}

async fn stream_feed(
    tx: mpsc::Sender<Bytes>,
    backlog: Vec<FeedEvent>,
    mut last: i64,
    mut live: broadcast::Receiver<FeedEvent>,
    mut cut: watch::Receiver<u64>,
) {
    cut.borrow_and_update();
    let _ = tx.send(Bytes::from(format!("retry: {FEED_RETRY_MS}\n\n"))).await;
    for e in &backlog {
        if tx.send(frame(e)).await.is_err() {
            return;
        }
    }
    let caught_up = serde_json::to_string(&CaughtUp { last_id: last }).unwrap_or_default();
    let _ = tx.send(Bytes::from(format!("event: caught-up\ndata: {caught_up}\n\n"))).await;
    let mut keep_alive = tokio::time::interval(Duration::from_secs(5));
    keep_alive.tick().await;
    loop {
        let out = tokio::select! {
            event = live.recv() => match event {
                Ok(e) if e.id > last => {
                    last = e.id;
                    frame(&e)
                }
                Ok(_) => continue,
                // A follower too slow to keep up is dropped, as the real server does.
                Err(_) => return,
            },
            _ = cut.changed() => return,
            _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

#[derive(serde::Deserialize)]
struct IntrospectForm {
    token: String,
}

async fn introspect(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<IntrospectForm>,
) -> Response {
    if s.down.load(Ordering::Relaxed) {
        return unavailable();
    }
    if !authenticated(&headers) {
        return invalid_client();
    }
    s.introspections.fetch_add(1, Ordering::Relaxed);
    // The fake trusts the payload: the guard only introspects tokens whose signature it checked.
    let claims = form
        .token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<AccessTokenClaims>(&p).ok());
    let Some(claims) = claims else {
        return axum::Json(IntrospectionResponse::inactive()).into_response();
    };
    let mut revoked = RevocationSet::new();
    for e in lock(&s.feed).iter() {
        revoked.apply(e);
    }
    let live = claims.exp > unix_now() && !revoked.is_revoked(&TokenRef::from(&claims));
    let answer = if live { IntrospectionResponse::active(claims) } else { IntrospectionResponse::inactive() };
    axum::Json(answer).into_response()
}
