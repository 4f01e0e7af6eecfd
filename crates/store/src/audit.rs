//! `AuditLog` over `audit_events`.

use async_trait::async_trait;
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::ports::{AuditFilter, AuditLog, StoreError};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use crate::SqlStore;
use crate::entities::audit_event;
use crate::error::store_err;

/// Cuts a free-text field to the column's width, on a character boundary.
fn bounded(s: Option<String>, max: usize) -> Option<String> {
    s.map(|s| {
        if s.len() <= max {
            s
        } else {
            s.char_indices().take_while(|(i, c)| i + c.len_utf8() <= max).map(|(_, c)| c).collect()
        }
    })
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn record(&self, e: AuditEvent) -> Result<(), StoreError> {
        insert(&self.db, e).await
    }

    async fn list(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
        let mut q = audit_event::Entity::find().order_by_desc(audit_event::Column::Id).limit(limit);
        if let Some(before) = before {
            q = q.filter(audit_event::Column::Id.lt(before));
        }
        if let Some(u) = &filter.user_id {
            q = q.filter(audit_event::Column::UserId.eq(u.as_str()));
        }
        if let Some(c) = &filter.client_id {
            q = q.filter(audit_event::Column::ClientId.eq(c.as_str()));
        }
        if let Some(k) = &filter.kind {
            q = q.filter(audit_event::Column::Kind.eq(k.as_str()));
        }
        let rows = q.all(&self.db).await.map_err(store_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                let kind = AuditKind::parse(&m.kind)?;
                Some((
                    m.id,
                    AuditEvent {
                        at: m.at,
                        kind,
                        actor: m.actor,
                        user_id: m.user_id,
                        client_id: m.client_id,
                        device_id: m.device_id,
                        ip: m.ip,
                        user_agent: m.user_agent,
                        detail: m.detail,
                    },
                ))
            })
            .collect())
    }
}

/// `e` as a row of a hand-written insert takes it (by column name, in a JSON parameter), bounded
/// as [`insert`] bounds it.
#[derive(Serialize)]
pub(crate) struct Row {
    at: String,
    kind: &'static str,
    actor: Option<String>,
    user_id: Option<String>,
    client_id: Option<String>,
    device_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

impl From<AuditEvent> for Row {
    fn from(e: AuditEvent) -> Self {
        Self {
            at: crate::json_params::timestamp(e.at),
            kind: e.kind.as_str(),
            actor: bounded(e.actor, 128),
            user_id: bounded(e.user_id, 64),
            client_id: bounded(e.client_id, 128),
            device_id: bounded(e.device_id, 128),
            ip: bounded(e.ip, 64),
            user_agent: bounded(e.user_agent, 512),
            detail: bounded(e.detail, 256),
        }
    }
}

/// Appends `e` through `conn` (a pool or an open transaction).
pub(crate) async fn insert(conn: &impl ConnectionTrait, e: AuditEvent) -> Result<(), StoreError> {
    {
        let row = audit_event::ActiveModel {
            id: NotSet,
            at: Set(e.at),
            kind: Set(e.kind.as_str().to_owned()),
            actor: Set(bounded(e.actor, 128)),
            user_id: Set(bounded(e.user_id, 64)),
            client_id: Set(bounded(e.client_id, 128)),
            device_id: Set(bounded(e.device_id, 128)),
            ip: Set(bounded(e.ip, 64)),
            user_agent: Set(bounded(e.user_agent, 512)),
            detail: Set(bounded(e.detail, 256)),
        };
        audit_event::Entity::insert(row).exec_without_returning(conn).await.map_err(store_err)?;
        Ok(())
    }
}
