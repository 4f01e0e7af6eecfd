//! `OtpRepo` over `otp_codes`: one row per destination and client, replaced by a resend; every try
//! counted by one atomic statement before the digits are compared; the first right try marks
//! the code used, by a conditional update only one try can win.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::otp::StoredCode;
use portcullis_domain::ports::{NewCode, OtpRepo, StoreError};
use portcullis_domain::secret::SecretHash;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};

use crate::SqlStore;
use crate::entities::otp_code;
use crate::error::store_err;

#[async_trait]
impl OtpRepo for SqlStore {
    async fn put_code(&self, code: NewCode<'_>) -> Result<(), StoreError> {
        let row = otp_code::ActiveModel {
            destination: Set(code.destination.to_owned()),
            client_id: Set(code.client_id.to_owned()),
            code_hash: Set(code.hash.as_str().to_owned()),
            issued_at: Set(code.issued_at),
            expires_at: Set(code.expires_at),
            attempts: Set(0),
            used_at: Set(None),
        };
        otp_code::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([otp_code::Column::Destination, otp_code::Column::ClientId])
                    .update_columns([
                        otp_code::Column::CodeHash,
                        otp_code::Column::IssuedAt,
                        otp_code::Column::ExpiresAt,
                        otp_code::Column::Attempts,
                        otp_code::Column::UsedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn try_code(
        &self,
        destination: &str,
        client_id: &str,
    ) -> Result<Option<(StoredCode, SecretHash)>, StoreError> {
        let backend = self.db.get_database_backend();
        // One statement: parallel tries each get their own count, so no more than the limit of
        // them ever compare digits.
        let sql = "UPDATE otp_codes SET attempts = attempts + 1 WHERE destination = $1 AND client_id = $2 \
                   RETURNING code_hash, client_id, expires_at, attempts, used_at";
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [destination.to_owned().into(), client_id.to_owned().into()],
            ))
            .await
            .map_err(store_err)?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = row.try_get("", "code_hash").map_err(store_err)?;
        let attempts: i32 = row.try_get("", "attempts").map_err(store_err)?;
        let code = StoredCode {
            client_id: row.try_get("", "client_id").map_err(store_err)?,
            expires_at: row.try_get("", "expires_at").map_err(store_err)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            used_at: row.try_get("", "used_at").map_err(store_err)?,
        };
        Ok(Some((code, SecretHash::from_stored(hash))))
    }

    async fn use_code(
        &self,
        destination: &str,
        client_id: &str,
        hash: &SecretHash,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = otp_code::Entity::update_many()
            .col_expr(otp_code::Column::UsedAt, Expr::value(now))
            .filter(otp_code::Column::Destination.eq(destination))
            .filter(otp_code::Column::ClientId.eq(client_id))
            .filter(otp_code::Column::CodeHash.eq(hash.as_str()))
            .filter(otp_code::Column::UsedAt.is_null())
            .filter(otp_code::Column::ExpiresAt.gt(now))
            .filter(otp_code::Column::Attempts.lte(i32::try_from(max_attempts).unwrap_or(i32::MAX)))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected == 1)
    }
}
