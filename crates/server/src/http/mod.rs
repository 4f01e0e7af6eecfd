//! The HTTP surface, grouped by who calls it: `oauth` (client libraries and resource servers),
//! `pages` (a person at the authorization endpoint), `me` (a user's own token), `admin` (an
//! admin token), `node` (operators). Each surface declares its routes once, with `routes!`, from
//! the handlers' `#[utoipa::path]`: the router and the OpenAPI document come from the same list.

mod accounts;
mod admin;
pub mod bearer;
pub(crate) mod client_addr;
mod cors;
pub mod error;
pub(crate) mod me;
mod newline;
mod node;
pub mod oauth;
mod overload;
mod pages;
pub(crate) mod paging;
pub mod paths;
pub(crate) mod query;
mod track;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::LazyLock;

use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

/// Every surface's routes, with the document they describe.
fn surfaces() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(node::openapi::ApiDoc::openapi())
        .merge(oauth::routes())
        .merge(pages::routes())
        .merge(me::routes())
        .merge(accounts::routes())
        .merge(admin::routes())
        .merge(node::routes())
}

/// The OpenAPI document of every route, built once.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let mut doc = surfaces().split_for_parts().1;
        node::openapi::complete(&mut doc);
        doc
    });
    &DOC
}

/// Every route of a node.
pub fn router(app: App) -> Router {
    let body_limit = app.config().http.max_body_bytes;
    let timeout: Duration = app.config().http.request_timeout;
    let in_flight = app.config().http.max_in_flight;
    let (routes, _) = surfaces().split_for_parts();
    routes
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            overload::Gate {
                in_flight: overload::InFlight::new(in_flight),
                lag: overload::Lag::start(),
                max_lag: app.config().http.max_queue_delay,
                body_limit,
                avatar_limit: app.config().account.avatar_max_bytes,
                large_bodies: std::sync::Arc::new(overload::LargeBodies::default()),
            },
            overload::shed,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(client_addr::TrustedProxies::new(
                app.config().http.trusted_proxies.clone(),
                app.config().http.forwarded_header,
            )),
            client_addr::resolve,
        ))
        .layer(cors::layer(app.clone()))
        .layer(axum::middleware::from_fn(newline::end_json_with_newline))
        .layer(axum::middleware::from_fn(track::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(app)
}
