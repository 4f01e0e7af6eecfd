//! `Query`: axum's query extractor, refusing with the RFC JSON body (400 `invalid_request`
//! saying what is wrong) instead of axum's plain-text rejection: a repeated parameter, a
//! number that is not one.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use portcullis_proto::ErrorCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The query string as `T`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri).map(|q| Self(q.0)).map_err(|e| {
            let why = e.body_text();
            let why = why.strip_prefix("Failed to deserialize query string: ").unwrap_or(&why);
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, format!("the query is malformed: {why}"))
        })
    }
}
