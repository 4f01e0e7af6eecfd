//! OpenID Connect (contract §8): the authorization request's `nonce` travels with its code into
//! the ID token, and a device session remembers when its user authenticated, so that the ID
//! token of a refresh says the same `auth_time` as the first; a client lists where RP-initiated
//! logout may send the browser back to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    /// At most 512 characters (the authorization endpoint refuses longer).
    Nonce,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    /// JSON array of URIs.
    PostLogoutRedirectUris,
}

#[derive(DeriveIden)]
enum DeviceSessions {
    Table,
    /// Null for sessions opened before this migration.
    AuthTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(string_len_null(AuthorizationCodes::Nonce, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DeviceSessions::Table)
                    .add_column(timestamp_with_time_zone_null(DeviceSessions::AuthTime))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text(Clients::PostLogoutRedirectUris).default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Clients::Table).drop_column(Clients::PostLogoutRedirectUris).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(DeviceSessions::Table).drop_column(DeviceSessions::AuthTime).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(AuthorizationCodes::Table).drop_column(AuthorizationCodes::Nonce).to_owned(),
            )
            .await
    }
}
