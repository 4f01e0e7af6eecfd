//! CORS for browser apps (contract §7): each client lists the origins (`allowed_origins`) its
//! browser front ends are served from; the token, revocation and UserInfo endpoints and `/me*` answer
//! preflights and add `Access-Control-Allow-Origin` for those origins only, and nothing else
//! does, for any origin.
//!
//! tower-http's `CorsLayer` does the protocol (preflights, `Vary`, the headers); the decision is
//! here: a preflight carries no credentials, so its origin must be one some live client lists;
//! a request with credentials (a Bearer token's `client_id`, HTTP Basic's client) must come
//! from an origin *that* client lists.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, Method, header, request::Parts};
use base64::Engine;
use portcullis_domain::ids::ClientId;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::App;
use crate::http::paths;

/// How long the union of every client's origins is kept before it is read again.
const ORIGINS_TTL: Duration = Duration::from_secs(5);

/// The paths browser apps may call from another origin.
fn cors_path(path: &str) -> bool {
    matches!(path, paths::TOKEN | paths::REVOKE | paths::USERINFO | paths::ME) || path.starts_with("/me/")
}

/// The layer for the whole router; it acts only on [`cors_path`]s.
pub fn layer(app: App) -> CorsLayer {
    let origins = Arc::new(Origins { app, cache: Mutex::new(None) });
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(move |origin: HeaderValue, parts: &Parts| {
            let origins = origins.clone();
            let path_ok = cors_path(parts.uri.path());
            let authorization = parts.headers.get(header::AUTHORIZATION).cloned();
            async move { path_ok && origins.allows(&origin, authorization.as_ref()).await }
        }))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-device-id")])
        .max_age(Duration::from_secs(600))
}

struct Origins {
    app: App,
    cache: Mutex<Option<(Instant, Arc<BTreeSet<String>>)>>,
}

impl Origins {
    async fn allows(&self, origin: &HeaderValue, authorization: Option<&HeaderValue>) -> bool {
        let Ok(origin) = origin.to_str() else { return false };
        if !self.any_client(origin).await {
            return false;
        }
        match authorization.and_then(|v| v.to_str().ok()).and_then(client_of) {
            // Credentials name a client: its own list decides (an unknown one: no).
            Some(id) => match ClientId::parse(&id) {
                Ok(id) => {
                    self.app.directory().client(&id).await.is_ok_and(|c| c.allowed_origins.iter().any(|o| o == origin))
                }
                Err(_) => false,
            },
            None => true,
        }
    }

    /// Whether some live client lists `origin` (read at most every [`ORIGINS_TTL`]).
    async fn any_client(&self, origin: &str) -> bool {
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let all = match cached {
            Some((at, all)) if at.elapsed() < ORIGINS_TTL => all,
            _ => {
                let all = match self.app.directory().allowed_origins().await {
                    Ok(all) => Arc::new(all),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the clients' allowed origins; refusing cross-origin requests for now");
                        return false;
                    }
                };
                *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), all.clone()));
                all
            }
        };
        all.contains(origin)
    }
}

/// The client the credentials name, unverified (the handler verifies them; this only picks
/// whose origin list applies): a Bearer token's `client_id` claim, or HTTP Basic's user.
fn client_of(authorization: &str) -> Option<String> {
    let (scheme, value) = authorization.split_once(' ')?;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if scheme.eq_ignore_ascii_case("bearer") {
        let payload = value.trim().split('.').nth(1)?;
        if payload.len() > 8192 {
            return None;
        }
        let claims: serde_json::Value = serde_json::from_slice(&engine.decode(payload).ok()?).ok()?;
        claims.get("client_id")?.as_str().map(str::to_owned)
    } else if scheme.eq_ignore_ascii_case("basic") {
        let form = portcullis_oauth::FormRequest::from_pairs([], Some(authorization)).ok()?;
        form.auth.client_id().map(str::to_owned)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_revocation_and_me_endpoints_take_part() {
        for yes in ["/oauth2/token", "/oauth2/revoke", "/me", "/me/devices", "/me/avatar"] {
            assert!(cors_path(yes), "{yes}");
        }
        for no in ["/oauth2/introspect", "/admin/users", "/oauth2/revocation-feed", "/metrics", "/mee", "/oauth2/otp"] {
            assert!(!cors_path(no), "{no}");
        }
    }

    #[test]
    fn the_client_is_read_from_bearer_or_basic_credentials() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!("x.{}.y", engine.encode(br#"{"client_id":"pc_app","sub":"u"}"#));
        assert_eq!(client_of(&format!("Bearer {token}")).as_deref(), Some("pc_app"));
        let basic = base64::engine::general_purpose::STANDARD.encode("pc_rs:secret");
        assert_eq!(client_of(&format!("Basic {basic}")).as_deref(), Some("pc_rs"));
        assert_eq!(client_of("Bearer not-a-jwt"), None);
        assert_eq!(client_of("Digest x"), None);
    }
}
