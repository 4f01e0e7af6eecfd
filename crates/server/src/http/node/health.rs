//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::{App, Ready};

/// `GET /healthz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    #[schema(pattern = "^(ready|unavailable)$")]
    pub status: &'static str,
    /// `up` or `down`.
    #[schema(pattern = "^(up|down)$")]
    pub database: &'static str,
    /// `up`, `down` or `not_configured`.
    #[schema(pattern = "^(up|down|not_configured)$")]
    pub redis: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = crate::http::paths::HEALTHZ, tag = "operations",
    responses((status = 200, description = "up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database (and Redis, when configured) answer.
#[utoipa::path(get, path = crate::http::paths::READYZ, tag = "operations",
    responses((status = 200, description = "ready", body = Readiness),
        (status = 503, description = "a dependency is down", body = Readiness)))]
pub async fn readyz(State(app): State<App>) -> Response {
    let Ready { database, redis } = app.ready().await;
    let ready = database && redis.unwrap_or(true);
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database: if database { "up" } else { "down" },
        redis: match redis {
            None => "not_configured",
            Some(true) => "up",
            Some(false) => "down",
        },
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = crate::http::paths::METRICS, tag = "operations",
    responses((status = 200, description = "Prometheus text", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(State(app): State<App>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], app.metrics().render())
        .into_response()
}
