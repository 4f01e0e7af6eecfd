//! Accounts an app's users make and recover themselves (contract §7), client-authenticated as
//! at the token endpoint: `POST /signup`, `POST /password-reset` and its confirmation.

mod reset;
mod signup;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;

/// The account routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(signup::signup)).routes(routes!(reset::request)).routes(routes!(reset::confirm))
}
