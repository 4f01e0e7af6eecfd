//! Revoked access tokens that belong to no session (client-credentials tokens), by `jti`,
//! kept until they would have expired anyway.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RevokedAccessTokens::Table)
                    .col(string_len(RevokedAccessTokens::Jti, 64).primary_key())
                    .col(timestamp_with_time_zone(RevokedAccessTokens::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RevokedAccessTokens::Table).to_owned()).await
    }
}
