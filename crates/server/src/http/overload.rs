//! Load shedding: past `http.max_in_flight` requests at once a node answers 503
//! `temporarily_unavailable` with `Retry-After` at once, instead of queueing without bound
//! (where every request would wait longer than its client does). The requests it accepts keep
//! a latency of about `max_in_flight ÷ throughput`, and it recovers the moment the load drops.
//!
//! Probes and metrics are never shed (a load balancer must not take a busy node for a dead
//! one), and a revocation-feed stream counts only until its response starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_proto::ErrorCode;

use crate::http::error::ApiError;
use crate::http::paths;

/// Seconds a shed client is told to wait.
const RETRY_AFTER_SECS: u64 = 1;

/// Requests in flight on this node, and how many may be.
pub struct InFlight {
    now: AtomicUsize,
    max: usize,
    /// `portcullis_http_in_flight`: requests holding a slot.
    gauge: metrics::Gauge,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight").field("now", &self.now).field("max", &self.max).finish()
    }
}

impl InFlight {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { now: AtomicUsize::new(0), max, gauge: metrics::gauge!("portcullis_http_in_flight") })
    }

    /// A slot, or `None` when every one is taken.
    fn enter(self: &Arc<Self>) -> Option<Slot> {
        let before = self.now.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.clone(), false);
        let admitted = before < self.max;
        if admitted {
            self.gauge.increment(1.0);
        }
        slot.admitted(admitted)
    }
}

/// One request's place; given back when dropped (the response is ready, or the client left).
struct Slot(Arc<InFlight>, bool);

impl Slot {
    fn admitted(mut self, yes: bool) -> Option<Self> {
        self.1 = yes;
        yes.then_some(self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
        if self.1 {
            self.0.gauge.decrement(1.0);
        }
    }
}

fn never_shed(path: &str) -> bool {
    [paths::HEALTHZ, paths::READYZ, paths::METRICS].contains(&path)
}

/// What the middleware needs.
#[derive(Clone, Debug)]
pub struct Gate {
    pub in_flight: Arc<InFlight>,
    /// `http.max_body_bytes`.
    pub body_limit: usize,
}

/// The middleware. The body is read before a slot is taken: a client that sends it slowly
/// holds a connection (bounded by `http.max_connections`, timed out by
/// `http.request_timeout`), never one of the few slots, or a handful of slow sockets would
/// shed everyone else.
pub async fn shed(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    if never_shed(req.uri().path()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidRequest,
            format!("the request body is larger than {} bytes, or was cut off", gate.body_limit),
        )
        .into_response()
    };
    if declared.is_some_and(|n| n > gate.body_limit as u64) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, gate.body_limit).await else {
        return too_large();
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    let Some(_slot) = gate.in_flight.enter() else {
        metrics::counter!("portcullis_http_shed_total").increment(1);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            format!("the server is overloaded; retry after {RETRY_AFTER_SECS} s"),
        );
        e.retry_after = Some(RETRY_AFTER_SECS);
        return e.into_response();
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back() {
        let gate = InFlight::new(2);
        let a = gate.enter().expect("first");
        let b = gate.enter().expect("second");
        assert!(gate.enter().is_none(), "the third is shed");
        drop(a);
        let c = gate.enter().expect("a freed slot is taken again");
        drop((b, c));
        assert_eq!(gate.now.load(Ordering::Acquire), 0, "a shed attempt gives its count back too");
    }
}
