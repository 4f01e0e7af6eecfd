//! `GET /oauth2/revocation-feed`: the revocation feed as server-sent events
//! (docs/revocation-feed.md). Client-authenticated with HTTP Basic.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use portcullis_oauth::OAuthError;
use portcullis_proto::FeedEvent;
use portcullis_proto::feed::{CaughtUp, SSE_CAUGHT_UP, SSE_REVOCATION};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::error::{ApiError, OAuthErrorResponse};
use crate::app::App;

/// How long a follower waits before reconnecting after the stream ends.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Deserialize)]
pub struct FeedParams {
    after: Option<String>,
}

/// Streams revocations: the backlog, `caught-up`, then live events.
#[utoipa::path(
    get,
    path = "/oauth2/revocation-feed",
    tag = "oauth2",
    params(
        ("after" = Option<i64>, Query, description = "resume after this event id (or send Last-Event-ID)"),
    ),
    responses(
        (status = 200, description = "text/event-stream of `session-revoked` events (docs/revocation-feed.md)", body = portcullis_proto::FeedEvent, content_type = "text/event-stream"),
        (status = 400, description = "invalid_request: `after` or Last-Event-ID is not an integer", body = portcullis_proto::ErrorBody),
        (status = 401, description = "invalid_client", body = portcullis_proto::ErrorBody),
    )
)]
pub async fn feed(State(app): State<App>, headers: HeaderMap, Query(params): Query<FeedParams>) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Err(e) = app.tokens.authenticate_basic(authorization).await {
        return OAuthErrorResponse(e).into_response();
    }
    let resume = params.after.or_else(|| headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let after = match resume.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            let e = OAuthError::invalid_request("after (or Last-Event-ID) must be a non-negative integer");
            return OAuthErrorResponse(e).into_response();
        }
    };
    // Subscribe first: an event recorded while the backlog is read is then seen at least once.
    let live = app.revocations.subscribe();
    let backlog = match app.revocations.backlog(after).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "reading the revocation backlog failed");
            return ApiError::internal().into_response();
        }
    };
    let last_id = backlog.iter().map(|e| e.id).max().unwrap_or(0).max(after.unwrap_or(0));
    let sent: HashSet<i64> = backlog.iter().map(|e| e.id).collect();
    let caught_up = Event::default()
        .event(SSE_CAUGHT_UP)
        .json_data(CaughtUp { last_id })
        .unwrap_or_else(|_| Event::default().event(SSE_CAUGHT_UP));
    let mut shutdown = app.shutdown.subscribe();
    let events = stream::once(async { Event::default().retry(RETRY) })
        .chain(stream::iter(backlog.iter().map(revocation).collect::<Vec<_>>()))
        .chain(stream::once(async { caught_up }))
        .chain(live_events(live, sent))
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        })
        .map(Ok::<_, Infallible>);
    let keep_alive = KeepAlive::new().interval(app.config.revocation.feed_keep_alive).text("keep-alive");
    let mut res = Sse::new(events).keep_alive(keep_alive).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tell buffering proxies to pass events through at once.
    res.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    *res.status_mut() = StatusCode::OK;
    res
}

fn revocation(e: &FeedEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(SSE_REVOCATION)
        .json_data(e)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event skipped"))
}

/// Live events not already sent in the backlog. Ends when this follower falls too far behind
/// (it reconnects with Last-Event-ID and loses nothing).
fn live_events(rx: broadcast::Receiver<Arc<FeedEvent>>, sent: HashSet<i64>) -> impl Stream<Item = Event> {
    stream::unfold((rx, sent), |(mut rx, sent)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if sent.contains(&e.id) => continue,
                Ok(e) => return Some((revocation(&e), (rx, sent))),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "a revocation-feed follower fell behind; ending its stream");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
