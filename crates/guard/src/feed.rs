//! Following the revocation feed (docs/revocation-feed.md): one background task that keeps a
//! connection open, applies `session-revoked` events to the shared [`RevocationSet`], remembers
//! the last event id, and reconnects with `Last-Event-ID` after an error, the end of the stream,
//! or too long a silence.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use portcullis_proto::feed::{CaughtUp, SESSION_REVOKED, SSE_CAUGHT_UP, SSE_REVOCATION};
use portcullis_proto::{FeedEvent, RevocationSet, TokenRef};
use tokio::sync::watch;

use crate::jws::unix_now;
use crate::sse::{SseItem, SseParser};

/// How long the feed may stay silent (no event, no keep-alive comment) before the guard drops
/// the connection and reconnects. The server sends a keep-alive every 5 s.
pub const DEFAULT_SILENCE_TIMEOUT: Duration = Duration::from_secs(15);
/// The wait before reconnecting until the server sends `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Bounds on the server's `retry:` and on the backoff after repeated failures.
const MIN_RETRY: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often expired revocations are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Time allowed to connect and receive the response head.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the feed follower has done so far; watch it with [`Guard::feed_status`](crate::Guard::feed_status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedStatus {
    /// A stream is open now.
    pub connected: bool,
    /// A `caught-up` event has been received since the guard started: the guard knows every
    /// revocation in force up to then. Stays true across reconnects.
    pub caught_up: bool,
    /// The SSE id of the last event received, sent as `Last-Event-ID` on reconnect.
    pub last_event_id: Option<String>,
    /// Streams opened so far.
    pub connections: u64,
    /// `session-revoked` events applied so far.
    pub events_applied: u64,
}

/// What verifiers read: the revocations in force, whether to trust them yet, and how long
/// the feed has been silent.
#[derive(Debug)]
pub(crate) struct FeedState {
    set: RwLock<RevocationSet>,
    /// Tokens may be accepted: the feed caught up, or the start-up policy gave up waiting.
    open: AtomicBool,
    /// When the feed last sent anything (an event, a keep-alive), in milliseconds since the
    /// epoch; the guard's start until it first does.
    heard_ms: AtomicI64,
}

/// Milliseconds since the epoch, by the wall clock.
fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl FeedState {
    pub fn new(open: bool) -> Self {
        Self {
            set: RwLock::new(RevocationSet::new()),
            open: AtomicBool::new(open),
            heard_ms: AtomicI64::new(unix_ms()),
        }
    }

    /// The feed just sent something: it is not blind.
    pub fn heard(&self) {
        self.heard_ms.store(unix_ms(), Ordering::Release);
    }

    /// How long since the feed last sent anything.
    pub fn silent_for(&self) -> Duration {
        let ms = unix_ms().saturating_sub(self.heard_ms.load(Ordering::Acquire));
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    pub fn is_revoked(&self, token: &TokenRef<'_>) -> bool {
        self.set.read().unwrap_or_else(|e| e.into_inner()).is_revoked(token)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RevocationSet> {
        self.set.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.set.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Everything the follower task needs.
pub(crate) struct Follower {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub authorization: HeaderValue,
    pub issuer: String,
    pub silence: Duration,
    pub state: Arc<FeedState>,
    pub status: watch::Sender<FeedStatus>,
}

#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error("the feed endpoint could not be reached: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the feed endpoint answered {0}")]
    Status(StatusCode),
    #[error("the feed endpoint did not answer in time")]
    ConnectTimeout,
    #[error("the feed endpoint did not answer text/event-stream")]
    NotEventStream,
    #[error("the feed was silent for {0:?}")]
    Silent(Duration),
    #[error("the server ended the stream")]
    Ended,
}

impl Follower {
    /// Follows the feed for as long as the task lives.
    pub async fn run(self) {
        let mut retry = DEFAULT_RETRY;
        let mut failures: u32 = 0;
        loop {
            let mut caught_up_here = false;
            let end = self.stream(&mut retry, &mut caught_up_here).await;
            self.status.send_if_modified(|s| std::mem::replace(&mut s.connected, false));
            // A stream that delivered its backlog was healthy: start the backoff over.
            if caught_up_here {
                failures = 0;
            } else {
                failures = failures.saturating_add(1);
            }
            let wait = backoff(retry, failures);
            match &end {
                StreamEnd::Ended if caught_up_here => {
                    tracing::info!(reconnect_in_ms = wait.as_millis() as u64, "revocation feed: {end}")
                }
                _ => tracing::warn!(reconnect_in_ms = wait.as_millis() as u64, "revocation feed: {end}"),
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One connection, from the request to the end of its stream.
    async fn stream(&self, retry: &mut Duration, caught_up_here: &mut bool) -> StreamEnd {
        let last_id = self.status.borrow().last_event_id.clone();
        let mut request = self
            .http
            .get(&self.endpoint)
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache")
            .header(AUTHORIZATION, self.authorization.clone());
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id.as_str());
        }
        let mut response = match tokio::time::timeout(CONNECT_TIMEOUT, request.send()).await {
            Err(_) => return StreamEnd::ConnectTimeout,
            Ok(Err(e)) => return StreamEnd::Http(e),
            Ok(Ok(r)) => r,
        };
        if response.status() != StatusCode::OK {
            return StreamEnd::Status(response.status());
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
        if !is_sse {
            return StreamEnd::NotEventStream;
        }
        self.status.send_modify(|s| {
            s.connected = true;
            s.connections += 1;
        });
        tracing::debug!(last_event_id = last_id.as_deref(), "revocation feed connected");

        let mut parser = SseParser::new();
        let mut items = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(self.silence, response.chunk()).await {
                Err(_) => return StreamEnd::Silent(self.silence),
                Ok(Err(e)) => return StreamEnd::Http(e),
                Ok(Ok(None)) => return StreamEnd::Ended,
                Ok(Ok(Some(chunk))) => chunk,
            };
            parser.push(&chunk, &mut items);
            if !items.is_empty() {
                self.apply(items.drain(..), retry, caught_up_here);
            }
            // Keep-alives count: the feed is alive even when nothing is revoked. But a new
            // stream counts only from its `caught-up`: until then what was missed meanwhile is
            // still on its way, and the guard stays blind.
            if *caught_up_here {
                self.state.heard();
            }
        }
    }

    /// Applies what one chunk completed: events are parsed first, then applied under one write lock.
    fn apply(&self, items: impl Iterator<Item = SseItem>, retry: &mut Duration, caught_up_here: &mut bool) {
        let mut last_id = None;
        let mut events = Vec::new();
        let mut caught_up = false;
        for item in items {
            let event = match item {
                SseItem::Retry(d) => {
                    *retry = d.clamp(MIN_RETRY, MAX_BACKOFF);
                    continue;
                }
                SseItem::Oversized => {
                    tracing::error!("revocation feed: an event over the size bound was dropped");
                    continue;
                }
                SseItem::Event(e) => e,
            };
            if event.id.is_some() {
                last_id = event.id;
            }
            match event.event.as_str() {
                SSE_REVOCATION => match serde_json::from_str::<FeedEvent>(&event.data) {
                    Ok(e) if e.kind == SESSION_REVOKED && e.iss == self.issuer => events.push(e),
                    Ok(e) => {
                        tracing::warn!(id = e.id, kind = %e.kind, "revocation feed: event of another type or issuer ignored")
                    }
                    Err(error) => tracing::error!(%error, "revocation feed: unreadable session-revoked event"),
                },
                SSE_CAUGHT_UP => {
                    if let Err(error) = serde_json::from_str::<CaughtUp>(&event.data) {
                        tracing::warn!(%error, "revocation feed: unreadable caught-up event");
                    }
                    caught_up = true;
                }
                _ => {}
            }
        }
        if !events.is_empty() {
            let mut set = self.state.write();
            for e in &events {
                set.apply(e);
            }
        }
        if caught_up {
            *caught_up_here = true;
            self.state.open();
        }
        let applied = events.len() as u64;
        self.status.send_if_modified(|s| {
            let changed = caught_up && !s.caught_up || applied > 0 || last_id.is_some();
            s.caught_up |= caught_up;
            s.events_applied += applied;
            if last_id.is_some() {
                s.last_event_id = last_id;
            }
            changed
        });
    }
}

/// The wait before reconnecting: the server's `retry` after a clean end, doubling with each
/// failure in a row up to [`MAX_BACKOFF`], plus up to a quarter of jitter so that resource
/// servers do not all come back in the same millisecond after an issuer restart.
fn backoff(retry: Duration, failures: u32) -> Duration {
    let base = retry.saturating_mul(1u32 << failures.saturating_sub(1).min(10)).min(MAX_BACKOFF);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = base.as_millis() as u64 / 4;
    base + Duration::from_millis(if jitter == 0 { 0 } else { u64::from(nanos) % jitter })
}

/// Forgets revocations that can no longer affect a valid token, every [`PRUNE_EVERY`].
pub(crate) async fn prune_forever(state: Arc<FeedState>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut set = state.write();
        let before = set.len();
        // Expired entries are kept one leeway longer: a token may be accepted that long past `exp`.
        set.prune(unix_now() - crate::jws::LEEWAY_SECS);
        tracing::debug!(pruned = before - set.len(), held = set.len(), "revocations pruned");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap() {
        let r = Duration::from_millis(1000);
        assert!(backoff(r, 0) >= r && backoff(r, 0) < r * 5 / 4 + Duration::from_millis(1));
        assert!(backoff(r, 1) >= r && backoff(r, 1) <= r * 5 / 4);
        assert!(backoff(r, 3) >= r * 4 && backoff(r, 3) <= r * 5);
        assert!(backoff(r, 40) >= MAX_BACKOFF && backoff(r, 40) <= MAX_BACKOFF * 5 / 4);
    }
}
