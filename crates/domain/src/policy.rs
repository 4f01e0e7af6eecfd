//! Token lifetimes.

use chrono::Duration;

/// How long tokens and sessions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Access-token lifetime (`tokens.access_ttl`, default 15 min).
    pub access_ttl: Duration,
    /// Refresh idle lifetime, sliding (`refresh.idle_ttl`, default 14 days).
    pub refresh_idle_ttl: Duration,
    /// Absolute cap of a device session (`refresh.absolute_ttl`, default 90 days).
    pub session_absolute_ttl: Duration,
    /// Window in which a used refresh token counts as a retry (`refresh.reuse_grace`).
    pub reuse_grace: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_idle_ttl: Duration::days(14),
            session_absolute_ttl: Duration::days(90),
            reuse_grace: Duration::seconds(10),
        }
    }
}
