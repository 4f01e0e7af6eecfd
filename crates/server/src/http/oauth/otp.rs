//! `POST /oauth2/otp` (contract §6): sends a one-time code to a phone or an email address.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use oxide_auth_axum::{OAuthRequest, WebError};
use portcullis_oauth::FormRequest;
use portcullis_proto::OtpSent;

use super::token::context;
use crate::app::App;
use crate::http::client_addr::ClientAddr;
use crate::http::error::OAuthErrorResponse;

/// Sends a one-time code; the same answer whether or not an account has the destination.
#[utoipa::path(
    post,
    path = crate::http::paths::OTP,
    tag = "oauth2",
    request_body(content = super::forms::OtpForm, content_type = "application/x-www-form-urlencoded",
        description = "phone (E.164) or email; the client needs the otp grant"),
    responses(
        (status = 200, description = "A code was sent, or nothing was (no account, a banned user): the same answer", body = OtpSent),
        (status = 400, description = "invalid_request: a malformed destination", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 429, description = "past a limit (temporarily_unavailable); see Retry-After", body = portcullis_proto::ErrorBody),
        (status = 503, description = "the sender is down (temporarily_unavailable); see Retry-After", body = portcullis_proto::ErrorBody),
    )
)]
pub async fn send(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    req: Result<OAuthRequest, WebError>,
) -> Response {
    let ctx = context(client, &headers);
    code_sent(match form(req) {
        Ok(form) => app.tokens().send_code(&form, &ctx).await,
        Err(e) => Err(e),
    })
}

/// A form endpoint's form (and its client authentication), or why it is refused.
pub(crate) fn form(req: Result<OAuthRequest, WebError>) -> Result<FormRequest, portcullis_oauth::OAuthError> {
    let mut req = req.map_err(super::token::form_error)?;
    FormRequest::from_web(&mut req)
}

/// The answer to a send of a code (a login, a reset): `OtpSent`, never cached, or the refusal.
pub(crate) fn code_sent(
    result: Result<portcullis_oauth::grants::send_code::CodeSent, portcullis_oauth::OAuthError>,
) -> Response {
    match result {
        Ok(sent) => {
            let body = OtpSent { expires_in: sent.expires_in, resend_after: sent.resend_after };
            ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(body)).into_response()
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
