//! `/admin/clients` and `/admin/audit`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::ClientId;
use portcullis_domain::scope::Scope;
use portcullis_proto::{ClientList, CreatedClient, ErrorCode, NewClient};

use super::Admin;
use crate::app::App;
use crate::http::error::{ApiError, json_body};
use crate::http::paging::Paging;
use crate::http::query::Query;
use crate::ops::OpError;

pub(super) fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, m)
}

/// Registers a client; the secret is in this answer only.
#[utoipa::path(post, path = crate::http::paths::ADMIN_CLIENTS, tag = "admin", request_body = NewClient, security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedClient), (status = 400, body = portcullis_proto::ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    admin: Admin,
    body: Result<Json<NewClient>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = json_body(body)?;
    let grants = new
        .grants
        .iter()
        .map(|g| g.parse::<GrantType>().map_err(|_| bad(format!("unknown grant {g:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let scope: Scope = new.scope.parse().map_err(|e: portcullis_domain::scope::ScopeError| bad(e.to_string()))?;
    let spec = ClientSpec {
        name: new.name,
        grants,
        scope,
        redirect_uris: new.redirect_uris,
        public: new.public,
        resource_server: new.resource_server,
        otp_signup: new.otp_signup,
        signup: new.signup,
        allowed_origins: new.allowed_origins,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
    }
    .checked()
    .map_err(|e| bad(e.to_string()))?;
    let created = app.directory().create_client(spec, admin.actor()).await?;
    let body = CreatedClient {
        client_id: created.client.id.to_string(),
        client_secret: created.secret.map(|s| s.expose().to_owned()),
        client: crate::ops::clients::view(&created.client),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Lists clients.
#[utoipa::path(get, path = crate::http::paths::ADMIN_CLIENTS, tag = "admin", params(Paging), security(("bearer" = ["admin"])),
    responses((status = 200, body = ClientList)))]
pub async fn list(
    State(app): State<App>,
    _admin: Admin,
    Query(paging): Query<Paging>,
) -> Result<Json<ClientList>, ApiError> {
    let (limit, cursor) = paging.checked()?;
    let page = app.directory().clients(cursor, limit).await?;
    Ok(Json(ClientList {
        clients: page.items.iter().map(crate::ops::clients::view).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Deletes a client: it can no longer authenticate (at once on this node, within
/// `clients.cache_ttl` on others), every device session it opened ends, and every token it was
/// issued is revoked at once on every node and at every resource server.
#[utoipa::path(delete, path = crate::http::paths::ADMIN_CLIENT, tag = "admin", params(("client_id" = String, Path)),
    security(("bearer" = ["admin"])), responses((status = 204, description = "deleted"), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn delete(State(app): State<App>, admin: Admin, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let id = ClientId::parse(&raw).map_err(|_| OpError::NotFound("client"))?;
    app.control().delete_client(&id, admin.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
