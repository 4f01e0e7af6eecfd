//! One-time-code login (contract §6): a phone number and an email address on users (optional,
//! each unique where set), the clients allowed to sign people up by code, and the live codes,
//! one per destination, stored only as HMACs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Phone,
    Email,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    OtpSignup,
}

#[derive(DeriveIden)]
enum OtpCodes {
    Table,
    /// `sms:+8613800138000` or `email:alice@example.com`.
    Destination,
    CodeHash,
    ClientId,
    IssuedAt,
    ExpiresAt,
    Attempts,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(Table::alter().table(Users::Table).add_column(string_len_null(Users::Phone, 16)).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Users::Table).add_column(string_len_null(Users::Email, 254)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Clients::Table).add_column(boolean(Clients::OtpSignup).default(false)).to_owned(),
            )
            .await?;
        // Unique where set: NULLs never collide, on either database.
        for (name, column) in [("idx_users_phone", Users::Phone), ("idx_users_email", Users::Email)] {
            manager
                .create_index(Index::create().name(name).table(Users::Table).col(column).unique().to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(OtpCodes::Table)
                    .col(string_len(OtpCodes::Destination, 272).primary_key())
                    .col(string_len(OtpCodes::CodeHash, 64))
                    .col(string_len(OtpCodes::ClientId, 64))
                    .col(timestamp_with_time_zone(OtpCodes::IssuedAt))
                    .col(timestamp_with_time_zone(OtpCodes::ExpiresAt))
                    .col(integer(OtpCodes::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(OtpCodes::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_otp_codes_expires")
                    .table(OtpCodes::Table)
                    .col(OtpCodes::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OtpCodes::Table).to_owned()).await?;
        for name in ["idx_users_phone", "idx_users_email"] {
            manager.drop_index(Index::drop().name(name).table(Users::Table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Clients::Table).drop_column(Clients::OtpSignup).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::Email).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::Phone).to_owned()).await
    }
}
