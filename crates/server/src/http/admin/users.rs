//! `/admin/users`: create, list, read, ban, unban.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::ids::UserId;
use portcullis_domain::secret::Secret;
use portcullis_proto::{BanRequest, NewPassword, NewUser, UserList, UserUpdate, UserView};

use super::Admin;
use crate::app::App;
use crate::http::error::{ApiError, json_body, json_object};
use crate::http::paging::Paging;
use crate::http::query::Query;
use crate::ops::OpError;
use crate::ops::users::view;

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| OpError::NotFound("user").into())
}

/// Creates a user.
#[utoipa::path(post, path = crate::http::paths::ADMIN_USERS, tag = "admin", request_body = NewUser, security(("bearer" = ["admin"])),
    responses((status = 201, body = UserView), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 409, body = portcullis_proto::ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    admin: Admin,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = json_body(body)?;
    let new = crate::ops::NewUser {
        username: new.username,
        password: new.password.map(Secret::new),
        phone: new.phone,
        email: new.email,
    };
    let user = app.directory().create_user(new, admin.actor()).await?;
    Ok((StatusCode::CREATED, Json(view(&user))).into_response())
}

/// Lists users in creation order.
#[utoipa::path(get, path = crate::http::paths::ADMIN_USERS, tag = "admin", params(Paging), security(("bearer" = ["admin"])),
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
#[utoipa::path(get, path = crate::http::paths::ADMIN_USER, tag = "admin", params(("user_id" = String, Path)),
    security(("bearer" = ["admin"])), responses((status = 200, body = UserView), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn get(State(app): State<App>, _admin: Admin, Path(raw): Path<String>) -> Result<Json<UserView>, ApiError> {
    let user = app.directory().user(&user_id(&raw)?).await?;
    Ok(Json(view(&user)))
}

/// Bans a user: every device session ends now, and no grant succeeds until unbanned.
#[utoipa::path(post, path = crate::http::paths::ADMIN_USER_BAN, tag = "admin", params(("user_id" = String, Path)),
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
#[utoipa::path(post, path = crate::http::paths::ADMIN_USER_UNBAN, tag = "admin", params(("user_id" = String, Path)),
    security(("bearer" = ["admin"])), responses((status = 200, body = UserView), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn unban(State(app): State<App>, admin: Admin, Path(raw): Path<String>) -> Result<Json<UserView>, ApiError> {
    let user = app.control().unban(&user_id(&raw)?, admin.actor()).await?;
    Ok(Json(view(&user)))
}

/// Changes a user's username, display name, phone or email (`null` clears the last three). An
/// admin sets a phone or email directly; a user changes theirs through a code.
#[utoipa::path(patch, path = crate::http::paths::ADMIN_USER, tag = "admin", params(("user_id" = String, Path)),
    request_body = UserUpdate, security(("bearer" = ["admin"])),
    responses((status = 200, body = UserView), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 404, body = portcullis_proto::ErrorBody), (status = 409, body = portcullis_proto::ErrorBody)))]
pub async fn update(
    State(app): State<App>,
    admin: Admin,
    Path(raw): Path<String>,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let req: UserUpdate = json_object(body)?;
    let edit = crate::ops::ProfileEdit {
        username: req.username,
        display_name: req.display_name,
        phone: req.phone,
        email: req.email,
    };
    let user = app.directory().update_profile(&user_id(&raw)?, edit, admin.actor()).await?;
    Ok(Json(view(&user)))
}

/// Deletes a user: every session ends at once (resource servers hear of it on the revocation
/// feed), then the account and everything of it but the audit trail.
#[utoipa::path(delete, path = crate::http::paths::ADMIN_USER, tag = "admin", params(("user_id" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "deleted"), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn delete(State(app): State<App>, admin: Admin, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    app.control().delete_user(&user_id(&raw)?, admin.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's password; every session and browser login of the user ends.
#[utoipa::path(post, path = crate::http::paths::ADMIN_USER_PASSWORD, tag = "admin", params(("user_id" = String, Path)),
    request_body = NewPassword, security(("bearer" = ["admin"])),
    responses((status = 204, description = "set; every session ended"), (status = 400, body = portcullis_proto::ErrorBody),
        (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn set_password(
    State(app): State<App>,
    admin: Admin,
    Path(raw): Path<String>,
    body: Result<Json<NewPassword>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let req = json_body(body)?;
    app.control().set_password(&user_id(&raw)?, Secret::new(req.new_password), admin.actor(), "admin").await?;
    Ok(StatusCode::NO_CONTENT)
}
