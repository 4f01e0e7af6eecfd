//! `otp_codes`: the live one-time code of each destination and client, as an HMAC.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "otp_codes")]
pub struct Model {
    /// `sms:+8613800138000` or `email:alice@example.com`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub destination: String,
    /// The client it was sent for: only that client may use it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub code_hash: String,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub attempts: i32,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
