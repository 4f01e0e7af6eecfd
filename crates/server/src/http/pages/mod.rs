//! The pages a person sees: the authorization endpoint's login (password or one-time code),
//! code and consent pages, the end-session (logout) page, and the account page.

mod account;
mod authorize;
mod code_login;
mod cookies;
mod login_pages;
mod logout;
mod render;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;

/// The account page's answer when the overload gate refuses its picture form before the
/// handler runs (too big, too many uploads at once, too slow): an error page, with
/// `Retry-After` where the refusal has one.
pub(crate) fn upload_refused(status: axum::http::StatusCode, retry_after: Option<u64>) -> axum::response::Response {
    use axum::http::StatusCode;
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "That picture is too big. Go back and choose a smaller one.",
        StatusCode::REQUEST_TIMEOUT => "The picture took too long to arrive. Go back and try again.",
        _ => "Too many pictures are being uploaded right now. Go back and try again in a moment.",
    };
    let mut res = render::error(status, message);
    if let Some(secs) = retry_after {
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    res
}

/// The page routes.
pub(super) fn routes() -> OpenApiRouter<App> {
    // The picture form's body is bounded by the overload gate (`account.avatar_max_bytes` and
    // the form's own fields), read before the handler: the default limit would refuse it.
    let avatar = OpenApiRouter::new().routes(routes!(account::avatar)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(authorize::authorize, authorize::submit))
        .routes(routes!(logout::get, logout::post))
        .routes(routes!(account::page, account::sign_in))
        .routes(routes!(account::act))
        .merge(avatar)
}
