#![doc = include_str!("../README.md")]

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_revoked_access_tokens;
mod m20261123_000003_revocation_events;
mod m20261123_000004_authorization_code;
mod m20261201_000005_session_control;
mod m20261202_000006_retention;
mod m20261203_000007_otp;
mod m20261207_000008_otp_per_client;
mod m20261207_000009_accounts;
mod m20261208_000010_openid;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_revoked_access_tokens::Migration),
            Box::new(m20261123_000003_revocation_events::Migration),
            Box::new(m20261123_000004_authorization_code::Migration),
            Box::new(m20261201_000005_session_control::Migration),
            Box::new(m20261202_000006_retention::Migration),
            Box::new(m20261203_000007_otp::Migration),
            Box::new(m20261207_000008_otp_per_client::Migration),
            Box::new(m20261207_000009_accounts::Migration),
            Box::new(m20261208_000010_openid::Migration),
        ]
    }
}
