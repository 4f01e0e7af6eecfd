//! `RevocationState` in this process's memory: the single-node default.

use std::sync::RwLock;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use portcullis_domain::ports::StoreError;
use portcullis_domain::revocation::Revocation;
use portcullis_proto::{RevocationSet, TokenRef};

use crate::ports::{RevocationState, Verdict};

/// The revocations in force, as `portcullis_proto::RevocationSet` (the guard crate keeps the
/// same structure, from the feed).
#[derive(Default)]
pub struct LocalRevocations {
    set: RwLock<RevocationSet>,
}

impl LocalRevocations {
    fn add(set: &mut RevocationSet, revocations: &[Revocation], horizon: Duration, now: DateTime<Utc>) {
        set.prune(now.timestamp());
        for r in revocations {
            let expires = r.expires_at(horizon).timestamp();
            if expires > now.timestamp() {
                set.add(crate::wire::target(r), expires);
            }
        }
    }
}

#[async_trait]
impl RevocationState for LocalRevocations {
    async fn check(&self, token: &TokenRef<'_>) -> Verdict {
        if self.set.read().unwrap_or_else(|e| e.into_inner()).is_revoked(token) {
            Verdict::Revoked
        } else {
            Verdict::Live
        }
    }

    async fn apply(&self, revocations: &[Revocation], horizon: Duration, now: DateTime<Utc>) -> Result<(), StoreError> {
        Self::add(&mut self.set.write().unwrap_or_else(|e| e.into_inner()), revocations, horizon, now);
        Ok(())
    }

    async fn rebuild(
        &self,
        revocations: &[Revocation],
        horizon: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut fresh = RevocationSet::new();
        Self::add(&mut fresh, revocations, horizon, now);
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    async fn is_complete(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
}
