//! Administrative operations shared by the CLI and the admin API: the directory of users,
//! clients, devices and audit events (read, and create with an audit row), and signing keys.
//! Operations that end sessions live in `portcullis_oauth::SessionControl`.

pub mod avatar;
pub mod clients;
pub mod devices;
mod directory;
pub mod keys;
pub mod retention;
pub mod users;

use portcullis_domain::audit::AuditEvent;
use portcullis_domain::error::Cause;
use portcullis_domain::ports::{AuditLog, StoreError};

pub use directory::{CreatedClient, Directory, DirectoryParts, NewUser, Page, ProfileEdit, avatar_path_of};
pub use keys::{KeyInfo, KeyState, audit_key, list_keys, rotate_key};

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
    /// The node cannot take this now: 503 with `Retry-After`.
    #[error("{0}")]
    Busy(&'static str),
    #[error("the store failed")]
    Store(#[source] StoreError),
    /// The text is the cause's chain, for the log.
    #[error("{0}")]
    Internal(Cause),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl OpError {
    /// Why the server failed, for the log; `None` for a refusal.
    pub fn cause(self) -> Option<Cause> {
        match self {
            Self::Store(e) => Some(Cause::new(e)),
            Self::Internal(c) => Some(c),
            _ => None,
        }
    }
}

async fn record(audit: &dyn AuditLog, event: AuditEvent) {
    if let Err(e) = audit.record(event).await {
        tracing::error!(error = %portcullis_domain::error::Chain(&e), "audit write failed");
    }
}

/// Cuts `items` (fetched with `limit + 1`) to one page; the next cursor is the last item's key
/// when there was more.
pub(crate) fn cut<T>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let next = (items.len() > limit).then(|| key(&items[limit - 1]));
    items.truncate(limit);
    (items, next)
}
