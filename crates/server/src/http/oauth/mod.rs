//! The OAuth 2.0 endpoints a client library speaks to: token, one-time codes, introspection,
//! revocation, the revocation feed, the JWKS, the server metadata, and OpenID Connect's
//! discovery and UserInfo.

mod discovery;
pub mod feed;
pub(super) mod forms;
mod introspect;
mod jwks;
pub(super) mod otp;
mod revoke;
pub(super) mod token;
mod userinfo;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;

/// The OAuth routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(token::token))
        .routes(routes!(otp::send))
        .routes(routes!(introspect::introspect))
        .routes(routes!(revoke::revoke))
        .routes(routes!(feed::feed))
        .routes(routes!(jwks::jwks))
        .routes(routes!(discovery::metadata))
        .routes(routes!(discovery::openid_configuration))
        .routes(routes!(userinfo::get, userinfo::post))
}
