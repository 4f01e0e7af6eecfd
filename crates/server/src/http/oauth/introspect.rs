//! `POST /oauth2/introspect` (RFC 7662).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use oxide_auth_axum::{OAuthRequest, WebError};
use portcullis_oauth::FormRequest;

use super::token::bad_form;
use crate::app::App;
use crate::http::error::OAuthErrorResponse;

/// Says whether an access token is live, and its claims if so. For resource servers only
/// (clients registered with `--resource-server`).
#[utoipa::path(
    post,
    path = crate::http::paths::INTROSPECT,
    tag = "oauth2",
    request_body(content = super::forms::IntrospectForm, content_type = "application/x-www-form-urlencoded", description = "token=…, client authenticated"),
    responses(
        (status = 200, description = "RFC 7662 response", body = portcullis_proto::IntrospectionResponse),
        (status = 400, description = "invalid_request", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 403, description = "unauthorized_client: the client is not registered as a resource server", body = portcullis_proto::ErrorBody),
    )
)]
pub async fn introspect(State(app): State<App>, req: Result<OAuthRequest, WebError>) -> Response {
    let mut req = match req {
        Ok(r) => r,
        Err(e) => return bad_form(e),
    };
    let result = match FormRequest::from_web(&mut req) {
        Ok(form) => app.tokens().introspect(&form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => {
            let mut res = Json(body).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
