//! `GET /me/consents` and `DELETE /me/consents/{client_id}`: what the user allowed which
//! apps, and withdrawing it (which ends that app's sessions of the user).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{ClientId, UserId};
use portcullis_proto::{ConsentList, ConsentView, ErrorCode};

use crate::app::App;
use crate::http::bearer::Bearer;
use crate::http::error::ApiError;

/// A live token whose `sub` does not parse: only a bug or a foreign key gets here.
fn unavailable() -> Response {
    ApiError::internal(Cause::msg("a live token names a malformed user")).into_response()
}

/// The apps the caller has allowed, with their scopes.
#[utoipa::path(get, path = crate::http::paths::ME_CONSENTS, tag = "me", security(("bearer" = [])),
    responses((status = 200, body = ConsentList), (status = 401, body = portcullis_proto::ErrorBody)))]
pub async fn list(State(app): State<App>, bearer: Bearer) -> Response {
    let (sub, _) = match bearer.user() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let Ok(uid) = UserId::parse(sub) else { return unavailable() };
    match app.tokens().consents(&uid).await {
        Ok(list) => Json(ConsentList {
            consents: list
                .into_iter()
                .map(|c| ConsentView {
                    client_id: c.client_id.to_string(),
                    scope: c.scope.to_string(),
                    granted_at: c.granted_at.to_rfc3339(),
                })
                .collect(),
        })
        .into_response(),
        Err(e) => ApiError::internal(Cause::context("listing consents", e)).into_response(),
    }
}

/// Withdraws the caller's consent for one app and ends that app's device sessions of the caller.
#[utoipa::path(delete, path = crate::http::paths::ME_CONSENT, tag = "me", params(("client_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204, description = "withdrawn"), (status = 401, body = portcullis_proto::ErrorBody),
        (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn withdraw(State(app): State<App>, bearer: Bearer, Path(client_id): Path<String>) -> Response {
    let (sub, _) = match bearer.user() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let Ok(uid) = UserId::parse(sub) else { return unavailable() };
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no consent for that client");
    let Ok(client) = ClientId::parse(&client_id) else { return not_found().into_response() };
    match app.control().withdraw_consent(&uid, &client).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found().into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
