//! Retention (docs/decisions/0013): the lease that lets one node at a time prune history, and
//! the indexes its batches find old rows through. None of them is on a column a rotation
//! updates, so a rotation's writes stay as cheap as before (PostgreSQL's HOT updates).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .col(string_len(Leases::Name, 64).primary_key())
                    .col(string_len(Leases::Holder, 64))
                    .col(timestamp_with_time_zone(Leases::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in [
            // Set once, when the token is issued; the batches read expired tokens through it.
            "CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at)",
            // Set once, at login: dates the oldest session for the metrics.
            "CREATE INDEX idx_device_sessions_absolute ON device_sessions (absolute_expires_at)",
            "CREATE INDEX idx_login_sessions_expires ON login_sessions (expires_at)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for index in ["idx_refresh_tokens_expires", "idx_device_sessions_absolute", "idx_login_sessions_expires"] {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        manager.drop_table(Table::drop().table(Leases::Table).to_owned()).await
    }
}
