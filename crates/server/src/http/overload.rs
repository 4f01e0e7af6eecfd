//! Load shedding: a node answers 503 `temporarily_unavailable` with `Retry-After` at once,
//! instead of queueing without bound (where every request would wait longer than its client
//! does), when either
//! - `http.max_in_flight` requests are being handled (work waiting on the database, the argon2
//!   queue), or
//! - the runtime is `http.max_queue_delay` behind: a request that is ready waits that long
//!   before a worker runs it. That is how CPU saturation shows: a CPU-bound request (a
//!   signature) runs start to finish in one go, so few are ever "in flight" while hundreds wait
//!   to be read at all. [`Lag`] measures it with a task that sleeps a few milliseconds and
//!   notes how late it wakes.
//!
//! Shedding is cheap (no signature, no database), so the backlog drains, the accepted requests
//! keep a latency near the bound, and the node recovers the moment the load drops.
//!
//! Probes and metrics are never shed (a load balancer must not take a busy node for a dead
//! one), and a revocation-feed stream counts only until its response starts.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

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
        if self.now.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.now.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        self.gauge.increment(1.0);
        Some(Slot(self.clone()))
    }
}

/// How far behind the runtime is: how late a task that asked to wake after [`TICK`] woke, the
/// last time it did — or, while its wake is overdue, how overdue it is already. The second
/// matters most: a sampler stuck behind a thousand ready requests cannot report, and a gate that
/// read only its last report would admit the whole backlog before it ran again (seen at 3× the
/// peak on one core: 6 % shed, 6 s latency). Sampled by a task of its own; it stops when the
/// `Lag` is dropped.
#[derive(Debug)]
pub struct Lag {
    base: std::time::Instant,
    /// How late the last wake was.
    micros: AtomicU64,
    /// When the pending wake is due, in µs since `base`.
    due: AtomicU64,
}

/// The sampling task's sleep.
const TICK: Duration = Duration::from_millis(5);

impl Lag {
    /// Starts sampling on the current runtime.
    pub fn start() -> Arc<Self> {
        let base = std::time::Instant::now();
        let lag = Arc::new(Self { base, micros: AtomicU64::new(0), due: AtomicU64::new(u64::MAX) });
        let weak = Arc::downgrade(&lag);
        let gauge = metrics::gauge!("portcullis_runtime_lag_seconds");
        tokio::spawn(async move {
            loop {
                let due = tokio::time::Instant::now() + TICK;
                match weak.upgrade() {
                    Some(lag) => lag.due.store(lag.since_base(due.into_std()), Ordering::Relaxed),
                    None => return,
                }
                tokio::time::sleep_until(due).await;
                let late = due.elapsed();
                let Some(lag) = weak.upgrade() else { return };
                lag.micros.store(late.as_micros() as u64, Ordering::Relaxed);
                gauge.set(late.as_secs_f64());
            }
        });
        lag
    }

    fn since_base(&self, t: std::time::Instant) -> u64 {
        t.saturating_duration_since(self.base).as_micros() as u64
    }

    pub fn now(&self) -> Duration {
        let last = self.micros.load(Ordering::Relaxed);
        let overdue = self.since_base(std::time::Instant::now()).saturating_sub(self.due.load(Ordering::Relaxed));
        Duration::from_micros(last.max(overdue))
    }
}

/// One request's place; given back when dropped (the response is ready, or the client left).
struct Slot(Arc<InFlight>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
        self.0.gauge.decrement(1.0);
    }
}

fn never_shed(path: &str) -> bool {
    [paths::HEALTHZ, paths::READYZ, paths::METRICS].contains(&path)
}

/// What the middleware needs.
#[derive(Clone, Debug)]
pub struct Gate {
    pub in_flight: Arc<InFlight>,
    pub lag: Arc<Lag>,
    /// `http.max_queue_delay`.
    pub max_lag: Duration,
    /// `http.max_body_bytes`.
    pub body_limit: usize,
    /// `account.avatar_max_bytes`: the one route whose body may be larger (`PUT /me/avatar`).
    pub avatar_limit: usize,
    /// Larger bodies read at once: they are read before anyone is authenticated, so without a
    /// bound a crowd of slow uploads would hold `connections × avatar_limit` of memory.
    pub large_bodies: Arc<LargeBodies>,
}

/// The slots for larger bodies: [`LARGE_BODIES`] in all, [`LARGE_BODIES_PER_ADDRESS`] per
/// address (an IPv6 /64 counting as one), so one client cannot hold them all.
#[derive(Debug)]
pub struct LargeBodies {
    all: Arc<tokio::sync::Semaphore>,
    by_address: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

impl Default for LargeBodies {
    fn default() -> Self {
        Self { all: Arc::new(tokio::sync::Semaphore::new(LARGE_BODIES)), by_address: Default::default() }
    }
}

/// A slot for one larger body; given back when dropped.
pub struct LargeBody {
    _permit: tokio::sync::OwnedSemaphorePermit,
    slots: Arc<LargeBodies>,
    address: IpAddr,
}

impl LargeBodies {
    /// A slot for a body from `address`, or none when every slot, or the address's share, is taken.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Option<LargeBody> {
        let address = network_of(address);
        let mut held = self.by_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = held.get(&address).copied().unwrap_or(0);
        if mine >= LARGE_BODIES_PER_ADDRESS {
            return None;
        }
        let permit = self.all.clone().try_acquire_owned().ok()?;
        held.insert(address, mine + 1);
        Some(LargeBody { _permit: permit, slots: self.clone(), address })
    }
}

impl Drop for LargeBody {
    fn drop(&mut self) {
        let mut held = self.slots.by_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.address);
            }
        }
    }
}

/// An address as one client: an IPv4 address, or an IPv6 /64.
fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// What a multipart picture form adds to the picture: the CSRF field, the part headers and the
/// boundaries.
const FORM_FRAMING: usize = 16 * 1024;

/// Larger bodies (avatars) read at once, at most.
pub const LARGE_BODIES: usize = 8;

/// Larger bodies read at once from one address (or IPv6 /64), at most.
pub const LARGE_BODIES_PER_ADDRESS: usize = 2;

/// How long a larger body may take to arrive once it holds a slot: 1 MiB in 15 s is about
/// 70 KiB/s, slower than any phone upload worth waiting for.
const LARGE_BODY_DEADLINE: Duration = Duration::from_secs(15);

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
    let (avatar, limit) = match (&parts.method, parts.uri.path()) {
        (&axum::http::Method::PUT, crate::http::paths::ME_AVATAR) => (true, gate.avatar_limit),
        // The account page's picture form: the file, and its CSRF field and multipart framing.
        (&axum::http::Method::POST, crate::http::paths::ACCOUNT_AVATAR) => {
            (true, gate.avatar_limit.saturating_add(FORM_FRAMING))
        }
        _ => (false, gate.body_limit),
    };
    // The account page's picture form is a person's: its refusals here are pages, not JSON.
    let form = parts.method == axum::http::Method::POST && parts.uri.path() == paths::ACCOUNT_AVATAR;
    let answer = |e: ApiError| {
        if form { crate::http::pages::upload_refused(e.status, e.retry_after) } else { e.into_response() }
    };
    let too_large = || {
        let status = if avatar {
            // Contract §7: an avatar past its limit is 413.
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            // 400 as before this middleware read bodies (RFC 6749 §5.2 `invalid_request`), not
            // 413, which OAuth clients and the documented responses do not expect.
            StatusCode::BAD_REQUEST
        };
        let description = format!("the request body is larger than {limit} bytes, or was cut off");
        answer(ApiError::new(status, ErrorCode::InvalidRequest, description))
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let _large = if avatar {
        let address = parts
            .extensions
            .get::<crate::http::client_addr::ClientAddr>()
            .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0);
        match gate.large_bodies.take(address) {
            Some(slot) => Some(slot),
            None => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable,
                    format!("too many uploads at once; retry after {RETRY_AFTER_SECS} s"),
                );
                e.retry_after = Some(RETRY_AFTER_SECS);
                return answer(e);
            }
        }
    } else {
        None
    };
    let read = axum::body::to_bytes(body, limit);
    let bytes = if avatar {
        match tokio::time::timeout(LARGE_BODY_DEADLINE, read).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return too_large(),
            Err(_) => {
                let why = format!("the upload did not arrive within {} s", LARGE_BODY_DEADLINE.as_secs());
                return answer(ApiError::new(StatusCode::REQUEST_TIMEOUT, ErrorCode::InvalidRequest, why));
            }
        }
    } else {
        match read.await {
            Ok(bytes) => bytes,
            Err(_) => return too_large(),
        }
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    let slot = if gate.lag.now() <= gate.max_lag { gate.in_flight.enter() } else { None };
    let Some(_slot) = slot else {
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
    fn one_address_holds_at_most_its_share_of_the_large_body_slots() {
        let slots = Arc::new(LargeBodies::default());
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let held: Vec<_> = (0..LARGE_BODIES_PER_ADDRESS).map(|_| slots.take(a).expect("a slot")).collect();
        assert!(slots.take(a).is_none(), "past its share");
        // Another address of the same /64 is the same client; another /64 is not.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let _x = (slots.take(v6a).unwrap(), slots.take(v6b).unwrap());
        assert!(slots.take("2001:db8:1:2::77".parse().unwrap()).is_none());
        // Every slot taken: nobody gets one, until one is given back.
        let others: Vec<_> = (1..=LARGE_BODIES - 2 * LARGE_BODIES_PER_ADDRESS)
            .map(|i| slots.take(IpAddr::from([198, 51, 100, i as u8])).expect("a slot"))
            .collect();
        assert!(slots.take("192.0.2.1".parse().unwrap()).is_none(), "all {LARGE_BODIES} taken");
        drop(held);
        assert!(slots.take(a).is_some(), "given back on drop");
        drop(others);
        assert_eq!(slots.by_address.lock().unwrap().len(), 1, "emptied entries go: only the /64 holds slots");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lag_is_how_long_a_ready_task_waits_for_a_worker() {
        let lag = Lag::start();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(lag.now() < Duration::from_millis(20), "an idle runtime is not behind: {:?}", lag.now());
        // The one worker is busy for 80 ms: the sampler, due meanwhile, runs that much late,
        // and the lag shows while it is still waiting (a request checks it from another thread).
        let seen = Arc::clone(&lag);
        let during = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(70));
            seen.now()
        });
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(80)) }).await.expect("join");
        let during = during.join().expect("join");
        assert!(during >= Duration::from_millis(50), "overdue already, before the sampler ran: {during:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        assert!(lag.now() >= Duration::from_millis(50), "{:?}", lag.now());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(lag.now() < Duration::from_millis(20), "and it recovers: {:?}", lag.now());
    }

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
