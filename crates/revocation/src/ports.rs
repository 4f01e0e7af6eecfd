//! The ports of the revocation runtime: the SQL log (the truth, and the feed's order), the fast
//! state every check reads (Redis or in process), and the doorbell between nodes. The store
//! implements them. A token is described to them as `portcullis_proto::TokenRef`, the type the
//! rule itself (`portcullis_proto::feed`) judges.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use portcullis_domain::ports::StoreError;
use portcullis_domain::revocation::{NewRevocation, Revocation};
use portcullis_proto::TokenRef;

/// The SQL log of revocations: written in the same transaction as the change it reports (a
/// session ended, a cut-off, a client deleted, the rotation's revoke).
#[async_trait]
pub trait RevocationLog: Send + Sync + 'static {
    /// Records a revocation that no other write carries (a client-credentials token's); false
    /// when that token's revocation was recorded already (nothing is written twice).
    async fn append(&self, revocation: &NewRevocation) -> Result<bool, StoreError>;
    /// Revocations with ids above `after`, oldest first, at most `limit`.
    async fn after(&self, after: i64, limit: u64) -> Result<Vec<Revocation>, StoreError>;
    /// Revocations made at or after `since`, oldest first, at most `limit`.
    async fn since(&self, since: DateTime<Utc>, limit: u64) -> Result<Vec<Revocation>, StoreError>;
    /// Revocations made at or after `since` with ids above `after_id`, in id order, at most
    /// `limit`: one page of the feed's backlog.
    async fn since_after(&self, since: DateTime<Utc>, after_id: i64, limit: u64)
    -> Result<Vec<Revocation>, StoreError>;
    /// The highest id recorded (0 when none).
    async fn last_id(&self) -> Result<i64, StoreError>;
    /// Whether a revocation made at or after `since` revokes the token: the rule of
    /// `portcullis_proto::feed` as a query, asked when the fast state cannot answer.
    async fn revokes(&self, token: &TokenRef<'_>, since: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// What the fast state says about a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Live,
    Revoked,
    /// The state cannot answer (unreachable, or emptied and not rebuilt yet): ask the log.
    Unknown,
}

/// The revocations in force, kept where every check can read them fast: Redis for several
/// nodes, process memory for one. Each entry is kept until `expires_at(horizon)`.
#[async_trait]
pub trait RevocationState: Send + Sync + 'static {
    async fn check(&self, token: &TokenRef<'_>) -> Verdict;
    /// Adds revocations (idempotent).
    async fn apply(&self, revocations: &[Revocation], horizon: Duration, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Replaces the state with `revocations` (every one still in force) and marks it complete.
    async fn rebuild(
        &self,
        revocations: &[Revocation],
        horizon: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// False when the state was lost (a Redis restart or flush) and must be rebuilt.
    async fn is_complete(&self) -> Result<bool, StoreError>;
}

/// Tells the other nodes that revocations were recorded (they then read the log).
#[async_trait]
pub trait Doorbell: Send + Sync + 'static {
    async fn ring(&self, last_id: i64) -> Result<(), StoreError>;
}
