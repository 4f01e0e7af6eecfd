//! The revocation log (docs/revocation-feed.md): every revoked session, user cut-off and
//! access token, in feed order. It replaces `revoked_access_tokens`, whose rows it takes over
//! (dated at their expiry, so each stays in force at least until its token dies).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RevocationEvents {
    Table,
    Id,
    At,
    Kind,
    UserId,
    SessionId,
    Jti,
    Reason,
}

#[derive(DeriveIden)]
enum RevokedAccessTokens {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RevocationEvents::Table)
                    .col(big_pk_auto(RevocationEvents::Id))
                    .col(timestamp_with_time_zone(RevocationEvents::At))
                    // session | user | token
                    .col(string_len(RevocationEvents::Kind, 16))
                    .col(string_len_null(RevocationEvents::UserId, 64))
                    .col(string_len_null(RevocationEvents::SessionId, 64))
                    .col(string_len_null(RevocationEvents::Jti, 64))
                    .col(string_len(RevocationEvents::Reason, 32))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_revocation_events_at", RevocationEvents::At),
            ("idx_revocation_events_session", RevocationEvents::SessionId),
            ("idx_revocation_events_user", RevocationEvents::UserId),
            ("idx_revocation_events_jti", RevocationEvents::Jti),
        ] {
            manager.create_index(Index::create().name(name).table(RevocationEvents::Table).col(col).to_owned()).await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO revocation_events (at, kind, jti, reason) \
                 SELECT expires_at, 'token', jti, 'revoked_by_client' FROM revoked_access_tokens",
            )
            .await?;
        manager.drop_table(Table::drop().table(RevokedAccessTokens::Table).to_owned()).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("revocation_events cannot be rolled back into revoked_access_tokens".into()))
    }
}
