//! `?limit=&cursor=` for list endpoints.

use axum::http::StatusCode;
use portcullis_proto::ErrorCode;
use serde::Deserialize;

use super::error::ApiError;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
const MAX_CURSOR_LEN: usize = 256;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct Paging {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 256)]
    pub cursor: Option<String>,
}

impl Paging {
    /// The checked limit and cursor.
    pub fn checked(&self) -> Result<(usize, Option<&str>), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                format!("limit must be 1 to {MAX_LIMIT}"),
            ));
        }
        if self.cursor.as_ref().is_some_and(|c| c.chars().count() > MAX_CURSOR_LEN) {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, "cursor is malformed"));
        }
        Ok((limit, self.cursor.as_deref()))
    }
}
