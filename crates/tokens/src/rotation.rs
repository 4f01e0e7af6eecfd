//! `KeyManager`: creates the first key, rotates, and loads the `KeyRing` from the key records
//! (shared by every node through the database) and the key files (shared through `keys/`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use portcullis_domain::clock::Clock;
use portcullis_domain::ports::{SigningKeyRecord, SigningKeyRepo, StoreError};

use crate::keyfile::{KeyFile, KeyFileError};
use crate::keyring::{KeyRing, LoadedKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    File(#[from] KeyFileError),
    #[error("key {kid}: {source}")]
    Parse { kid: String, source: jsonwebtoken::errors::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no signing key is active; run `portcullis serve` once or `portcullis keys rotate`")]
    NoActiveKey,
    #[error("key task failed: {0}")]
    Task(String),
}

/// Owns the key lifecycle for one node.
pub struct KeyManager {
    repo: Arc<dyn SigningKeyRepo>,
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    access_ttl: Duration,
    activation_delay: Duration,
    loaded: Mutex<HashMap<String, Arc<LoadedKey>>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager").field("dir", &self.dir).finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, KeyError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KeyError::Task(e.to_string()))
}

impl KeyManager {
    pub fn new(
        repo: Arc<dyn SigningKeyRepo>,
        dir: PathBuf,
        clock: Arc<dyn Clock>,
        access_ttl: Duration,
        activation_delay: Duration,
    ) -> Self {
        crate::provider::install();
        Self { repo, dir, clock, access_ttl, activation_delay, loaded: Mutex::new(HashMap::new()) }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// On first start (no key recorded), adopts the newest key file already in `keys/` or
    /// makes a new one, active at once since no token exists yet. Returns the new record.
    pub async fn ensure_key(&self) -> Result<Option<SigningKeyRecord>, KeyError> {
        if !self.repo.list().await?.is_empty() {
            return Ok(None);
        }
        let dir = self.dir.clone();
        let file = blocking(move || newest_key_file(&dir).map(Ok).unwrap_or_else(KeyFile::generate)).await??;
        let now = self.clock.now();
        let record = SigningKeyRecord { kid: file.kid.clone(), created_at: now, active_from: now };
        self.store(file, &record).await?;
        Ok(Some(record))
    }

    /// Adds a new key: published now, signing after the activation delay.
    pub async fn rotate(&self) -> Result<SigningKeyRecord, KeyError> {
        let file = blocking(KeyFile::generate).await??;
        let now = self.clock.now();
        let record =
            SigningKeyRecord { kid: file.kid.clone(), created_at: now, active_from: now + self.activation_delay };
        self.store(file, &record).await?;
        Ok(record)
    }

    async fn store(&self, file: KeyFile, record: &SigningKeyRecord) -> Result<(), KeyError> {
        let dir = self.dir.clone();
        blocking(move || file.write(&dir)).await??;
        self.repo.insert(record).await?;
        Ok(())
    }

    /// All recorded keys with their files and whether each is published now.
    pub async fn records(&self) -> Result<Vec<SigningKeyRecord>, KeyError> {
        Ok(self.repo.list().await?)
    }

    /// Loads the ring as of now. Files are read once per key and then kept.
    pub async fn load(&self) -> Result<KeyRing, KeyError> {
        let records = self.repo.list().await?;
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let cached = self.loaded.lock().unwrap_or_else(|e| e.into_inner()).get(&record.kid).cloned();
            let key = match cached {
                Some(k) => k,
                None => {
                    let (dir, kid) = (self.dir.clone(), record.kid.clone());
                    let file = blocking(move || KeyFile::read(&dir, &kid)).await??;
                    let key = LoadedKey::new(record.clone(), &file)
                        .map_err(|source| KeyError::Parse { kid: record.kid.clone(), source })?;
                    let key = Arc::new(key);
                    self.loaded.lock().unwrap_or_else(|e| e.into_inner()).insert(record.kid.clone(), key.clone());
                    key
                }
            };
            keys.push(key);
        }
        let now = self.clock.now();
        let ring = KeyRing::build(keys, now, self.access_ttl);
        if ring.signing_key(now).is_none() {
            return Err(KeyError::NoActiveKey);
        }
        Ok(ring)
    }
}

fn newest_key_file(dir: &std::path::Path) -> Option<KeyFile> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "pem"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .and_then(|(_, path)| KeyFile::read_path(&path).ok())
}
