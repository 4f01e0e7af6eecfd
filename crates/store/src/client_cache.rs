//! `CachedClients`: a short-lived in-process cache in front of `ClientRepo::find`.
//!
//! Every token request authenticates a client; without the cache that is a database round trip
//! on the hottest path. Entries live `ttl` (config `clients.cache_ttl`, default 5 s) and are
//! dropped at once on this node when the client is deleted here; other nodes see a deletion
//! within `ttl`. Unknown ids are never cached, so a new client works at once everywhere.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::client::Client;
use portcullis_domain::ids::ClientId;
use portcullis_domain::ports::{ClientRepo, StoreError};

/// Most clients kept; past it the cache is cleared (clients are few; this only bounds memory
/// against a flood of distinct valid ids).
const MAX_ENTRIES: usize = 10_000;

pub struct CachedClients {
    inner: Arc<dyn ClientRepo>,
    ttl: Duration,
    entries: RwLock<HashMap<ClientId, (Client, Instant)>>,
}

impl CachedClients {
    pub fn new(inner: Arc<dyn ClientRepo>, ttl: Duration) -> Self {
        Self { inner, ttl, entries: RwLock::new(HashMap::new()) }
    }

    /// Forgets `id` (after a deletion or change on this node).
    pub fn invalidate(&self, id: &ClientId) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

#[async_trait]
impl ClientRepo for CachedClients {
    async fn insert(&self, client: &Client) -> Result<(), StoreError> {
        self.inner.insert(client).await
    }

    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<Client>, StoreError> {
        self.inner.list(after, limit).await
    }

    async fn scopes(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        self.inner.scopes().await
    }

    async fn allowed_origins(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        self.inner.allowed_origins().await
    }

    async fn delete(&self, id: &ClientId, now: DateTime<Utc>, actor: &str) -> Result<Option<u64>, StoreError> {
        let deleted = self.inner.delete(id, now, actor).await?;
        self.invalidate(id);
        Ok(deleted)
    }

    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if !self.ttl.is_zero() {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((client, at)) = entries.get(id)
                && at.elapsed() < self.ttl
            {
                return Ok(Some(client.clone()));
            }
        }
        let found = self.inner.find(id).await?;
        if let Some(client) = &found
            && !self.ttl.is_zero()
        {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id.clone(), (client.clone(), Instant::now()));
        }
        Ok(found)
    }
}
