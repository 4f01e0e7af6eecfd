//! `POST /password-reset` and `POST /password-reset/confirm`: a code to the account's phone or
//! email, then a new password, which ends every session of the user.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use oxide_auth_axum::{OAuthRequest, WebError};
use portcullis_proto::OtpSent;

use crate::app::App;
use crate::http::client_addr::ClientAddr;
use crate::http::error::OAuthErrorResponse;
use crate::http::oauth::otp::{code_sent, form};
use crate::http::oauth::token::context;

/// Sends a reset code to the account whose phone or email the form names; the same answer
/// whether or not there is one.
#[utoipa::path(post, path = crate::http::paths::PASSWORD_RESET, tag = "account",
    request_body(content = crate::http::oauth::forms::OtpForm, content_type = "application/x-www-form-urlencoded",
        description = "phone (E.164) or email; the client authenticated as at the token endpoint, with a grant that signs people in"),
    responses(
        (status = 200, description = "A code was sent, or nothing was (no such account): the same answer", body = OtpSent),
        (status = 400, description = "invalid_request (a malformed destination) or unauthorized_client", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 429, description = "past a limit; see Retry-After", body = portcullis_proto::ErrorBody),
        (status = 503, description = "the sender is down; see Retry-After", body = portcullis_proto::ErrorBody),
    ))]
pub async fn request(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    req: Result<OAuthRequest, WebError>,
) -> Response {
    let ctx = context(client, &headers);
    code_sent(match form(req) {
        Ok(form) => app.tokens().send_reset_code(&form, &ctx).await,
        Err(e) => Err(e),
    })
}

/// Sets the new password with the code the account received; every session and browser login
/// of the user ends.
#[utoipa::path(post, path = crate::http::paths::PASSWORD_RESET_CONFIRM, tag = "account",
    request_body(content = crate::http::oauth::forms::ResetConfirmForm, content_type = "application/x-www-form-urlencoded",
        description = "phone or email, code, new_password; the client as at the token endpoint"),
    responses(
        (status = 204, description = "the password is set; every session ended"),
        (status = 400, description = "invalid_request (a weak password, a malformed destination), or invalid_grant (a wrong, expired, used or dead code)", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 429, description = "too many tries; see Retry-After", body = portcullis_proto::ErrorBody),
    ))]
pub async fn confirm(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    req: Result<OAuthRequest, WebError>,
) -> Response {
    let ctx = context(client, &headers);
    let confirmed = match form(req) {
        Ok(form) => app.tokens().confirm_reset(&form, &ctx).await,
        Err(e) => Err(e),
    };
    match confirmed {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
