//! The pages a person sees: the authorization endpoint's login (password or one-time code),
//! code and consent pages.

mod authorize;
mod code_login;
mod cookies;
mod login_pages;
mod render;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;

/// The page routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(authorize::authorize, authorize::submit))
}
