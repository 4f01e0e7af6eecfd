//! The HTTP surface: one module per endpoint, each extracting, calling and mapping.

mod admin;
mod admin_clients;
mod admin_users;
mod authorize;
pub mod bearer;
mod consents;
mod discovery;
pub mod error;
pub mod feed;
mod health;
mod introspect;
mod jwks;
mod me;
pub mod openapi;
mod pages;
pub(crate) mod paging;
pub mod paths;
mod revoke;
mod token;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tower_http::timeout::TimeoutLayer;

use crate::app::App;
use crate::telemetry;

/// Every route of a node.
pub fn router(app: App) -> Router {
    let body_limit = app.config().http.max_body_bytes;
    let timeout: Duration = app.config().http.request_timeout;
    Router::new()
        .route(paths::TOKEN, post(token::token))
        .route(paths::AUTHORIZE, get(authorize::authorize).post(authorize::submit))
        .route(paths::INTROSPECT, post(introspect::introspect))
        .route(paths::REVOKE, post(revoke::revoke))
        .route(paths::REVOCATION_FEED, get(feed::feed))
        .route(paths::ME, get(me::me))
        .route(paths::ME_LOGOUT, post(me::logout))
        .route(paths::ME_DEVICES, get(me::devices))
        .route(paths::ME_DEVICE, delete(me::forget_device))
        .route(paths::ME_CONSENTS, get(consents::list))
        .route(paths::ME_CONSENT, delete(consents::withdraw))
        .route(paths::ME_PASSWORD, post(admin_users::change_password))
        .route(paths::ADMIN_USERS, post(admin_users::create).get(admin_users::list))
        .route(paths::ADMIN_USER, get(admin_users::get))
        .route(paths::ADMIN_USER_BAN, post(admin_users::ban))
        .route(paths::ADMIN_USER_UNBAN, post(admin_users::unban))
        .route(paths::ADMIN_CLIENTS, post(admin_clients::create).get(admin_clients::list))
        .route(paths::ADMIN_CLIENT, delete(admin_clients::delete))
        .route(paths::ADMIN_AUDIT, get(admin_clients::audit))
        .route(paths::ADMIN_USER_DEVICES, get(admin::user_devices).delete(admin::kick_all))
        .route(paths::ADMIN_USER_DEVICE, delete(admin::kick_device))
        .route(paths::JWKS, get(jwks::jwks))
        .route(paths::DISCOVERY, get(discovery::metadata))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(health::metrics))
        .route(paths::OPENAPI, get(openapi::openapi_json))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(app)
}
