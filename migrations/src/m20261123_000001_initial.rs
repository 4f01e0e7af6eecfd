//! The initial schema: users, clients, signing keys, device sessions, refresh tokens, audit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Status,
    BanReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    SecretHash,
    Grants,
    Scope,
    RedirectUris,
    CreatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    CreatedAt,
    ActiveFrom,
}

#[derive(DeriveIden)]
enum DeviceSessions {
    Table,
    Id,
    UserId,
    ClientId,
    DeviceId,
    Fingerprint,
    Browser,
    Os,
    Device,
    Scope,
    LastIp,
    FirstSeen,
    LastSeen,
    IdleExpiresAt,
    AbsoluteExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SessionId,
    TokenHash,
    ParentId,
    IssuedAt,
    UsedAt,
    SupersededAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Kind,
    Actor,
    UserId,
    ClientId,
    DeviceId,
    Ip,
    UserAgent,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string_len(Users::Id, 64).primary_key())
                    .col(string_len_uniq(Users::Username, 256))
                    .col(string_len(Users::PasswordHash, 256))
                    .col(string_len(Users::Status, 16))
                    .col(string_len_null(Users::BanReason, 512))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(string_len(Clients::Id, 128).primary_key())
                    .col(string_len(Clients::Name, 256))
                    .col(string_len_null(Clients::SecretHash, 128))
                    .col(string_len(Clients::Grants, 256))
                    .col(string_len(Clients::Scope, 1024))
                    .col(text(Clients::RedirectUris))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .col(timestamp_with_time_zone_null(Clients::DeletedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone(SigningKeys::ActiveFrom))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeviceSessions::Table)
                    .col(string_len(DeviceSessions::Id, 64).primary_key())
                    .col(string_len(DeviceSessions::UserId, 64))
                    .col(string_len(DeviceSessions::ClientId, 128))
                    .col(string_len(DeviceSessions::DeviceId, 128))
                    .col(string_len(DeviceSessions::Fingerprint, 64))
                    .col(string_len(DeviceSessions::Browser, 128))
                    .col(string_len(DeviceSessions::Os, 128))
                    .col(string_len(DeviceSessions::Device, 128))
                    .col(string_len(DeviceSessions::Scope, 1024))
                    .col(string_len_null(DeviceSessions::LastIp, 64))
                    .col(timestamp_with_time_zone(DeviceSessions::FirstSeen))
                    .col(timestamp_with_time_zone(DeviceSessions::LastSeen))
                    .col(timestamp_with_time_zone(DeviceSessions::IdleExpiresAt))
                    .col(timestamp_with_time_zone(DeviceSessions::AbsoluteExpiresAt))
                    .col(timestamp_with_time_zone_null(DeviceSessions::RevokedAt))
                    .col(string_len_null(DeviceSessions::RevokedReason, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeviceSessions::Table, DeviceSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_sessions_user")
                    .table(DeviceSessions::Table)
                    .col(DeviceSessions::UserId)
                    .col(DeviceSessions::DeviceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(string_len(RefreshTokens::Id, 64).primary_key())
                    .col(string_len(RefreshTokens::SessionId, 64))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(string_len_null(RefreshTokens::ParentId, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::SupersededAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(DeviceSessions::Table, DeviceSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_session")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .col(string_len(AuditEvents::Kind, 64))
                    .col(string_len_null(AuditEvents::Actor, 128))
                    .col(string_len_null(AuditEvents::UserId, 64))
                    .col(string_len_null(AuditEvents::ClientId, 128))
                    .col(string_len_null(AuditEvents::DeviceId, 128))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(string_len_null(AuditEvents::Detail, 256))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_user")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::UserId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            DeviceSessions::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Clients::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
