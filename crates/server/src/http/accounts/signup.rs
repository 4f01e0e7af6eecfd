//! `POST /signup` (contract §7): an app's user makes an account, through a client registered
//! with `signup`.

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use portcullis_domain::secret::Secret;
use portcullis_oauth::FormRequest;
use portcullis_oauth::grants::send_code::destination_of;
use portcullis_proto::{SignupRequest, SignupResponse};

use crate::app::App;
use crate::http::client_addr::ClientAddr;
use crate::http::error::{ApiError, OAuthErrorResponse, json_object};
use crate::http::oauth::token::context;

/// Creates an account with a username and a password. A phone or email given is not set
/// directly: a code is sent to it, and `POST /me/contact/verify` sets it once the person
/// signs in and confirms it.
#[utoipa::path(post, path = crate::http::paths::SIGNUP, tag = "account", request_body = SignupRequest,
    responses(
        (status = 201, body = SignupResponse),
        (status = 400, description = "invalid_request (a bad username, password, phone or email) or unauthorized_client (the client does not sign people up)", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 409, description = "the username is taken (conflict)", body = portcullis_proto::ErrorBody),
        (status = 429, description = "too many accounts from this address; see Retry-After", body = portcullis_proto::ErrorBody),
    ))]
pub async fn signup(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Result<Response, Response> {
    let req: SignupRequest = json_object(body).map_err(IntoResponse::into_response)?;
    crate::http::me::account::check_chosen_username(&req.username).map_err(IntoResponse::into_response)?;
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    let pairs = [("client_id", req.client_id.as_deref()), ("client_secret", req.client_secret.as_deref())];
    let form = FormRequest::from_pairs(pairs.into_iter().filter_map(|(k, v)| Some((k, v?))), authorization)
        .map_err(|e| OAuthErrorResponse(e).into_response())?;
    let ctx = context(client, &headers);
    let per_hour = app.config().account.max_signups_per_ip;
    let client =
        app.tokens().signup_gate(&form, &ctx, per_hour).await.map_err(|e| OAuthErrorResponse(e).into_response())?;
    // Checked before the account is made: a malformed contact makes nothing.
    let contact = match (req.phone.as_deref(), req.email.as_deref()) {
        (None, None) => None,
        (phone, email) => Some(destination_of(phone, email).map_err(|e| OAuthErrorResponse(e).into_response())?),
    };
    let new = crate::ops::NewUser {
        username: req.username,
        password: Some(Secret::new(req.password)),
        phone: None,
        email: None,
    };
    let actor = format!("signup:{}", client.id);
    let user = app.directory().create_user(new, &actor).await.map_err(|e| ApiError::from(e).into_response())?;
    let mut verification = None;
    if let Some(to) = contact {
        // The account exists now whatever happens to the code: the app can ask again through
        // `POST /me/contact` once the person signs in.
        match app.tokens().send_contact_code(&user.id, client.id.as_str(), &to, &ctx).await {
            Ok(_) => verification = Some(to.channel().as_str().to_owned()),
            Err(e) => tracing::info!(error = %e, "a new account's contact code was not sent"),
        }
    }
    let body = SignupResponse { user_id: user.id.to_string(), verification_sent: verification };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
