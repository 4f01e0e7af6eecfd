//! `GET /admin/audit`: security events, newest first.

use axum::Json;
use axum::extract::State;
use portcullis_domain::audit::AuditKind;
use portcullis_domain::ports::AuditFilter;
use portcullis_proto::{AuditEventView, AuditList};
use serde::Deserialize;

use super::Admin;
use super::clients::bad;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::paging::Paging;
use crate::http::query::Query;

/// Filters of `GET /admin/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// An event kind, e.g. `login_failed`, `refresh_reuse_detected`.
    #[param(schema_with = audit_kinds)]
    pub kind: Option<String>,
    /// Events per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (an event id).
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// The event kinds, as `kind` accepts them.
fn audit_kinds() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(AuditKind::ALL.map(AuditKind::as_str)))
        .build()
}

/// Security events, newest first.
#[utoipa::path(get, path = crate::http::paths::ADMIN_AUDIT, tag = "admin", params(AuditQuery), security(("bearer" = ["admin"])),
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
