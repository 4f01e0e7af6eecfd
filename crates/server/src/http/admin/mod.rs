//! The admin API (`/admin/...`): access tokens with scope `admin` only.

mod audit;
mod clients;
mod devices;
mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_domain::scope::ADMIN_SCOPE;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::http::bearer::{Bearer, BearerRejection};

/// The admin routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::set_password))
        .routes(routes!(users::ban))
        .routes(routes!(users::unban))
        .routes(routes!(devices::user_devices, devices::kick_all))
        .routes(routes!(devices::kick_device))
        .routes(routes!(clients::create, clients::list))
        .routes(routes!(clients::delete))
        .routes(routes!(audit::audit))
}

/// A live access token carrying the `admin` scope (RFC 6750: 401 without a valid token, 403
/// `insufficient_scope` with one that lacks the scope).
pub struct Admin(pub Bearer);

impl FromRequestParts<App> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let bearer = Bearer::from_request_parts(parts, app).await?;
        if !bearer.0.has_scope(ADMIN_SCOPE) {
            return Err(
                BearerRejection::insufficient_scope("this endpoint needs a token with scope admin").into_response()
            );
        }
        Ok(Self(bearer))
    }
}

impl Admin {
    /// Who acted, for the audit trail: the admin client.
    pub fn actor(&self) -> &str {
        &self.0.0.client_id
    }
}
