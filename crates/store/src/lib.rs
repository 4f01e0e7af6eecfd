#![doc = include_str!("../README.md")]

mod attempts;
mod audit;
mod authcodes;
mod client_cache;
mod clients;
mod connect;
mod consents;
pub mod entities;
mod error;
mod keys;
mod redis_revocations;
mod revocations;
mod rotate;
mod sessions;
mod users;

pub use attempts::{LocalAttempts, RedisAttempts};
pub use client_cache::CachedClients;
pub use connect::{Backend, connect, migrate};
pub use redis_revocations::{REDIS_TIMEOUT, RedisDoorbell, RedisRevocations, fast_failing_connection};

use sea_orm::DatabaseConnection;

/// The SQL implementation of every repository port.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: DatabaseConnection,
}

impl SqlStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }
}
