//! The admin API (`/admin/...`): access tokens with scope `admin` only.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_domain::ids::UserId;
use portcullis_domain::revocation::Reason;
use portcullis_domain::scope::ADMIN_SCOPE;
use portcullis_proto::{DeviceList, ErrorCode};

use super::bearer::{Bearer, BearerRejection};
use super::error::ApiError;
use super::paging::Paging;
use crate::app::App;
use crate::ops::OpError;

/// A live access token carrying the `admin` scope (RFC 6750: 401 without a valid token, 403
/// `insufficient_scope` with one that lacks the scope).
pub struct Admin(pub Bearer);

impl FromRequestParts<App> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let bearer = Bearer::from_request_parts(parts, app).await?;
        if !bearer.0.has_scope(ADMIN_SCOPE) {
            return Err(
                BearerRejection::insufficient_scope("this endpoint needs a token with scope admin").into_response()
            );
        }
        Ok(Self(bearer))
    }
}

impl Admin {
    /// Who acted, for the audit trail: the admin client.
    pub fn actor(&self) -> &str {
        &self.0.0.client_id
    }
}

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
#[utoipa::path(get, path = "/admin/users/{user_id}/devices", tag = "admin", params(Paging, ("user_id" = String, Path)),
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
#[utoipa::path(delete, path = "/admin/users/{user_id}/devices/{device_id}", tag = "admin",
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
#[utoipa::path(delete, path = "/admin/users/{user_id}/devices", tag = "admin", params(("user_id" = String, Path)),
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
