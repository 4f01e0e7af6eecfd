//! The authorization-code flow: issued codes (hashes only), standing consents, and the login
//! sessions of the authorization pages (cookie secrets as hashes only).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    RedirectUri,
    Scope,
    CodeChallenge,
    DeviceId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    ReplayedAt,
    SessionId,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scope,
    GrantedAt,
}

#[derive(DeriveIden)]
enum LoginSessions {
    Table,
    SecretHash,
    UserId,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(string_len(AuthorizationCodes::CodeHash, 64).primary_key())
                    .col(string_len(AuthorizationCodes::ClientId, 128))
                    .col(string_len(AuthorizationCodes::UserId, 64))
                    .col(string_len(AuthorizationCodes::RedirectUri, 2048))
                    .col(string_len(AuthorizationCodes::Scope, 1024))
                    .col(string_len_null(AuthorizationCodes::CodeChallenge, 64))
                    .col(string_len_null(AuthorizationCodes::DeviceId, 128))
                    .col(timestamp_with_time_zone(AuthorizationCodes::CreatedAt))
                    .col(timestamp_with_time_zone(AuthorizationCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AuthorizationCodes::UsedAt))
                    .col(timestamp_with_time_zone_null(AuthorizationCodes::ReplayedAt))
                    .col(string_len_null(AuthorizationCodes::SessionId, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_authorization_codes_expires")
                    .table(AuthorizationCodes::Table)
                    .col(AuthorizationCodes::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(string_len(Consents::UserId, 64))
                    .col(string_len(Consents::ClientId, 128))
                    .col(string_len(Consents::Scope, 1024))
                    .col(timestamp_with_time_zone(Consents::GrantedAt))
                    .primary_key(Index::create().col(Consents::UserId).col(Consents::ClientId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginSessions::Table)
                    .col(string_len(LoginSessions::SecretHash, 64).primary_key())
                    .col(string_len(LoginSessions::UserId, 64))
                    .col(timestamp_with_time_zone(LoginSessions::CreatedAt))
                    .col(timestamp_with_time_zone(LoginSessions::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LoginSessions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Consents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuthorizationCodes::Table).to_owned()).await
    }
}
