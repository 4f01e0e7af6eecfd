//! `GET /oauth2/revocation-feed`: the revocation feed as server-sent events
//! (docs/revocation-feed.md). For resource servers only, authenticated with HTTP Basic; at most
//! `revocation.feed_max_per_client` streams per client on a node; the backlog is read and sent
//! a page at a time.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};
use portcullis_oauth::OAuthError;
use portcullis_proto::FeedEvent;
use portcullis_proto::feed::{CaughtUp, SSE_CAUGHT_UP, SSE_REVOCATION};
use portcullis_revocation::Revocations;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::app::App;
use crate::feed_slots::FeedSlot;
use crate::http::error::{ApiError, OAuthErrorResponse};
use crate::http::query::Query;

/// How long a follower waits before reconnecting after the stream ends.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);
/// Revocation log rows read per backlog page.
const PAGE: u64 = 1000;
/// Backlog ids remembered to skip their live duplicates; past it a duplicate may be sent
/// (followers apply events idempotently).
const SENT_REMEMBERED: usize = 65_536;

#[derive(Debug, Deserialize)]
pub struct FeedParams {
    after: Option<String>,
}

/// Streams revocations: the backlog, `caught-up`, then live events.
#[utoipa::path(
    get,
    path = crate::http::paths::REVOCATION_FEED,
    tag = "oauth2",
    params(
        ("after" = Option<i64>, Query, description = "resume after this event id (or send Last-Event-ID)"),
    ),
    responses(
        (status = 200, description = "text/event-stream of `session-revoked` events (docs/revocation-feed.md)", body = portcullis_proto::FeedEvent, content_type = "text/event-stream"),
        (status = 400, description = "invalid_request: `after` or Last-Event-ID is not an integer", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
        (status = 403, description = "unauthorized_client: the client is not registered as a resource server", body = portcullis_proto::ErrorBody),
        (status = 429, description = "the client has as many streams open on this node as allowed; see Retry-After", body = portcullis_proto::ErrorBody),
    )
)]
pub async fn feed(State(app): State<App>, headers: HeaderMap, Query(params): Query<FeedParams>) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let client = match app.tokens().authenticate_resource_server(authorization).await {
        Ok(c) => c,
        Err(e) => return OAuthErrorResponse(e).into_response(),
    };
    let resume = params.after.or_else(|| headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let after = match resume.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            let e = OAuthError::invalid_request("after (or Last-Event-ID) must be a non-negative integer");
            return OAuthErrorResponse(e).into_response();
        }
    };
    let Some(slot) = app.feeds().acquire(client.id.as_str(), app.config().revocation.feed_max_per_client) else {
        let why = "this client has as many revocation-feed streams open on this node as allowed";
        return ApiError::throttled(RETRY.as_secs().max(1), why).into_response();
    };
    // Subscribe first: an event recorded while the backlog is read is then seen at least once.
    let live = app.revocations().subscribe();
    let follower = Follower {
        revocations: app.revocations().clone(),
        phase: match after {
            Some(after) => Phase::Overlap { after },
            None => Phase::Backlog { from_id: 0 },
        },
        last_id: after.unwrap_or(0),
        sent: HashSet::new(),
        pending: VecDeque::new(),
        live,
        _slot: slot,
    };
    let mut shutdown = app.stopping();
    let events = stream::once(async { Event::default().retry(RETRY) })
        .chain(stream::unfold(follower, Follower::next))
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        })
        .map(Ok::<_, Infallible>);
    let keep_alive = KeepAlive::new().interval(app.config().revocation.feed_keep_alive).text("keep-alive");
    let mut res = Sse::new(events).keep_alive(keep_alive).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tell buffering proxies to pass events through at once.
    res.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    *res.status_mut() = StatusCode::OK;
    res
}

enum Phase {
    /// A resuming follower: the last seconds' events at or below `after` first (late commits).
    Overlap {
        after: i64,
    },
    /// Reading the backlog, a page at a time, from ids above `from_id`: what the follower missed
    /// comes first.
    Backlog {
        from_id: i64,
    },
    CaughtUp,
    Live,
}

/// One follower's stream: the backlog pages, `caught-up`, then live events not already sent.
struct Follower {
    revocations: Arc<Revocations>,
    phase: Phase,
    last_id: i64,
    sent: HashSet<i64>,
    pending: VecDeque<Event>,
    live: broadcast::Receiver<Arc<FeedEvent>>,
    _slot: FeedSlot,
}

impl Follower {
    /// Queues backlog events to send, remembering their ids to skip their live duplicates.
    fn queue(&mut self, events: &[FeedEvent]) {
        for e in events {
            self.last_id = self.last_id.max(e.id);
            if self.sent.len() < SENT_REMEMBERED {
                self.sent.insert(e.id);
            }
            self.pending.push_back(revocation(e));
        }
    }

    async fn next(mut self) -> Option<(Event, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            match self.phase {
                Phase::Overlap { after } => {
                    match self.revocations.resume_overlap(after).await {
                        Ok(events) => self.queue(&events),
                        Err(e) => {
                            tracing::error!(error = %portcullis_domain::error::Chain(&e), "reading the revocation backlog failed; ending the stream");
                            return None;
                        }
                    }
                    self.phase = Phase::Backlog { from_id: after };
                }
                Phase::Backlog { from_id } => {
                    let (page, more) = match self.revocations.backlog_page(from_id, PAGE).await {
                        Ok(p) => p,
                        Err(e) => {
                            // The follower reconnects and resumes: nothing is lost.
                            tracing::error!(error = %portcullis_domain::error::Chain(&e), "reading the revocation backlog failed; ending the stream");
                            return None;
                        }
                    };
                    self.queue(&page);
                    self.phase = match more {
                        Some(last) => Phase::Backlog { from_id: last },
                        None => Phase::CaughtUp,
                    };
                }
                Phase::CaughtUp => {
                    let caught_up = Event::default()
                        .event(SSE_CAUGHT_UP)
                        .json_data(CaughtUp { last_id: self.last_id })
                        .unwrap_or_else(|_| Event::default().event(SSE_CAUGHT_UP));
                    self.pending.push_back(caught_up);
                    self.phase = Phase::Live;
                }
                Phase::Live => match self.live.recv().await {
                    Ok(e) if self.sent.contains(&e.id) => continue,
                    Ok(e) => return Some((revocation(&e), self)),
                    Err(RecvError::Lagged(n)) => {
                        // It reconnects with Last-Event-ID and loses nothing.
                        tracing::warn!(missed = n, "a revocation-feed follower fell behind; ending its stream");
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

fn revocation(e: &FeedEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(SSE_REVOCATION)
        .json_data(e)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event skipped"))
}
