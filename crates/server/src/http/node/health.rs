//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{App, Ready};

/// The process is up.
#[utoipa::path(get, path = crate::http::paths::HEALTHZ, tag = "operations", responses((status = 200, description = "up")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database (and Redis, when configured) answer.
#[utoipa::path(get, path = crate::http::paths::READYZ, tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "a dependency is down")))]
pub async fn readyz(State(app): State<App>) -> Response {
    let Ready { database, redis } = app.ready().await;
    let ready = database && redis.unwrap_or(true);
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "up" } else { "down" },
        "redis": match redis { None => "not_configured", Some(true) => "up", Some(false) => "down" },
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = crate::http::paths::METRICS, tag = "operations", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics(State(app): State<App>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], app.metrics().render())
        .into_response()
}
