//! The UserInfo endpoint (OpenID Connect Core §5.3): `sub` and the claims the access token's
//! scopes grant, for a live user token with `openid`. Errors are RFC 6750's, as on `/me`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_domain::ids::UserId;
use portcullis_oauth::oidc::profile_claims;
use portcullis_proto::{OPENID_SCOPE, UserInfo};

use crate::app::App;
use crate::http::bearer::{Bearer, BearerRejection};
use crate::http::error::ApiError;
use crate::ops::OpError;

/// The signed-in user's claims (GET).
#[utoipa::path(get, path = crate::http::paths::USERINFO, tag = "oauth2", security(("bearer" = [])),
    responses(
        (status = 200, body = UserInfo),
        (status = 401, description = "Missing, bad, expired or revoked token", body = portcullis_proto::ErrorBody),
        (status = 403, description = "A client's token, or one without the openid scope", body = portcullis_proto::ErrorBody),
    ))]
pub async fn get(State(app): State<App>, bearer: Bearer) -> Response {
    userinfo(&app, &bearer).await
}

/// The signed-in user's claims (POST, as Core §5.3.1 allows; the token in the header).
#[utoipa::path(post, path = crate::http::paths::USERINFO, tag = "oauth2", security(("bearer" = [])),
    responses(
        (status = 200, body = UserInfo),
        (status = 401, description = "Missing, bad, expired or revoked token", body = portcullis_proto::ErrorBody),
        (status = 403, description = "A client's token, or one without the openid scope", body = portcullis_proto::ErrorBody),
    ))]
pub async fn post(State(app): State<App>, bearer: Bearer) -> Response {
    userinfo(&app, &bearer).await
}

async fn userinfo(app: &App, bearer: &Bearer) -> Response {
    if !bearer.0.has_scope(OPENID_SCOPE) {
        return BearerRejection::insufficient_scope("UserInfo needs a token with the openid scope").into_response();
    }
    let sub = match bearer.user() {
        Ok((sub, _)) => sub,
        Err(e) => return e.into_response(),
    };
    let Ok(id) = UserId::parse(sub) else {
        return BearerRejection::insufficient_scope("this endpoint needs a user's access token").into_response();
    };
    let user = match app.directory().user(&id).await {
        Ok(user) => user,
        Err(e @ (OpError::Store(_) | OpError::Internal(_))) => return ApiError::from(e).into_response(),
        // A live token of a user who is gone: its sessions ended with the account.
        Err(_) => return BearerRejection::invalid("the token's user no longer exists").into_response(),
    };
    let mut profile = profile_claims(&user, &bearer.0.scope);
    if bearer.0.has_scope("profile") {
        match app.directory().avatar_path(&user.id).await {
            Ok(path) => profile.picture = path.map(|p| format!("{}{p}", app.issuer())),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    Json(UserInfo { sub: user.id.to_string(), profile }).into_response()
}
