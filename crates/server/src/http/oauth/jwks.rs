//! `GET /.well-known/jwks.json`: pre-serialized bytes, cacheable.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;

/// The public keys whose tokens may still be live (RFC 7517).
#[utoipa::path(get, path = crate::http::paths::JWKS, tag = "oauth2",
    responses((status = 200, description = "JWK Set", body = portcullis_proto::JwkSet, content_type = "application/jwk-set+json")))]
pub async fn jwks(State(app): State<App>) -> Response {
    let bytes = app.keys().current().jwks_json();
    let max_age = app.config().keys.jwks_max_age.as_secs();
    let cache =
        HeaderValue::from_str(&format!("public, max-age={max_age}")).unwrap_or(HeaderValue::from_static("no-cache"));
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")), (header::CACHE_CONTROL, cache)],
        axum::body::Bytes::copy_from_slice(&bytes),
    )
        .into_response()
}
