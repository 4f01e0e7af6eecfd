//! `POST /oauth2/revoke` (RFC 7009).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxide_auth_axum::{OAuthRequest, WebError};
use portcullis_oauth::FormRequest;

use super::token::bad_form;
use crate::app::App;
use crate::http::error::OAuthErrorResponse;

/// Revokes a refresh token (its whole device session) or an access token. Unknown tokens: 200.
#[utoipa::path(
    post,
    path = crate::http::paths::REVOKE,
    tag = "oauth2",
    request_body(content = super::forms::TokenOnlyForm, content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…], client authenticated"),
    responses(
        (status = 200, description = "revoked, or nothing to revoke"),
        (status = 400, description = "invalid_request", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
    )
)]
pub async fn revoke(State(app): State<App>, req: Result<OAuthRequest, WebError>) -> Response {
    let mut req = match req {
        Ok(r) => r,
        Err(e) => return bad_form(e),
    };
    let result = match FormRequest::from_web(&mut req) {
        Ok(form) => app.tokens().revoke(&form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], StatusCode::OK).into_response(),
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
