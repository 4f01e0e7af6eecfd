//! `Revocations`: the one place access-token revocation is checked, recorded and fed out.
//!
//! The SQL log (`RevocationLog`) is the truth; every revoking write records its event in the
//! same transaction. The fast state (`RevocationState`: Redis, or `LocalRevocations` in
//! process) answers checks; when it cannot (Redis unreachable, or emptied), checks ask the log
//! until the syncer has rebuilt the state from it. The syncer (`run_syncer`) takes new log
//! entries into the state and onto the feed: at once for this node's own writes (`recorded`),
//! on the doorbell for other nodes' writes, and every `poll` in any case.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use portcullis_domain::clock::Clock;
use portcullis_domain::ports::StoreError;
use portcullis_domain::revocation::{NewRevocation, Revocation};
use portcullis_proto::feed::FeedEvent;
use portcullis_proto::{AccessTokenClaims, TokenRef};
use tokio::sync::{Mutex, Notify, broadcast};

use crate::cursor::Cursor;
use crate::ports::{Doorbell, RevocationLog, RevocationState, Verdict};

/// How long past its revocation an event can still matter, beyond the access-token lifetime:
/// covers the clock leeway resource servers allow.
pub const HORIZON_SLACK: Duration = Duration::minutes(1);

/// Most events read from the log at once.
const BATCH: u64 = 1000;

/// Most revocations in force a rebuild reads: far beyond any real deployment's revocations per
/// access-token lifetime.
const IN_FORCE_MAX: u64 = 1_000_000;

/// How far back a resumed feed also replays, to cover ids that committed out of order.
const RESUME_OVERLAP: Duration = Duration::seconds(10);

/// Events buffered per feed follower before it is dropped as too slow (it reconnects and
/// resumes).
const FEED_BUFFER: usize = 4096;

pub struct Revocations {
    log: Arc<dyn RevocationLog>,
    state: Arc<dyn RevocationState>,
    doorbell: Option<Arc<dyn Doorbell>>,
    clock: Arc<dyn Clock>,
    issuer: String,
    /// Access-token lifetime plus `HORIZON_SLACK`.
    horizon: Duration,
    cursor: Mutex<Cursor>,
    /// The state missed a write or could not answer: checks ask the log until it is rebuilt.
    degraded: AtomicBool,
    wake: Notify,
    feed: broadcast::Sender<Arc<FeedEvent>>,
}

impl Revocations {
    pub fn new(
        log: Arc<dyn RevocationLog>,
        state: Arc<dyn RevocationState>,
        doorbell: Option<Arc<dyn Doorbell>>,
        clock: Arc<dyn Clock>,
        issuer: String,
        access_ttl: Duration,
    ) -> Self {
        Self {
            log,
            state,
            doorbell,
            clock,
            issuer,
            horizon: access_ttl + HORIZON_SLACK,
            cursor: Mutex::new(Cursor::default()),
            degraded: AtomicBool::new(true),
            wake: Notify::new(),
            feed: broadcast::channel(FEED_BUFFER).0,
        }
    }

    /// Positions the cursor at the end of the log and builds the state from it. Until this has
    /// succeeded, checks ask the log.
    pub async fn start(&self) -> Result<(), StoreError> {
        let mut cursor = self.cursor.lock().await;
        *cursor = Cursor::at(self.log.last_id().await?);
        self.rebuild().await;
        Ok(())
    }

    /// Whether the token of `claims` has been revoked. Errs only when neither the state nor the
    /// log can answer.
    pub async fn is_revoked(&self, claims: &AccessTokenClaims) -> Result<bool, StoreError> {
        let facts = TokenRef::from(claims);
        if !self.degraded.load(Ordering::Acquire) {
            match self.state.check(&facts).await {
                Verdict::Live => return Ok(false),
                Verdict::Revoked => return Ok(true),
                Verdict::Unknown => {
                    self.degraded.store(true, Ordering::Release);
                    self.wake.notify_one();
                }
            }
        }
        metrics::counter!("portcullis_revocation_checks_from_log_total").increment(1);
        self.log.revokes(&facts, self.clock.now() - self.horizon).await
    }

    /// Records a revocation that no other write carries (a client-credentials token's), and
    /// takes it in. A token revoked already is not recorded again.
    pub async fn record(&self, revocation: &NewRevocation) -> Result<(), StoreError> {
        if self.log.append(revocation).await? {
            self.recorded().await;
        }
        Ok(())
    }

    /// Called after this node recorded revocations: takes them in now and rings the others.
    pub async fn recorded(&self) {
        match self.sync().await {
            Ok(Some(last)) => {
                if let Some(bell) = &self.doorbell
                    && let Err(e) = bell.ring(last).await
                {
                    tracing::warn!(error = %portcullis_domain::error::Chain(&e), "cannot ring the revocation doorbell; other nodes poll");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %portcullis_domain::error::Chain(&e), "reading the revocation log failed; the syncer retries")
            }
        }
    }

    /// Wakes the syncer (another node rang).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Takes in new log entries until the task is dropped: on `wake`, and every `poll`.
    pub async fn run_syncer(self: Arc<Self>, poll: StdDuration) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %portcullis_domain::error::Chain(&e), "reading the revocation log failed; retrying");
            }
        }
    }

    /// One round: rebuild the state if it is degraded or was emptied, then take in everything the
    /// log has after the cursor, a page at a time until it is drained. Returns the highest id
    /// taken in, if any.
    async fn sync(&self) -> Result<Option<i64>, StoreError> {
        let mut cursor = self.cursor.lock().await;
        let emptied = matches!(self.state.is_complete().await, Ok(false));
        if emptied {
            tracing::warn!("the revocation state was emptied (Redis restart or flush): rebuilding it from SQL");
        }
        if emptied || self.degraded.load(Ordering::Acquire) {
            self.rebuild().await;
        }
        let mut from = cursor.low;
        let mut last = None;
        loop {
            let page = self.log.after(from, BATCH).await?;
            let full = page.len() as u64 >= BATCH;
            from = page.iter().map(|r| r.id).max().unwrap_or(from);
            let fresh: Vec<Revocation> = page.into_iter().filter(|r| cursor.take(r.id)).collect();
            if let Some(id) = fresh.iter().map(|r| r.id).max() {
                last = last.max(Some(id));
                if let Err(e) = self.state.apply(&fresh, self.horizon, self.clock.now()).await {
                    tracing::warn!(error = %portcullis_domain::error::Chain(&e), "revocation state missed a write; checks use SQL until it is rebuilt");
                    self.degraded.store(true, Ordering::Release);
                }
                for r in &fresh {
                    // No follower listening is not an error.
                    let _ = self.feed.send(Arc::new(self.to_feed(r)));
                }
                metrics::counter!("portcullis_revocations_synced_total").increment(fresh.len() as u64);
            }
            if !full {
                break;
            }
        }
        cursor.advance(Instant::now());
        Ok(last)
    }

    /// Replaces the state with every revocation in force; clears `degraded` on success.
    async fn rebuild(&self) {
        let now = self.clock.now();
        let result = match self.log.since(now - self.horizon, IN_FORCE_MAX).await {
            Ok(all) => self.state.rebuild(&all, self.horizon, now).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!("revocation state rebuilt from SQL");
                }
            }
            Err(e) => {
                tracing::debug!(error = %portcullis_domain::error::Chain(&e), "revocation state not rebuilt yet");
                self.degraded.store(true, Ordering::Release);
            }
        }
    }

    /// Live events from now on. Subscribe before reading the backlog, so nothing falls between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.feed.subscribe()
    }

    /// One page of what a follower gets before live events: the revocations in force with ids
    /// above `from_id` (at most `page` rows read), oldest first. A new follower pages from 0, a
    /// resuming one from its `Last-Event-ID` (after [`Self::resume_overlap`]). Returns the events
    /// and the highest id read (`None`: the backlog is done).
    pub async fn backlog_page(&self, from_id: i64, page: u64) -> Result<(Vec<FeedEvent>, Option<i64>), StoreError> {
        let now = self.clock.now();
        // Only what is in force can matter, however old `from_id` is: the log's older rows are
        // never read here.
        let rows = self.log.since_after(now - self.horizon, from_id, page).await?;
        let last = rows.iter().map(|r| r.id).max().filter(|_| rows.len() as u64 >= page);
        let events = rows.iter().filter(|r| r.expires_at(self.horizon) > now).map(|r| self.to_feed(r)).collect();
        Ok((events, last))
    }

    /// What a follower resuming after `after` gets first: the revocations of the last few seconds
    /// with ids at or below `after`. Ids may commit out of order, so one of these may have become
    /// visible only after the follower saw a higher id; sending it again is harmless.
    pub async fn resume_overlap(&self, after: i64) -> Result<Vec<FeedEvent>, StoreError> {
        let now = self.clock.now();
        let rows = self.log.since(now - RESUME_OVERLAP, BATCH).await?;
        Ok(rows.iter().filter(|r| r.id <= after && r.expires_at(self.horizon) > now).map(|r| self.to_feed(r)).collect())
    }

    /// The feed's form of a revocation (docs/revocation-feed.md).
    pub fn to_feed(&self, r: &Revocation) -> FeedEvent {
        crate::wire::event(r, &self.issuer, self.horizon)
    }
}
