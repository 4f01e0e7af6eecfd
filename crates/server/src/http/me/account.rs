//! `GET /me`, `POST /me/logout`, `POST /me/password` and the caller's devices.

use axum::Json;

use axum::Extension;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::Secret;
use portcullis_proto::{ErrorCode, Me, ProfileUpdate};

use crate::app::App;
use crate::http::bearer::Bearer;
use crate::http::error::{ApiError, json_body, json_object};
use crate::http::paging::Paging;
use crate::http::query::Query;
use crate::ops::OpError;

/// A live token whose `sub` or `sid` does not parse: only a bug or a foreign key gets here.
fn unavailable() -> Response {
    ApiError::internal(Cause::msg("a live token names a malformed user or session")).into_response()
}

/// The user and device session behind the access token.
#[utoipa::path(get, path = crate::http::paths::ME, tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = portcullis_proto::ErrorBody), (status = 403, body = portcullis_proto::ErrorBody)))]
pub async fn me(State(app): State<App>, bearer: Bearer) -> Response {
    let (user, session) = match caller(&app, &bearer).await {
        Ok(x) => x,
        Err(e) => return e,
    };
    match profile(&app, &user, &bearer, &session).await {
        Ok(me) => Json(me).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `/me` as the caller sees it: the token's client and session, the user's profile.
async fn profile(
    app: &App,
    user: &portcullis_domain::user::User,
    bearer: &Bearer,
    session: &portcullis_domain::session::DeviceSession,
) -> Result<Me, ApiError> {
    let avatar = app.directory().avatar_path(&user.id).await?;
    Ok(Me {
        user_id: user.id.to_string(),
        username: user.username.to_string(),
        client_id: bearer.0.client_id.clone(),
        scope: bearer.0.scope.clone(),
        sid: session.id.to_string(),
        device_id: session.device_id.to_string(),
        display_name: user.display_name.clone(),
        email: user.email.as_ref().map(ToString::to_string),
        phone: user.phone.as_ref().map(ToString::to_string),
        avatar_url: avatar.map(|path| format!("{}{path}", app.issuer())),
        created_at: user.created_at.to_rfc3339(),
    })
}

/// The caller's user and device session, or the answer that refuses the request.
pub(super) async fn caller(
    app: &App,
    bearer: &Bearer,
) -> Result<(portcullis_domain::user::User, portcullis_domain::session::DeviceSession), Response> {
    let (sub, sid) = bearer.user().map_err(IntoResponse::into_response)?;
    let (Ok(uid), Ok(sid)) = (UserId::parse(sub), SessionId::parse(sid)) else { return Err(unavailable()) };
    let gone = || ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "the user no longer exists");
    match (app.directory().user(&uid).await, app.directory().session(&sid).await) {
        (Ok(u), Ok(Some(s))) => Ok((u, s)),
        (Err(e @ (OpError::Store(_) | OpError::Internal(_))), _) | (_, Err(e)) => {
            Err(ApiError::from(e).into_response())
        }
        (Err(_), _) | (_, Ok(None)) => Err(gone().into_response()),
    }
}

/// A `current_password` longer than any password (1,024 characters) is a malformed request,
/// whether or not it is needed.
pub(crate) fn check_password_field(password: Option<&str>) -> Result<(), ApiError> {
    if password.is_some_and(|p| p.chars().count() > 1024) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "current_password is longer than 1024 characters",
        ));
    }
    Ok(())
}

/// A username a person chooses may not look like a phone number or an email address: accounts
/// signed up by code are named so, and a name taken (409) would tell whether such an account
/// exists.
pub(crate) fn check_chosen_username(name: &str) -> Result<(), ApiError> {
    if name.contains('@') || name.trim_start().starts_with('+') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "a username may not contain @ or start with + (those are how phone and email accounts are named)",
        ));
    }
    Ok(())
}

/// Changes the caller's username and display name (a phone or an email only through a code:
/// `POST /me/contact`); answers the new `/me`.
#[utoipa::path(patch, path = crate::http::paths::ME, tag = "me", request_body = ProfileUpdate, security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 401, body = portcullis_proto::ErrorBody), (status = 409, description = "the username is taken (conflict)", body = portcullis_proto::ErrorBody)))]
pub async fn update_me(
    State(app): State<App>,
    Extension(client): Extension<crate::http::client_addr::ClientAddr>,
    headers: HeaderMap,
    bearer: Bearer,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Result<Response, Response> {
    let (user, session) = caller(&app, &bearer).await?;
    let req: ProfileUpdate = json_object(body).map_err(IntoResponse::into_response)?;
    check_password_field(req.current_password.as_deref()).map_err(IntoResponse::into_response)?;
    if let Some(name) = &req.username {
        // The name's own checks first: a malformed one is 400 whatever the password.
        portcullis_domain::ids::Username::parse(name).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, e.to_string()).into_response()
        })?;
        check_chosen_username(name).map_err(IntoResponse::into_response)?;
        let ctx = crate::http::oauth::token::context(client, &headers);
        let current = req.current_password.map(Secret::new);
        app.control()
            .prove_presence(&user, session.first_seen, current, &bearer.0.client_id, &ctx)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
    }
    let edit = crate::ops::ProfileEdit { username: req.username, display_name: req.display_name, ..Default::default() };
    let user = app
        .directory()
        .update_profile(&user.id, edit, user.id.as_str())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(Json(profile(&app, &user, &bearer, &session).await.map_err(IntoResponse::into_response)?).into_response())
}

/// Ends the current device session: its refresh token and every access token of it die now.
#[utoipa::path(post, path = crate::http::paths::ME_LOGOUT, tag = "me", security(("bearer" = [])),
    responses((status = 204, description = "logged out"), (status = 401, body = portcullis_proto::ErrorBody)))]
pub async fn logout(State(app): State<App>, bearer: Bearer) -> Response {
    let (sub, sid) = match bearer.user() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let Ok(sid) = SessionId::parse(sid) else { return unavailable() };
    match app.control().logout(&sid, sub).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The caller's devices (RFC 6750 bearer; a user token).
#[utoipa::path(get, path = crate::http::paths::ME_DEVICES, tag = "me", params(Paging), security(("bearer" = [])),
    responses((status = 200, body = portcullis_proto::DeviceList), (status = 401, body = portcullis_proto::ErrorBody)))]
pub async fn devices(State(app): State<App>, bearer: Bearer, Query(paging): Query<Paging>) -> Response {
    let (sub, _) = match bearer.user() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let (limit, cursor) = match paging.checked() {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Ok(uid) = UserId::parse(sub) else { return unavailable() };
    match app.directory().devices(&uid, cursor, limit).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Ends every session of one of the caller's devices (signing out a lost phone, say).
#[utoipa::path(delete, path = crate::http::paths::ME_DEVICE, tag = "me", params(("device_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = portcullis_proto::ErrorBody),
        (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn forget_device(State(app): State<App>, bearer: Bearer, Path(device_id): Path<String>) -> Response {
    let (sub, _) = match bearer.user() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let Ok(uid) = UserId::parse(sub) else { return unavailable() };
    match app.control().kick(&uid, Some(&device_id), Reason::Logout, sub).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(portcullis_oauth::ControlError::NotFound(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "you have no such device").into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /me/password`: the caller's password; every other device session ends, and every
/// browser login. Wrong current passwords count against the same limits as the password grant.
#[utoipa::path(post, path = crate::http::paths::ME_PASSWORD, tag = "me", request_body = portcullis_proto::PasswordChange, security(("bearer" = [])),
    responses((status = 204, description = "changed"), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 401, body = portcullis_proto::ErrorBody), (status = 403, body = portcullis_proto::ErrorBody),
        (status = 429, description = "too many wrong passwords for this user or address; see Retry-After", body = portcullis_proto::ErrorBody)))]
pub async fn change_password(
    State(app): State<App>,
    Extension(client): Extension<crate::http::client_addr::ClientAddr>,
    headers: HeaderMap,
    bearer: crate::http::bearer::Bearer,
    body: Result<Json<portcullis_proto::PasswordChange>, JsonRejection>,
) -> Result<Response, Response> {
    let (sub, sid) = bearer.user().map_err(IntoResponse::into_response)?;
    let req = json_body(body).map_err(IntoResponse::into_response)?;
    let (Ok(uid), Ok(sid)) = (UserId::parse(sub), SessionId::parse(sid)) else {
        return Err(ApiError::internal(Cause::msg("a live token names a malformed user or session")).into_response());
    };
    let ctx = crate::http::oauth::token::context(client, &headers);
    app.control()
        .change_password(
            &uid,
            Secret::new(req.current_password),
            Secret::new(req.new_password),
            Some(&sid),
            &bearer.0.client_id,
            &ctx,
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
