//! Self-service (`/me/...`): what a user's own access token may see and end.

pub(crate) mod account;
mod avatar;
mod consents;
mod contact;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;

/// The self-service routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(account::me, account::update_me))
        .routes(routes!(avatar::put, avatar::delete))
        .routes(routes!(avatar::serve))
        .routes(routes!(contact::send))
        .routes(routes!(contact::verify))
        .routes(routes!(account::logout))
        .routes(routes!(account::change_password))
        .routes(routes!(account::devices))
        .routes(routes!(account::forget_device))
        .routes(routes!(consents::list))
        .routes(routes!(consents::withdraw))
}
