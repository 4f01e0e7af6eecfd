//! The pages a person sees: the authorization endpoint's login (password or one-time code),
//! code and consent pages, and the account page.

mod account;
mod authorize;
mod code_login;
mod cookies;
mod login_pages;
mod render;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;

/// The page routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    // The picture form's body is bounded by the overload gate (`account.avatar_max_bytes` and
    // the form's own fields), read before the handler: the default limit would refuse it.
    let avatar = OpenApiRouter::new().routes(routes!(account::avatar)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(authorize::authorize, authorize::submit))
        .routes(routes!(account::page, account::sign_in))
        .routes(routes!(account::act))
        .merge(avatar)
}
