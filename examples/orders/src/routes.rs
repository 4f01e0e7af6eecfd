//! The HTTP surface: `GET /orders` needs scope `read`; `POST /orders`, `PUT /orders/{id}` and
//! `DELETE /orders/{id}` need `write`. Handlers extract, call the store, and map.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use portcullis_guard::{Guard, RequireScopes, Scopes};

use crate::error::ApiError;
use crate::store::{MAX_ORDERS_PER_USER, Order, OrderInput, Orders};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub guard: Guard,
    pub orders: Orders,
}

pub struct Read;
impl Scopes for Read {
    const SCOPES: &'static [&'static str] = &["read"];
}

pub struct Write;
impl Scopes for Write {
    const SCOPES: &'static [&'static str] = &["write"];
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", get(list).post(create))
        .route("/orders/{id}", put(replace).delete(remove))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn list(State(orders): State<Orders>, auth: RequireScopes<Read>) -> Json<Vec<Order>> {
    Json(orders.list(&auth.claims().sub))
}

async fn create(
    State(orders): State<Orders>,
    auth: RequireScopes<Write>,
    body: Result<Json<OrderInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let input = body?.0.validated().map_err(ApiError::invalid)?;
    let order = orders
        .create(&auth.claims().sub, input)
        .ok_or_else(|| ApiError::conflict(format!("at most {MAX_ORDERS_PER_USER} orders per user")))?;
    Ok((StatusCode::CREATED, Json(order)))
}

async fn replace(
    State(orders): State<Orders>,
    auth: RequireScopes<Write>,
    Path(id): Path<u64>,
    body: Result<Json<OrderInput>, JsonRejection>,
) -> Result<Json<Order>, ApiError> {
    let input = body?.0.validated().map_err(ApiError::invalid)?;
    orders.replace(&auth.claims().sub, id, input).map(Json).ok_or_else(ApiError::not_found)
}

async fn remove(
    State(orders): State<Orders>,
    auth: RequireScopes<Write>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    if orders.remove(&auth.claims().sub, id) { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found()) }
}
