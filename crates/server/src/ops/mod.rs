//! Administrative operations shared by the CLI and the admin API: register a client, create a
//! user, rotate and list keys. Each validates, writes, and audits. Operations that end sessions
//! live in `portcullis_oauth::SessionControl`.

pub mod devices;
pub mod users;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::client::{Client, ClientSpec};
use portcullis_domain::clock::Clock;
use portcullis_domain::ids::{ClientId, UserId, Username};
use portcullis_domain::password::check_policy;
use portcullis_domain::ports::{AuditLog, ClientRepo, SigningKeyRecord, StoreError, UserRepo};
use portcullis_domain::secret::{Secret, SecretHasher};
use portcullis_domain::user::{Cutoffs, User, UserStatus};
use portcullis_oauth::PasswordVerifier;
use portcullis_store::SqlStore;
use portcullis_tokens::KeyManager;
use serde::Serialize;

/// Prefix of every client secret.
pub const CLIENT_SECRET_PREFIX: &str = "pcs_";

/// An operation was refused; the text is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A registered client and its secret, shown once.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<Secret>,
}

pub async fn create_client(
    clients: &dyn ClientRepo,
    audit: &dyn AuditLog,
    hasher: &SecretHasher,
    clock: &dyn Clock,
    spec: ClientSpec,
    actor: &str,
) -> Result<CreatedClient, OpError> {
    let secret = (!spec.public).then(|| Secret::generate(CLIENT_SECRET_PREFIX));
    let client = Client {
        id: ClientId::generate(),
        name: spec.name,
        secret_hash: secret.as_ref().map(|s| hasher.hash(s.expose())),
        grants: spec.grants,
        scope: spec.scope,
        redirect_uris: spec.redirect_uris,
        resource_server: spec.resource_server,
        created_at: clock.now(),
    };
    clients.insert(&client).await.map_err(|e| match e {
        StoreError::Conflict => OpError::Conflict("client"),
        e => OpError::Store(e),
    })?;
    let mut event = AuditEvent::new(client.created_at, AuditKind::ClientCreated);
    event.actor = Some(actor.to_owned());
    event.client_id = Some(client.id.to_string());
    record(audit, event).await;
    Ok(CreatedClient { client, secret })
}

pub async fn create_user(
    users: &dyn UserRepo,
    audit: &dyn AuditLog,
    passwords: &PasswordVerifier,
    clock: &dyn Clock,
    username: &str,
    password: Secret,
    actor: &str,
) -> Result<User, OpError> {
    let username = Username::parse(username).map_err(|e| OpError::Invalid(e.to_string()))?;
    check_policy(password.expose()).map_err(|e| OpError::Invalid(e.to_string()))?;
    let password_hash = passwords.hash(password).await.map_err(|e| OpError::Internal(e.to_string()))?;
    let now = clock.now();
    let user = User {
        id: UserId::generate(),
        username,
        password_hash,
        status: UserStatus::Active,
        ban_reason: None,
        cutoffs: Cutoffs::default(),
        created_at: now,
        updated_at: now,
    };
    users.insert(&user).await.map_err(|e| match e {
        StoreError::Conflict => OpError::Conflict("a user with this username"),
        e => OpError::Store(e),
    })?;
    let mut event = AuditEvent::new(user.created_at, AuditKind::UserCreated);
    event.actor = Some(actor.to_owned());
    event.user_id = Some(user.id.to_string());
    record(audit, event).await;
    Ok(user)
}

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
    let records = manager.records().await.map_err(|e| OpError::Internal(e.to_string()))?;
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

pub async fn rotate_key(
    manager: &KeyManager,
    store: &SqlStore,
    clock: &Arc<dyn Clock>,
    actor: &str,
) -> Result<SigningKeyRecord, OpError> {
    let record = manager.rotate().await.map_err(|e| OpError::Internal(e.to_string()))?;
    audit_key(store, clock, AuditKind::KeyRotated, &record.kid, actor).await;
    Ok(record)
}

pub async fn audit_key(store: &SqlStore, clock: &Arc<dyn Clock>, kind: AuditKind, kid: &str, actor: &str) {
    let mut event = AuditEvent::new(clock.now(), kind);
    event.actor = Some(actor.to_owned());
    event.detail = Some(format!("kid={kid}"));
    record(store, event).await;
}

async fn record(audit: &dyn AuditLog, event: AuditEvent) {
    if let Err(e) = audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
    }
}
