//! Mapping of database errors to `StoreError`.

use portcullis_domain::ports::StoreError;
use sea_orm::{DbErr, SqlErr};

pub(crate) fn store_err(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict,
        _ => StoreError::backend(e),
    }
}
