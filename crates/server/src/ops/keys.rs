//! Signing keys as operators see them: list with their state, rotate, audit.

use chrono::{DateTime, Utc};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::clock::Clock;
use portcullis_domain::error::Cause;
use portcullis_domain::ports::{AuditLog, SigningKeyRecord};
use portcullis_tokens::KeyManager;
use serde::Serialize;

use super::{OpError, record};

/// Where a key stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, signing later.
    Pending,
    /// Signing now.
    Active,
    /// Published for verification only.
    Retired,
    /// No longer published.
    Expired,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub active_from: DateTime<Utc>,
    pub state: KeyState,
}

pub async fn list_keys(manager: &KeyManager, clock: &dyn Clock) -> Result<Vec<KeyInfo>, OpError> {
    let records =
        manager.records().await.map_err(|e| OpError::Internal(Cause::context("reading the signing keys", e)))?;
    let now = clock.now();
    let published: Vec<String> = match manager.load().await {
        Ok(ring) => ring.published().map(|k| k.record.kid.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let signing = records.iter().filter(|r| r.active_from <= now).max_by_key(|r| r.active_from).map(|r| r.kid.clone());
    Ok(records
        .into_iter()
        .map(|r| {
            let state = if r.active_from > now {
                KeyState::Pending
            } else if signing.as_deref() == Some(r.kid.as_str()) {
                KeyState::Active
            } else if published.contains(&r.kid) {
                KeyState::Retired
            } else {
                KeyState::Expired
            };
            KeyInfo { kid: r.kid, created_at: r.created_at, active_from: r.active_from, state }
        })
        .collect())
}

/// Adds a key (published now, signing after the activation delay) and audits it.
pub async fn rotate_key(
    manager: &KeyManager,
    audit: &dyn AuditLog,
    clock: &dyn Clock,
    actor: &str,
) -> Result<SigningKeyRecord, OpError> {
    let record =
        manager.rotate().await.map_err(|e| OpError::Internal(Cause::context("rotating the signing key", e)))?;
    audit_key(audit, clock, AuditKind::KeyRotated, &record.kid, actor).await;
    Ok(record)
}

/// Records a key event (`key_created`, `key_rotated`).
pub async fn audit_key(audit: &dyn AuditLog, clock: &dyn Clock, kind: AuditKind, kid: &str, actor: &str) {
    let mut event = AuditEvent::new(clock.now(), kind);
    event.actor = Some(actor.to_owned());
    event.detail = Some(format!("kid={kid}"));
    record(audit, event).await;
}
