//! `PasswordVerifier`: argon2id off the async runtime, with bounded concurrency.
//!
//! Each verification holds ~19 MiB and tens of milliseconds of one core. Running them on the
//! blocking pool keeps async workers free for token, JWKS and introspection requests; the
//! semaphore keeps a login flood from queueing unbounded work or memory.

use std::sync::Arc;

use portcullis_domain::password::PasswordHasher;
use portcullis_domain::secret::Secret;
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct PasswordVerifier {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
}

/// The verification could not run (the blocking task died).
#[derive(Debug, thiserror::Error)]
#[error("password verification task failed")]
pub struct VerifyTaskFailed;

impl PasswordVerifier {
    /// `max_parallel`: argon2 computations allowed at once (others wait their turn).
    pub fn new(hasher: PasswordHasher, max_parallel: usize) -> Self {
        Self { hasher: Arc::new(hasher), permits: Arc::new(Semaphore::new(max_parallel.max(1))) }
    }

    /// Verifies `password` against `stored`, or spends the same time if there is no user.
    pub async fn verify(&self, password: Secret, stored: Option<String>) -> Result<bool, VerifyTaskFailed> {
        let _permit = self.permits.acquire().await.map_err(|_| VerifyTaskFailed)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(phc) => hasher.verify(password.expose(), &phc),
            None => hasher.verify_dummy(password.expose()),
        })
        .await
        .map_err(|_| VerifyTaskFailed)
    }

    /// Hashes a new password on the blocking pool.
    pub async fn hash(&self, password: Secret) -> Result<String, VerifyTaskFailed> {
        let _permit = self.permits.acquire().await.map_err(|_| VerifyTaskFailed)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.hash(password.expose())).await.map_err(|_| VerifyTaskFailed)
    }
}
