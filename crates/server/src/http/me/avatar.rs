//! `PUT /me/avatar`, `DELETE /me/avatar` and `GET /avatars/{user_id}` (contract §7).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_domain::ids::UserId;
use portcullis_proto::{AvatarSet, ErrorCode};

use crate::app::App;
use crate::http::bearer::Bearer;
use crate::http::error::ApiError;
use crate::ops::avatar::format_of;

/// How long a browser or proxy may keep an avatar without asking again: its URL carries its
/// version (`?v=`), so a new image is a new URL.
const AVATAR_CACHE: &str = "public, max-age=86400";

/// Sets the caller's avatar: the body is the image. It is decoded and re-encoded (at most
/// 512×512, no metadata); nothing is stored for anything else.
#[utoipa::path(put, path = crate::http::paths::ME_AVATAR, tag = "me", security(("bearer" = [])),
    request_body(content = Vec<u8>, description = "a PNG, JPEG or WebP image, at most account.avatar_max_bytes (1 MiB)",
        content_type = "image/png"),
    responses((status = 200, body = AvatarSet), (status = 400, description = "the bytes are not that image", body = portcullis_proto::ErrorBody),
        (status = 401, body = portcullis_proto::ErrorBody), (status = 413, description = "too big", body = portcullis_proto::ErrorBody),
        (status = 415, description = "not image/png, image/jpeg or image/webp", body = portcullis_proto::ErrorBody)))]
pub async fn put(State(app): State<App>, bearer: Bearer, headers: HeaderMap, body: Body) -> Result<Response, Response> {
    let uid = caller_id(&bearer).await?;
    let fail = |e: ApiError| e.into_response();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(format) = format_of(content_type) else {
        return Err(fail(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidRequest,
            "an avatar must be sent as image/png, image/jpeg or image/webp",
        )));
    };
    let max = app.config().account.avatar_max_bytes;
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidRequest,
            format!("an avatar may be at most {max} bytes"),
        )
    };
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| fail(too_big()))?;
    if bytes.is_empty() {
        let empty =
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, "the body is empty: send the image");
        return Err(fail(empty));
    }
    let avatar = app.directory().set_avatar(&uid, bytes, format, uid.as_str()).await.map_err(|e| fail(e.into()))?;
    // The URL's version comes from the ETag just written: no second read.
    let path = crate::ops::avatar_path_of(&uid, &avatar.etag);
    Ok(Json(AvatarSet { avatar_url: format!("{}{path}", app.issuer()) }).into_response())
}

/// Removes the caller's avatar.
#[utoipa::path(delete, path = crate::http::paths::ME_AVATAR, tag = "me", security(("bearer" = [])),
    responses((status = 204, description = "removed (or there was none)"), (status = 401, body = portcullis_proto::ErrorBody)))]
pub async fn delete(State(app): State<App>, bearer: Bearer) -> Result<StatusCode, Response> {
    let uid = caller_id(&bearer).await?;
    app.directory().delete_avatar(&uid, uid.as_str()).await.map_err(|e| ApiError::from(e).into_response())?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's avatar, for anyone (it is shown in other apps): with a strong `ETag` and
/// `Cache-Control`; `If-None-Match` answers 304.
#[utoipa::path(get, path = crate::http::paths::AVATAR, tag = "me", params(("user_id" = String, Path)),
    responses((status = 200, description = "the image", content_type = "image/png"), (status = 304, description = "not modified"),
        (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn serve(State(app): State<App>, Path(raw): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let none = || ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "this user has no avatar");
    let uid = UserId::parse(&raw).map_err(|_| none())?;
    let avatar = app.directory().avatar(&uid).await?.ok_or_else(none)?;
    let etag =
        HeaderValue::from_str(&avatar.etag).map_err(|e| ApiError::internal(portcullis_domain::error::Cause::new(e)))?;
    let cache = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static(AVATAR_CACHE)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == avatar.etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let content_type = HeaderValue::from_str(&avatar.content_type)
        .map_err(|e| ApiError::internal(portcullis_domain::error::Cause::new(e)))?;
    Ok((cache, [(header::CONTENT_TYPE, content_type)], avatar.data).into_response())
}

/// The caller's user id (a user's token only), or the answer that refuses the request.
async fn caller_id(bearer: &Bearer) -> Result<UserId, Response> {
    let (sub, _) = bearer.user().map_err(IntoResponse::into_response)?;
    UserId::parse(sub).map_err(|_| {
        ApiError::internal(portcullis_domain::error::Cause::msg("a live token names a malformed user")).into_response()
    })
}
