//! `users`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub username: String,
    /// Empty for a user with no password.
    pub password_hash: String,
    /// E.164; unique where set.
    pub phone: Option<String>,
    /// Normalised; unique where set.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: String,
    pub ban_reason: Option<String>,
    /// The latest user-wide cut-off that spares no session.
    pub cutoff_at: Option<DateTimeUtc>,
    /// The latest cut-off that spares one session, and that session.
    pub cutoff_except_at: Option<DateTimeUtc>,
    pub cutoff_except_sid: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
