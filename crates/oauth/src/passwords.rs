//! `PasswordVerifier`: argon2id off the async runtime, with bounded concurrency.
//!
//! Each verification holds ~19 MiB and tens of milliseconds of one core. Running them on the
//! blocking pool keeps async workers free for token, JWKS and introspection requests; the
//! semaphore keeps a login flood from queueing unbounded work or memory, and the queue in front
//! of it is bounded too: past [`QUEUE_PER_PERMIT`] waiting checks per permit a check is refused
//! at once (`Busy`), so a flood of guesses from many addresses cannot hold every request slot
//! of the node (`http.max_in_flight`) while it waits its turn, and shed everyone else's tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcullis_domain::password::PasswordHasher;
use portcullis_domain::secret::Secret;
use tokio::sync::Semaphore;

/// Checks allowed to wait (or run) per argon2 permit.
pub const QUEUE_PER_PERMIT: usize = 16;

#[derive(Clone, Debug)]
pub struct PasswordVerifier {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
    /// Checks waiting or running, and how many may be.
    queued: Arc<AtomicUsize>,
    max_queued: usize,
}

/// A check that did not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Too many checks are already waiting: retry in a moment.
    #[error("too many password checks are waiting")]
    Busy,
    #[error(transparent)]
    Failed(#[from] VerifyTaskFailed),
}

/// A place in the queue; given back when the check is done or abandoned.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The verification could not run (the blocking task died).
#[derive(Debug, thiserror::Error)]
#[error("password verification task failed")]
pub struct VerifyTaskFailed;

impl PasswordVerifier {
    /// `max_parallel`: argon2 computations allowed at once (others wait their turn).
    pub fn new(hasher: PasswordHasher, max_parallel: usize) -> Self {
        let max_parallel = max_parallel.max(1);
        Self {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(max_parallel)),
            queued: Arc::default(),
            max_queued: max_parallel * QUEUE_PER_PERMIT,
        }
    }

    /// Verifies `password` against `stored`, or spends the same time if there is no user;
    /// `Busy` at once when the queue is full.
    pub async fn verify(&self, password: Secret, stored: Option<String>) -> Result<bool, VerifyError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(VerifyError::Busy);
        }
        let _place = Queued(self.queued.clone());
        let _permit = self.permits.acquire().await.map_err(|_| VerifyTaskFailed)?;
        let hasher = self.hasher.clone();
        // No user, or a user with no password (signed up by code): the same time spent, no match.
        tokio::task::spawn_blocking(move || match stored.filter(|phc| !phc.is_empty()) {
            Some(phc) => hasher.verify(password.expose(), &phc),
            None => hasher.verify_dummy(password.expose()),
        })
        .await
        .map_err(|_| VerifyError::Failed(VerifyTaskFailed))
    }

    /// Hashes a new password on the blocking pool.
    pub async fn hash(&self, password: Secret) -> Result<String, VerifyTaskFailed> {
        let _permit = self.permits.acquire().await.map_err(|_| VerifyTaskFailed)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.hash(password.expose())).await.map_err(|_| VerifyTaskFailed)
    }
}

#[cfg(test)]
mod tests {
    use portcullis_domain::password::PasswordCost;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_a_check_is_refused_at_once() {
        let cost = PasswordCost { memory_kib: 8 * 1024, iterations: 4, parallelism: 1 };
        let v = PasswordVerifier::new(PasswordHasher::new(cost).expect("cost"), 1);
        let checks: Vec<_> = (0..QUEUE_PER_PERMIT + 8)
            .map(|_| {
                let v = v.clone();
                tokio::spawn(async move { v.verify(Secret::new("a guess at it"), None).await })
            })
            .collect();
        let mut busy = 0;
        for c in checks {
            match c.await.expect("join") {
                Ok(matched) => assert!(!matched),
                Err(VerifyError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(busy >= 8, "{busy} refused: at most {QUEUE_PER_PERMIT} wait for the one permit");
        assert_eq!(v.queued.load(Ordering::Acquire), 0, "every place is given back");
        assert!(v.verify(Secret::new("a guess at it"), None).await.is_ok(), "and the queue serves again");
    }
}
