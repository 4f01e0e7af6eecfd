//! The axum glue (feature `axum`): the [`Authenticated`] and [`RequireScopes`] extractors, the
//! [`GuardLayer`] middleware, and [`AuthError`] as an RFC 6750 response.

use std::marker::PhantomData;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use portcullis_proto::AccessTokenClaims;
use tower::{Layer, Service};

use crate::{AuthError, Guard};

/// The largest form body [`GuardLayer`] reads to find a token in it.
pub const MAX_FORM_BODY: usize = 64 * 1024;

impl IntoResponse for AuthError {
    /// The status of [`AuthError::status`], `WWW-Authenticate` as RFC 6750 §3 wants it, and
    /// `{"error", "error_description"}`.
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Some(challenge) = self.www_authenticate().and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if matches!(self, AuthError::Unavailable) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The claims of the request's verified access token (no scope required).
///
/// Works with any state `S` from which a [`Guard`] can be had (`Guard: FromRef<S>`). Behind a
/// [`GuardLayer`] it reuses the layer's verdict instead of checking the token twice.
#[derive(Clone, Debug)]
pub struct Authenticated(pub AccessTokenClaims);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated
where
    Guard: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(done) = parts.extensions.get::<Authenticated>() {
            return Ok(done.clone());
        }
        let guard = Guard::from_ref(state);
        guard.check_request(&parts.headers, parts.uri.query(), None, &[]).await.map(Authenticated)
    }
}

/// A set of scopes a handler needs, named by a type so it can sit in an extractor's type:
///
/// ```
/// struct Write;
/// impl portcullis_guard::Scopes for Write {
///     const SCOPES: &'static [&'static str] = &["write"];
/// }
/// ```
pub trait Scopes: Send + Sync + 'static {
    const SCOPES: &'static [&'static str];
}

/// Like [`Authenticated`], and the token must carry every scope of `T` (else 403
/// `insufficient_scope`).
pub struct RequireScopes<T: Scopes>(pub AccessTokenClaims, PhantomData<T>);

impl<T: Scopes> RequireScopes<T> {
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.0
    }

    pub fn into_claims(self) -> AccessTokenClaims {
        self.0
    }
}

impl<T: Scopes> std::fmt::Debug for RequireScopes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireScopes").field(&T::SCOPES).field(&self.0).finish()
    }
}

impl<S: Send + Sync, T: Scopes> FromRequestParts<S> for RequireScopes<T>
where
    Guard: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = match parts.extensions.get::<Authenticated>() {
            Some(done) => done.0.clone(),
            None => Guard::from_ref(state).check_request(&parts.headers, parts.uri.query(), None, T::SCOPES).await?,
        };
        if !T::SCOPES.iter().all(|s| claims.has_scope(s)) {
            return Err(AuthError::InsufficientScope { required: T::SCOPES.join(" ") });
        }
        Ok(Self(claims, PhantomData))
    }
}

/// Middleware that lets through only requests with a valid token carrying `scopes`, and hands
/// the claims on as an [`Authenticated`] request extension.
///
/// ```
/// # use axum::{Router, routing::get};
/// # use portcullis_guard::{Guard, GuardLayer};
/// # async fn reports() {}
/// # fn app(guard: Guard) -> Router {
/// Router::new().route("/reports", get(reports)).route_layer(GuardLayer::new(guard).require_scopes(&["read"]))
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct GuardLayer {
    guard: Guard,
    scopes: &'static [&'static str],
}

impl GuardLayer {
    pub fn new(guard: Guard) -> Self {
        Self { guard, scopes: &[] }
    }

    pub fn require_scopes(mut self, scopes: &'static [&'static str]) -> Self {
        self.scopes = scopes;
        self
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService { inner, guard: self.guard.clone(), scopes: self.scopes }
    }
}

/// The service [`GuardLayer`] wraps around the inner one.
#[derive(Clone, Debug)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
    scopes: &'static [&'static str],
}

impl<S> Service<Request> for GuardService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was polled ready is the one to call (tower's `Service` contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let scopes = self.scopes;
        Box::pin(async move {
            // A form body is read (and handed on unchanged) only when the guard takes tokens
            // from it, for a method whose body means something (RFC 6750 §2.2: not GET).
            let form = guard.token_places().form_body
                && request.method() != axum::http::Method::GET
                && request.method() != axum::http::Method::HEAD
                && request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
                    t.split(';')
                        .next()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
                });
            let mut body_text = None;
            if form {
                let (parts, body) = request.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BODY).await else {
                    return Ok(AuthError::from(crate::InvalidToken::TooLarge).into_response());
                };
                body_text = Some(String::from_utf8_lossy(&bytes).into_owned());
                request = Request::from_parts(parts, axum::body::Body::from(bytes));
            }
            let query = request.uri().query().map(str::to_owned);
            match guard.check_request(request.headers(), query.as_deref(), body_text.as_deref(), scopes).await {
                Ok(claims) => {
                    request.extensions_mut().insert(Authenticated(claims));
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
