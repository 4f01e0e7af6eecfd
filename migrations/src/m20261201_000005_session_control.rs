//! Session control that holds under attack (docs/decisions/0011): the user-wide cut-offs kept on
//! the user, the device of a browser login session, the resource-server capability of a client,
//! client-wide revocations, and at most one revocation event per access token.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    CutoffAt,
    CutoffExceptAt,
    CutoffExceptSid,
}

#[derive(DeriveIden)]
enum LoginSessions {
    Table,
    UserId,
    DeviceId,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    ResourceServer,
}

#[derive(DeriveIden)]
enum RevocationEvents {
    Table,
    ClientId,
}

#[derive(DeriveIden)]
enum DeviceSessions {
    Table,
    ClientId,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    AuthTime,
}

/// SQLite alters one column per statement.
async fn add(manager: &SchemaManager<'_>, table: impl IntoIden, col: ColumnDef) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(table).add_column(col).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add(manager, Users::Table, timestamp_with_time_zone_null(Users::CutoffAt)).await?;
        add(manager, Users::Table, timestamp_with_time_zone_null(Users::CutoffExceptAt)).await?;
        add(manager, Users::Table, string_len_null(Users::CutoffExceptSid, 64)).await?;
        add(manager, LoginSessions::Table, string_len_null(LoginSessions::DeviceId, 128)).await?;
        add(manager, Clients::Table, boolean(Clients::ResourceServer).default(false).to_owned()).await?;
        add(manager, RevocationEvents::Table, string_len_null(RevocationEvents::ClientId, 128)).await?;
        add(manager, AuthorizationCodes::Table, timestamp_with_time_zone_null(AuthorizationCodes::AuthTime)).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_sessions_user")
                    .table(LoginSessions::Table)
                    .col(LoginSessions::UserId)
                    .col(LoginSessions::DeviceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_sessions_client")
                    .table(DeviceSessions::Table)
                    .col(DeviceSessions::ClientId)
                    .to_owned(),
            )
            .await?;
        // Revoking a token twice used to append a second event: keep the first of each.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM revocation_events WHERE kind = 'token' AND id NOT IN \
                 (SELECT MIN(id) FROM revocation_events WHERE kind = 'token' GROUP BY jti)",
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_revocation_events_jti").await?;
        db.execute_unprepared("CREATE UNIQUE INDEX idx_revocation_events_jti_unique ON revocation_events (jti)")
            .await?;
        // Cut-offs end a user's live sessions: find those without reading the ended ones.
        db.execute_unprepared(
            "CREATE INDEX idx_device_sessions_live ON device_sessions (user_id) WHERE revoked_at IS NULL",
        )
        .await?;
        // Introspection and the feed now answer resource servers only. A confidential client that
        // can do nothing but client_credentials, and is not an admin, is what a resource server
        // registered as until now (the README's `orders`): it keeps following the feed.
        db.execute_unprepared(
            "UPDATE clients SET resource_server = TRUE WHERE secret_hash IS NOT NULL AND deleted_at IS NULL \
             AND grants = 'client_credentials' AND (' ' || scope || ' ') NOT LIKE '% admin %'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("the session-control migration is not reversible".into()))
    }
}
