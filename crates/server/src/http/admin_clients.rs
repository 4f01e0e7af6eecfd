//! `/admin/clients` and `/admin/audit`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::audit::AuditKind;
use portcullis_domain::client::{Client, ClientSpec};
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::ClientId;
use portcullis_domain::ports::AuditFilter;
use portcullis_domain::scope::Scope;
use portcullis_proto::{AuditEventView, AuditList, ClientList, ClientView, CreatedClient, ErrorCode, NewClient};
use serde::Deserialize;

use super::admin::Admin;
use super::error::{ApiError, json_body};
use super::paging::Paging;
use crate::app::App;
use crate::ops::OpError;

fn view(c: &Client) -> ClientView {
    ClientView {
        client_id: c.id.to_string(),
        name: c.name.clone(),
        grants: c.grants.iter().map(|g| g.as_str().to_owned()).collect(),
        scope: c.scope.to_string(),
        redirect_uris: c.redirect_uris.clone(),
        public: c.is_public(),
        resource_server: c.resource_server,
        created_at: c.created_at.to_rfc3339(),
    }
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, m)
}

/// Registers a client; the secret is in this answer only.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", request_body = NewClient, security(("bearer" = ["admin"])),
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
    }
    .checked()
    .map_err(|e| bad(e.to_string()))?;
    let created = app.directory().create_client(spec, admin.actor()).await?;
    let body = CreatedClient {
        client_id: created.client.id.to_string(),
        client_secret: created.secret.map(|s| s.expose().to_owned()),
        client: view(&created.client),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Lists clients.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", params(Paging), security(("bearer" = ["admin"])),
    responses((status = 200, body = ClientList)))]
pub async fn list(
    State(app): State<App>,
    _admin: Admin,
    Query(paging): Query<Paging>,
) -> Result<Json<ClientList>, ApiError> {
    let (limit, cursor) = paging.checked()?;
    let page = app.directory().clients(cursor, limit).await?;
    Ok(Json(ClientList { clients: page.items.iter().map(view).collect(), next_cursor: page.next_cursor }))
}

/// Deletes a client: it can no longer authenticate (at once on this node, within
/// `clients.cache_ttl` on others), every device session it opened ends, and every token it was
/// issued is revoked at once on every node and at every resource server.
#[utoipa::path(delete, path = "/admin/clients/{client_id}", tag = "admin", params(("client_id" = String, Path)),
    security(("bearer" = ["admin"])), responses((status = 204, description = "deleted"), (status = 404, body = portcullis_proto::ErrorBody)))]
pub async fn delete(State(app): State<App>, admin: Admin, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let id = ClientId::parse(&raw).map_err(|_| OpError::NotFound("client"))?;
    app.control().delete_client(&id, admin.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Filters of `GET /admin/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// An event kind, e.g. `login_failed`, `refresh_reuse_detected`.
    pub kind: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Security events, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery), security(("bearer" = ["admin"])),
    responses((status = 200, body = AuditList), (status = 400, body = portcullis_proto::ErrorBody)))]
pub async fn audit(
    State(app): State<App>,
    _admin: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let paging = Paging { limit: q.limit, cursor: q.cursor.clone() };
    let (limit, cursor) = paging.checked()?;
    let before = cursor.map(|c| c.parse::<i64>().map_err(|_| bad("cursor is malformed"))).transpose()?;
    if let Some(k) = &q.kind
        && AuditKind::parse(k).is_none()
    {
        return Err(bad(format!("unknown event kind {k:?}")));
    }
    let bounded = |v: Option<String>| v.filter(|s| s.len() <= 128);
    let filter = AuditFilter { user_id: bounded(q.user_id), client_id: bounded(q.client_id), kind: q.kind };
    let page = app.directory().audit(&filter, before, limit).await?;
    let next_cursor = page.next_cursor;
    let events = page
        .items
        .into_iter()
        .map(|(id, e)| AuditEventView {
            id,
            at: e.at.to_rfc3339(),
            kind: e.kind.as_str().to_owned(),
            actor: e.actor,
            user_id: e.user_id,
            client_id: e.client_id,
            device_id: e.device_id,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        })
        .collect();
    Ok(Json(AuditList { events, next_cursor }))
}
