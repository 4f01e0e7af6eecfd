//! `/admin/users/{user_id}/devices`: a user's devices, kicking one or all.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::ids::UserId;
use portcullis_domain::revocation::Reason;
use portcullis_proto::{DeviceList, ErrorCode};

use super::Admin;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::paging::Paging;
use crate::http::query::Query;
use crate::ops::OpError;

/// The user named in the path, if it exists.
async fn user(app: &App, raw: &str) -> Result<UserId, Response> {
    let no_user = || ApiError::from(OpError::NotFound("user")).into_response();
    let id = UserId::parse(raw).map_err(|_| no_user())?;
    match app.directory().user(&id).await {
        Ok(_) => Ok(id),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// A user's devices.
#[utoipa::path(get, path = crate::http::paths::ADMIN_USER_DEVICES, tag = "admin", params(Paging, ("user_id" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = DeviceList), (status = 401, body = portcullis_proto::ErrorBody),
        (status = 403, body = portcullis_proto::ErrorBody), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn user_devices(
    State(app): State<App>,
    _admin: Admin,
    Path(user_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    let (limit, cursor) = match paging.checked() {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let user = match user(&app, &user_id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match app.directory().devices(&user, cursor, limit).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Kicks one device: its refresh tokens stop working and its access tokens are inactive at once.
#[utoipa::path(delete, path = crate::http::paths::ADMIN_USER_DEVICE, tag = "admin",
    params(("user_id" = String, Path), ("device_id" = String, Path)), security(("bearer" = ["admin"])),
    responses((status = 204, description = "kicked"), (status = 401, body = portcullis_proto::ErrorBody),
        (status = 403, body = portcullis_proto::ErrorBody), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn kick_device(
    State(app): State<App>,
    admin: Admin,
    Path((user_id, device_id)): Path<(String, String)>,
) -> Response {
    kick(&app, &admin, &user_id, Some(&device_id)).await
}

/// Kicks every device of the user.
#[utoipa::path(delete, path = crate::http::paths::ADMIN_USER_DEVICES, tag = "admin", params(("user_id" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "kicked"), (status = 401, body = portcullis_proto::ErrorBody),
        (status = 403, body = portcullis_proto::ErrorBody), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn kick_all(State(app): State<App>, admin: Admin, Path(user_id): Path<String>) -> Response {
    kick(&app, &admin, &user_id, None).await
}

async fn kick(app: &App, admin: &Admin, user_id: &str, device_id: Option<&str>) -> Response {
    let user = match user(app, user_id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match app.control().kick(&user, device_id, Reason::Kicked, admin.actor()).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(portcullis_oauth::ControlError::NotFound(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "the user has no such device").into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
