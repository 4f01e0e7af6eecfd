//! `POST /me/contact` and `POST /me/contact/verify` (contract §7): a new phone or email is set
//! only once the code sent to it comes back, never directly.

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use portcullis_domain::otp::Destination;
use portcullis_oauth::grants::send_code::destination_of;
use portcullis_proto::{ContactChange, ContactVerify, OtpSent};

use crate::app::App;
use crate::http::bearer::Bearer;
use crate::http::client_addr::ClientAddr;
use crate::http::error::{ApiError, OAuthErrorResponse, json_object};
use crate::ops::ProfileEdit;

type JsonMap = Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>;

/// Sends a code to a phone or email the caller wants as theirs.
#[utoipa::path(post, path = crate::http::paths::ME_CONTACT, tag = "me", request_body = ContactChange, security(("bearer" = [])),
    responses((status = 200, body = OtpSent), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 401, body = portcullis_proto::ErrorBody),
        (status = 429, description = "past a limit; see Retry-After", body = portcullis_proto::ErrorBody),
        (status = 503, description = "the sender is down; see Retry-After", body = portcullis_proto::ErrorBody)))]
pub async fn send(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    bearer: Bearer,
    body: JsonMap,
) -> Result<Response, Response> {
    let (user, session) = super::account::caller(&app, &bearer).await?;
    let req: ContactChange = json_object(body).map_err(IntoResponse::into_response)?;
    super::account::check_password_field(req.current_password.as_deref()).map_err(IntoResponse::into_response)?;
    let to = destination_of(req.phone.as_deref(), req.email.as_deref())
        .map_err(|e| OAuthErrorResponse(e).into_response())?;
    let ctx = crate::http::oauth::token::context(client, &headers);
    // A new contact can sign in and reset the password: a token alone may not ask for one.
    let current = req.current_password.map(portcullis_domain::secret::Secret::new);
    app.control()
        .prove_presence(&user, session.first_seen, current, &bearer.0.client_id, &ctx)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let sent = app
        .tokens()
        .send_contact_code(&user.id, &bearer.0.client_id, &to, &ctx)
        .await
        .map_err(|e| OAuthErrorResponse(e).into_response())?;
    Ok(Json(OtpSent { expires_in: sent.expires_in, resend_after: sent.resend_after }).into_response())
}

/// Sets the phone or email the code was sent to; answers the new `/me`.
#[utoipa::path(post, path = crate::http::paths::ME_CONTACT_VERIFY, tag = "me", request_body = ContactVerify, security(("bearer" = [])),
    responses((status = 200, body = portcullis_proto::Me),
        (status = 400, description = "invalid_request, or invalid_grant for a wrong, expired, used or dead code", body = portcullis_proto::ErrorBody),
        (status = 401, body = portcullis_proto::ErrorBody),
        (status = 409, description = "another user has it now (conflict)", body = portcullis_proto::ErrorBody),
        (status = 429, description = "too many tries; see Retry-After", body = portcullis_proto::ErrorBody)))]
pub async fn verify(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    bearer: Bearer,
    body: JsonMap,
) -> Result<Response, Response> {
    let (user, _) = super::account::caller(&app, &bearer).await?;
    let uid = user.id;
    let req: ContactVerify = json_object(body).map_err(IntoResponse::into_response)?;
    let to = destination_of(req.phone.as_deref(), req.email.as_deref())
        .map_err(|e| OAuthErrorResponse(e).into_response())?;
    let ctx = crate::http::oauth::token::context(client, &headers);
    app.tokens()
        .check_contact_code(&uid, &bearer.0.client_id, &to, &req.code, &ctx)
        .await
        .map_err(|e| OAuthErrorResponse(e).into_response())?;
    let edit = match &to {
        Destination::Phone(p) => ProfileEdit { phone: Some(Some(p.to_string())), ..Default::default() },
        Destination::Email(e) => ProfileEdit { email: Some(Some(e.to_string())), ..Default::default() },
    };
    app.directory().update_profile(&uid, edit, uid.as_str()).await.map_err(|e| ApiError::from(e).into_response())?;
    // The answer is `/me`, as `GET /me` gives it.
    Ok(super::account::me(State(app), bearer).await)
}
