//! `Signer`: access tokens are signed (RSA, a quarter of a millisecond of CPU each) on the
//! blocking pool, a few at a time, never on the async runtime.
//!
//! Why: under an offered rate past what the node can sign, signing on the runtime takes every
//! worker, and nothing is left to answer the excess with a quick 503; answers then fall behind
//! the requests and every latency grows without bound (measured: 3× the peak on one core, the
//! accepted requests' p99 6.5 s). Here, at most one signature per core runs at once and at most
//! [`MAX_WAITING`] more wait; past that a new token is refused at once (`Busy`, 503 with
//! `Retry-After`), while the runtime's workers keep their share of the CPU to say so.
//!
//! A token whose refusal would lose something (a refresh, minted after its rotation is
//! committed) waits instead: [`WhenFull::Wait`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use portcullis_tokens::keyring::KeyRing;
use portcullis_tokens::mint::{AccessTokenMinter, IdTokenInput, MintError, MintInput, Minted};
use tokio::sync::Semaphore;

/// Tokens waiting for a signer, at most, beyond those being signed: a closed loop of 64
/// clients never meets the bound, an overload does at once.
pub const MAX_WAITING: usize = 64;

/// What a mint does when the signers and their queue are full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// `Busy` at once: nothing is promised yet (a new session, a client's token).
    Refuse,
    /// Wait its turn: the token is promised (a refresh, after its rotation is committed).
    Wait,
}

/// Why a token was not minted.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Every signer is busy and the queue is full: answer 503 with `Retry-After`.
    #[error("every signer is busy")]
    Busy,
    #[error(transparent)]
    Mint(#[from] MintError),
    #[error("the signing task failed: {0}")]
    Task(String),
}

/// The signers of one node (see the module documentation).
#[derive(Debug)]
pub struct Signer {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Signer {
    /// `threads` signatures at once (the node's cores), `max_waiting` more queued.
    pub fn new(threads: usize, max_waiting: usize) -> Self {
        Self { running: Arc::new(Semaphore::new(threads.max(1))), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// Two signers per core the process may run on: one signs while the other's token goes
    /// back and the next is handed over.
    pub fn per_core() -> Self {
        Self::new(2 * std::thread::available_parallelism().map_or(1, usize::from), MAX_WAITING)
    }

    /// Mints a token; when the signers and their queue are full, `Busy` at once
    /// ([`WhenFull::Refuse`]) or after its turn ([`WhenFull::Wait`], for a token already promised).
    pub async fn mint(
        &self,
        minter: &AccessTokenMinter,
        ring: Arc<KeyRing>,
        input: MintInput<'_>,
        now: DateTime<Utc>,
        when_full: WhenFull,
    ) -> Result<Minted, SignError> {
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _place = Place(&self.waiting);
        if queued >= self.max_waiting && when_full == WhenFull::Refuse {
            metrics::counter!("portcullis_signer_busy_total").increment(1);
            return Err(SignError::Busy);
        }
        self.sign(minter, ring, input, now).await
    }

    async fn sign(
        &self,
        minter: &AccessTokenMinter,
        ring: Arc<KeyRing>,
        input: MintInput<'_>,
        now: DateTime<Utc>,
    ) -> Result<Minted, SignError> {
        let running = self.running.clone().acquire_owned().await.map_err(|e| SignError::Task(e.to_string()))?;
        let minter = minter.clone();
        let owned = Owned::from(input);
        tokio::task::spawn_blocking(move || {
            let minted = minter.mint(&ring, owned.borrow(), now);
            // Given back by the signing thread itself, not when the runtime next polls the
            // request: a busy runtime must not leave a signer idle.
            drop(running);
            minted
        })
        .await
        .map_err(|e| SignError::Task(e.to_string()))?
        .map_err(SignError::from)
    }
}

#[cfg(test)]
impl Signer {
    /// Takes a signer's permit, as a signature in progress would.
    pub(crate) fn occupy(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.running.clone().try_acquire_owned().expect("a free signer")
    }
}

/// A place in the queue, given back when dropped (signed, refused, or the client left).
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A [`MintInput`] that can move to another thread.
struct Owned {
    sub: String,
    client_id: String,
    scope: String,
    sid: Option<String>,
    dfp: Option<String>,
    id_token: Option<IdTokenInput>,
}

impl From<MintInput<'_>> for Owned {
    fn from(i: MintInput<'_>) -> Self {
        Self {
            sub: i.sub.to_owned(),
            client_id: i.client_id.to_owned(),
            scope: i.scope.to_owned(),
            sid: i.sid.map(str::to_owned),
            dfp: i.dfp.map(str::to_owned),
            id_token: i.id_token.cloned(),
        }
    }
}

impl Owned {
    fn borrow(&self) -> MintInput<'_> {
        MintInput {
            sub: &self.sub,
            client_id: &self.client_id,
            scope: &self.scope,
            sid: self.sid.as_deref(),
            dfp: self.dfp.as_deref(),
            id_token: self.id_token.as_ref(),
        }
    }
}
