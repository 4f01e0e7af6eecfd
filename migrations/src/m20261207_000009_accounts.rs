//! Accounts people run themselves (contract §7): a display name on users, their avatars (in the
//! database, so that every node serves the same one), and per client whether it may sign people
//! up and which browser origins may call the API with its tokens.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    DisplayName,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Signup,
    /// JSON array of origins (`https://app.example`).
    AllowedOrigins,
}

#[derive(DeriveIden)]
enum Avatars {
    Table,
    UserId,
    ContentType,
    /// The re-encoded image.
    Data,
    /// A strong validator, as sent: the quoted hex SHA-256 of `Data`.
    Etag,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter().table(Users::Table).add_column(string_len_null(Users::DisplayName, 256)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Clients::Table).add_column(boolean(Clients::Signup).default(false)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Clients::Table).add_column(text(Clients::AllowedOrigins).default("[]")).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Avatars::Table)
                    .col(string_len(Avatars::UserId, 64).primary_key())
                    .col(string_len(Avatars::ContentType, 32))
                    .col(blob(Avatars::Data))
                    .col(string_len(Avatars::Etag, 80))
                    .col(timestamp_with_time_zone(Avatars::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Avatars::Table, Avatars::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Avatars::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Clients::Table).drop_column(Clients::AllowedOrigins).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Clients::Table).drop_column(Clients::Signup).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::DisplayName).to_owned()).await
    }
}
