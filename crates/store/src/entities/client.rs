//! `clients`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    /// Space-separated grant types.
    pub grants: String,
    /// Space-separated scopes.
    pub scope: String,
    /// JSON array of strings.
    pub redirect_uris: String,
    pub resource_server: bool,
    pub otp_signup: bool,
    pub signup: bool,
    /// JSON array of strings.
    pub allowed_origins: String,
    /// JSON array of strings.
    pub post_logout_redirect_uris: String,
    pub created_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
