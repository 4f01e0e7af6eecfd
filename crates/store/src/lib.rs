#![doc = include_str!("../README.md")]

mod attempts;
mod audit;
mod authcodes;
mod avatars;
mod client_cache;
mod clients;
mod connect;
mod consents;
mod ending;
pub mod entities;
mod error;
mod json_params;
mod keys;
mod otp_codes;
mod otp_counters;
mod redis_revocations;
mod retention;
mod revocations;
mod rotate;
mod sessions;
mod users;

pub use attempts::{LocalAttempts, RedisAttempts};
pub use client_cache::CachedClients;
pub use connect::{Backend, MIGRATION_LOCK, connect, connect_existing, migrate, pending_migrations, sqlite_file};
pub use otp_counters::SqlAttempts;
pub use redis_revocations::{REDIS_TIMEOUT, RedisDoorbell, RedisRevocations, fast_failing_connection};

use std::sync::{Arc, OnceLock};

use sea_orm::DatabaseConnection;

/// The SQL implementation of every repository port.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: DatabaseConnection,
    /// Started on the first refresh (it needs the runtime; most CLI commands never refresh).
    rotations: Arc<OnceLock<rotate::RotationQueue>>,
}

impl SqlStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, rotations: Arc::default() }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }
}
