//! Login throttling: how many password attempts a username or an IP may make per window.
//!
//! The counter is taken *before* the password is checked, atomically, so parallel guesses
//! cannot slip past it: of N concurrent attempts against a limit L, exactly L are checked.

use async_trait::async_trait;
use chrono::Duration;

use crate::ports::StoreError;

/// Attempts allowed per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub per_user: u32,
    pub per_ip: u32,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self { per_user: 10, per_ip: 100, window: Duration::minutes(15) }
    }
}

/// A fixed-window counter.
#[async_trait]
pub trait AttemptCounter: Send + Sync + 'static {
    /// Counts one attempt under `key`; returns the attempts in the current window (this one
    /// included) and the seconds until the window ends.
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError>;
    /// Forgets `key` (a successful login clears its username's count).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}
