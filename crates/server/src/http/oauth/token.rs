//! `POST /oauth2/token`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use oxide_auth_axum::{OAuthRequest, WebError};
use portcullis_oauth::{OAuthError, RequestContext};

use crate::app::App;
use crate::http::client_addr::ClientAddr;
use crate::http::error::OAuthErrorResponse;

/// The request's context: client address, User-Agent, `X-Device-Id`.
pub(crate) fn context(client: ClientAddr, headers: &HeaderMap) -> RequestContext {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    RequestContext {
        ip: Some(client.0.to_string()),
        user_agent: text(header::USER_AGENT.as_str()).map(|ua| ua.chars().take(512).collect()),
        device_id_header: text("x-device-id"),
    }
}

pub(crate) fn bad_form(e: WebError) -> Response {
    OAuthErrorResponse(form_error(e)).into_response()
}

/// Why oxide-auth could not read a form request.
pub(crate) fn form_error(e: WebError) -> OAuthError {
    let why = match e {
        WebError::Authorization => "send one Authorization header",
        _ => "the body must be application/x-www-form-urlencoded",
    };
    OAuthError::invalid_request(why)
}

/// Issues tokens (RFC 6749 §3.2).
#[utoipa::path(
    post,
    path = crate::http::paths::TOKEN,
    tag = "oauth2",
    request_body(content = super::forms::TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=authorization_code|password|client_credentials|refresh_token with the grant's parameters (RFC 6749, RFC 7636)"),
    responses(
        (status = 200, description = "Tokens issued", body = portcullis_proto::TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 429, description = "too many login attempts for this user or address (temporarily_unavailable); see Retry-After",
            body = portcullis_proto::ErrorBody),
    )
)]
pub async fn token(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    req: Result<OAuthRequest, WebError>,
) -> Response {
    let mut req = match req {
        Ok(r) => r,
        Err(e) => return bad_form(e),
    };
    match app.tokens().token(&mut req, &context(client, &headers)).await {
        Ok(body) => {
            let mut res = Json(body).into_response();
            let h = res.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
