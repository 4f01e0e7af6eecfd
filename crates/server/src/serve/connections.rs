//! The accept loop: every connection is bounded in number, in the time its request heads may
//! take, and in how long it may sit idle — so idle and slowly dripping sockets are closed and
//! the node keeps answering (`http.max_connections`, `http.header_read_timeout`,
//! `http.idle_timeout`).
//!
//! A connection is, at any moment, *idle* (no request in flight, nothing read since the last
//! response), *reading a head* (bytes arrived while idle: a request is starting), or *busy* (a
//! request is in flight, until its response body has been sent). A watchdog closes it when a
//! head takes longer than the header timeout (slowloris), or when it has been idle longer than
//! the idle timeout — at once when the node is at its connection cap — or when a request in
//! flight has moved no byte either way for the idle timeout (a client that never reads its
//! answer; the revocation feed writes a keep-alive every few seconds). A connection asked to
//! close gracefully that has not closed within a grace period is dropped.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// The limits a listener enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long in-flight requests may take to finish once the node stops.
    pub shutdown_grace: Duration,
}

/// File descriptors kept free for what is not a client connection (the database pool, Redis,
/// key files, logs).
const RESERVED_DESCRIPTORS: u64 = 128;

impl Limits {
    /// `max_connections` lowered, if need be, to what the process's descriptor limit allows
    /// (raised first to its hard limit), so that accepting never fails for want of descriptors.
    pub fn fitted_to_descriptors(mut self) -> Self {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                limit = getrlimit(Resource::Nofile);
            }
        }
        if let Some(soft) = limit.current {
            let room = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(1)).unwrap_or(usize::MAX);
            if room < self.max_connections {
                tracing::warn!(
                    configured = self.max_connections,
                    allowed = room,
                    descriptors = soft,
                    "http.max_connections lowered to fit the open-file limit"
                );
                self.max_connections = room;
            }
        }
        self
    }
}

/// What the watchdog of one connection knows of it.
#[derive(Debug)]
struct Activity {
    started: Instant,
    /// Milliseconds since `started` of the last byte read or written.
    last_io: AtomicU64,
    /// Requests in flight (until their response bodies are dropped).
    in_flight: AtomicUsize,
    /// Milliseconds since `started` at which bytes arrived on an idle connection (a head began);
    /// `u64::MAX` when none is being read.
    head_since: AtomicU64,
}

const NO_HEAD: u64 = u64::MAX;

impl Activity {
    /// A connection just accepted: its first head is due from now.
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_io: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            // The first bytes of a head: the header timeout starts (it does not restart per byte).
            let _ = self.head_since.compare_exchange(NO_HEAD, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NO_HEAD, Ordering::Release);
    }

    fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Why the connection should close now, if it should.
    fn verdict(&self, limits: &Limits, crowded: bool) -> Option<&'static str> {
        let now = self.now_ms();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Busy: cut only when nothing at all has moved for the idle timeout.
            let still = Duration::from_millis(now.saturating_sub(self.last_io.load(Ordering::Relaxed)));
            return (still >= limits.idle_timeout).then_some("stalled");
        }
        let head = self.head_since.load(Ordering::Acquire);
        if head != NO_HEAD {
            let took = Duration::from_millis(now.saturating_sub(head));
            return (took >= limits.header_read_timeout).then_some("header_timeout");
        }
        let idle = Duration::from_millis(now.saturating_sub(self.last_io.load(Ordering::Relaxed)));
        if idle >= limits.idle_timeout {
            Some("idle_timeout")
        } else if crowded {
            Some("idle_at_capacity")
        } else {
            None
        }
    }
}

/// A socket that reports its reads and writes to its connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Marks its request finished when dropped: when hyper has sent (or abandoned) the body.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request in flight until it is dropped.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves once the node is stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow the wait returns is dropped here, never held across an await.
    let _ = stop.wait_for(|s| *s).await;
}

/// How often each connection's watchdog looks.
fn watch_every(limits: &Limits) -> Duration {
    (limits.header_read_timeout.min(limits.idle_timeout) / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Accepts connections until `stop` turns true, then lets every open connection finish its
/// in-flight requests (idle ones close at once) and returns.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let crowded = Arc::new(AtomicBool::new(false));
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        // A free slot first: past the cap, new connections wait in the listen backlog.
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = stopped(&mut stop) => break,
        };
        crowded.store(slots.available_permits() == 0, Ordering::Release);
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a transient error: wait a moment rather than spin.
                    tracing::warn!(error = %portcullis_domain::error::Chain(&e), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = socket.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { inner: socket, activity: Arc::clone(&activity) });
        let router = router.clone();
        let service_activity = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            service_activity.request_started();
            let in_flight = InFlight(Arc::clone(&service_activity));
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let res = router.oneshot(req.map(Body::new)).await.unwrap_or_else(|e: Infallible| match e {});
                Ok::<_, Infallible>(res.map(|inner| TrackedBody { inner, _in_flight: in_flight }))
            }
        });
        let builder = builder.clone();
        let mut stop = stop.clone();
        let (crowded, slots) = (Arc::clone(&crowded), Arc::clone(&slots));
        metrics::gauge!("portcullis_http_connections").increment(1.0);
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(conn);
            let mut tick = tokio::time::interval(watch_every(&limits));
            // Asked to close gracefully: since when, and for how long at most.
            let mut closing: Option<(Instant, Duration)> = None;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %portcullis_domain::error::Chain(e.as_ref()), "connection ended with an error");
                        }
                        break;
                    }
                    _ = tick.tick() => {
                        if let Some((since, grace)) = closing {
                            if since.elapsed() >= grace {
                                // A peer that never acknowledges the close, or never reads.
                                metrics::counter!("portcullis_http_connections_closed_total", "why" => "close_forced")
                                    .increment(1);
                                break;
                            }
                            continue;
                        }
                        if let Some(why) = activity.verdict(&limits, crowded.load(Ordering::Acquire)) {
                            metrics::counter!("portcullis_http_connections_closed_total", "why" => why).increment(1);
                            if matches!(why, "header_timeout" | "stalled") {
                                // A head that never completes, or an answer nobody reads: drop it.
                                break;
                            }
                            closing = Some((Instant::now(), limits.header_read_timeout));
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                    () = stopped(&mut stop), if closing.is_none() => {
                        closing = Some((Instant::now(), limits.shutdown_grace));
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            metrics::gauge!("portcullis_http_connections").decrement(1.0);
            drop(permit);
            crowded.store(slots.available_permits() == 0, Ordering::Release);
        });
    }
    // Every connection returns its slot when it ends.
    let _ = slots.acquire_many(u32::try_from(limits.max_connections).unwrap_or(u32::MAX)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 8,
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            shutdown_grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_head_must_complete_in_time_and_an_idle_connection_closes() {
        let silent = Activity::new();
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(silent.verdict(&limits(), false), Some("header_timeout"), "a new connection owes its first head");
        let a = Activity::new();
        a.request_started();
        a.request_finished();
        assert_eq!(a.verdict(&limits(), false), None);
        assert_eq!(a.verdict(&limits(), true), Some("idle_at_capacity"));
        a.read();
        std::thread::sleep(Duration::from_millis(120));
        a.read(); // a drip does not restart the header timeout
        assert_eq!(a.verdict(&limits(), false), Some("header_timeout"));
        a.request_started();
        assert_eq!(a.verdict(&limits(), true), None, "a request in flight that moves bytes is not cut");
        std::thread::sleep(Duration::from_millis(320));
        assert_eq!(a.verdict(&limits(), false), Some("stalled"), "one that moves nothing for the idle timeout is");
        a.wrote();
        assert_eq!(a.verdict(&limits(), false), None);
        a.request_finished();
        assert_eq!(a.verdict(&limits(), false), None);
        std::thread::sleep(Duration::from_millis(320));
        assert_eq!(a.verdict(&limits(), false), Some("idle_timeout"));
    }
}
