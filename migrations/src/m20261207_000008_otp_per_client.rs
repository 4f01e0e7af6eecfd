//! One-time codes, second shape (docs/decisions/0016): a live code per destination *and client*,
//! so one app's send (or a decoy for a destination it has no account for) never replaces the
//! code another app sent; and the abuse limits' counters in the database, for a node without
//! Redis (and for one whose Redis is down), where a flood of fresh keys can neither evict a
//! count nor lock anyone out.
//!
//! Codes live five minutes: the table is made anew, and codes sent in the minutes before the
//! upgrade are asked for again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OtpCodes {
    Table,
    Destination,
    CodeHash,
    ClientId,
    IssuedAt,
    ExpiresAt,
    Attempts,
    UsedAt,
}

#[derive(DeriveIden)]
enum OtpCounters {
    Table,
    /// `otp-dest:sms:+86…`, `otp-ip:203.0.113.0`, …
    Key,
    Hits,
    WindowEnds,
}

fn codes() -> TableCreateStatement {
    Table::create()
        .table(OtpCodes::Table)
        .col(string_len(OtpCodes::Destination, 272))
        .col(string_len(OtpCodes::ClientId, 64))
        .col(string_len(OtpCodes::CodeHash, 64))
        .col(timestamp_with_time_zone(OtpCodes::IssuedAt))
        .col(timestamp_with_time_zone(OtpCodes::ExpiresAt))
        .col(integer(OtpCodes::Attempts).default(0))
        .col(timestamp_with_time_zone_null(OtpCodes::UsedAt))
        .primary_key(Index::create().col(OtpCodes::Destination).col(OtpCodes::ClientId))
        .to_owned()
}

/// Drops the codes and their index (named explicitly: the index name is reused below).
async fn drop_codes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name("idx_otp_codes_expires").table(OtpCodes::Table).if_exists().to_owned())
        .await?;
    manager.drop_table(Table::drop().table(OtpCodes::Table).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_codes(manager).await?;
        manager.create_table(codes()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_otp_codes_expires")
                    .table(OtpCodes::Table)
                    .col(OtpCodes::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OtpCounters::Table)
                    .col(string_len(OtpCounters::Key, 400).primary_key())
                    .col(integer(OtpCounters::Hits))
                    .col(timestamp_with_time_zone(OtpCounters::WindowEnds))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_otp_counters_window")
                    .table(OtpCounters::Table)
                    .col(OtpCounters::WindowEnds)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OtpCounters::Table).to_owned()).await?;
        // The earlier shape: one code per destination.
        drop_codes(manager).await?;
        let mut earlier = codes();
        earlier.primary_key(Index::create().col(OtpCodes::Destination));
        manager.create_table(earlier).await?;
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
}
