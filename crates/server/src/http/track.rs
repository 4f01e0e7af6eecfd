//! The per-request middleware: counts requests by route and status, times them, and logs one
//! line per request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

fn is_probe(route: &str) -> bool {
    use super::paths::{HEALTHZ, METRICS, READYZ};
    [HEALTHZ, READYZ, METRICS].contains(&route)
}

/// Counts requests by route and status, times them, and logs one line per request (at info;
/// probes, scrapes and shed requests at debug).
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A client chooses the method: an unknown one is `other`, or each would be a new series.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!(
        "portcullis_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("portcullis_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    // A 503 is a node shedding load (or a dependency it waits for being down, which is logged
    // where it is noticed): one error line per shed request would add to the overload.
    if status >= 500 && status != 503 {
        tracing::error!(%method, %route, status, elapsed_ms = elapsed.as_millis() as u64, "request failed");
    } else if status == 503 || is_probe(&route) {
        // Shed requests and the probes' and scrapers' polls: debug, or they drown the rest.
        tracing::debug!(%method, %route, status, elapsed_ms = elapsed.as_millis() as u64, "request");
    } else {
        // The route is the matched template (`/admin/users/{id}`), never the query or a header:
        // no token, code or password reaches the log.
        tracing::info!(%method, %route, status, elapsed_ms = elapsed.as_millis() as u64, "request");
    }
    response
}
