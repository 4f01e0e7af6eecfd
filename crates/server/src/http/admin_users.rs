//! `/admin/users`: create, list, read, ban, unban.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::secret::Secret;
use portcullis_proto::{BanRequest, NewUser, UserList, UserView};

use super::admin::Admin;
use super::error::{ApiError, json_body};
use super::paging::Paging;
use crate::app::App;
use crate::ops::OpError;
use crate::ops::users::view;

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| OpError::NotFound("user").into())
}

/// Creates a user.
#[utoipa::path(post, path = "/admin/users", tag = "admin", request_body = NewUser, security(("bearer" = ["admin"])),
    responses((status = 201, body = UserView), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 409, body = portcullis_proto::ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    admin: Admin,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = json_body(body)?;
    let user = app.directory().create_user(&new.username, Secret::new(new.password), admin.actor()).await?;
    Ok((StatusCode::CREATED, Json(view(&user))).into_response())
}

/// Lists users in creation order.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(Paging), security(("bearer" = ["admin"])),
    responses((status = 200, body = UserList)))]
pub async fn list(
    State(app): State<App>,
    _admin: Admin,
    Query(paging): Query<Paging>,
) -> Result<Json<UserList>, ApiError> {
    let (limit, cursor) = paging.checked()?;
    let page = app.directory().users(cursor, limit).await?;
    Ok(Json(UserList { users: page.items.iter().map(view).collect(), next_cursor: page.next_cursor }))
}

/// One user.
#[utoipa::path(get, path = "/admin/users/{user_id}", tag = "admin", params(("user_id" = String, Path)),
    security(("bearer" = ["admin"])), responses((status = 200, body = UserView), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn get(State(app): State<App>, _admin: Admin, Path(raw): Path<String>) -> Result<Json<UserView>, ApiError> {
    let user = app.directory().user(&user_id(&raw)?).await?;
    Ok(Json(view(&user)))
}

/// Bans a user: every device session ends now, and no grant succeeds until unbanned.
#[utoipa::path(post, path = "/admin/users/{user_id}/ban", tag = "admin", params(("user_id" = String, Path)),
    request_body = BanRequest, security(("bearer" = ["admin"])),
    responses((status = 200, body = UserView), (status = 400, body = portcullis_proto::ErrorBody), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn ban(
    State(app): State<App>,
    admin: Admin,
    Path(raw): Path<String>,
    body: Result<Json<BanRequest>, JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let req = json_body(body)?;
    let user = app.control().ban(&user_id(&raw)?, &req.reason, admin.actor()).await?;
    Ok(Json(view(&user)))
}

/// Lifts a ban. Sessions ended by the ban stay ended.
#[utoipa::path(post, path = "/admin/users/{user_id}/unban", tag = "admin", params(("user_id" = String, Path)),
    security(("bearer" = ["admin"])), responses((status = 200, body = UserView), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn unban(State(app): State<App>, admin: Admin, Path(raw): Path<String>) -> Result<Json<UserView>, ApiError> {
    let user = app.control().unban(&user_id(&raw)?, admin.actor()).await?;
    Ok(Json(view(&user)))
}

/// `POST /me/password`: the caller's password; every other device session ends, and every
/// browser login. Wrong current passwords count against the same limits as the password grant.
#[utoipa::path(post, path = "/me/password", tag = "me", request_body = portcullis_proto::PasswordChange, security(("bearer" = [])),
    responses((status = 204, description = "changed"), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 401, body = portcullis_proto::ErrorBody), (status = 403, body = portcullis_proto::ErrorBody),
        (status = 429, description = "too many wrong passwords for this user or address; see Retry-After", body = portcullis_proto::ErrorBody)))]
pub async fn change_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bearer: super::bearer::Bearer,
    body: Result<Json<portcullis_proto::PasswordChange>, JsonRejection>,
) -> Result<Response, Response> {
    let (sub, sid) = bearer.user().map_err(IntoResponse::into_response)?;
    let req = json_body(body).map_err(IntoResponse::into_response)?;
    let (Ok(uid), Ok(sid)) = (UserId::parse(sub), SessionId::parse(sid)) else {
        return Err(ApiError::internal(Cause::msg("a live token names a malformed user or session")).into_response());
    };
    let ctx = super::token::context(peer, &headers);
    app.control()
        .change_password(
            &uid,
            Secret::new(req.current_password),
            Secret::new(req.new_password),
            &sid,
            &bearer.0.client_id,
            &ctx,
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
