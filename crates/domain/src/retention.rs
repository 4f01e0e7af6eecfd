//! What history may be forgotten, and when (docs/decisions/0013).
//!
//! Every rotation, login and revocation writes a row; none of them is needed forever. A row
//! goes once nothing can need it any more:
//! - a refresh token, once it has expired (a reuse or retry check of an expired token decides
//!   nothing: it is refused either way), plus the longest retry window;
//! - a device session, `sessions` after it ended (revoked, idle-expired or past its cap), so
//!   device lists and investigations keep recent history; its refresh tokens go with it;
//! - a revocation event, once no token it affects can still be valid (`access_ttl` after it,
//!   plus the feed's minute and a `revocation_margin`): a follower resuming from an older
//!   `Last-Event-ID` misses only events that no longer revoke anything;
//! - an audit event, `audit` after it happened;
//! - an authorization code or a browser login session, once it has expired.
//!
//! The newest row of each table with a numeric id is always kept, so ids never run backwards
//! (a resuming follower's `Last-Event-ID`, an audit cursor) whatever the database does with
//! freed ids.

use chrono::{DateTime, Duration, Utc};

use crate::policy::TokenPolicy;

/// The longest retry window a used refresh token can be presented in (`refresh.reuse_grace` is
/// capped at it): a token is kept this long past its expiry.
pub const MAX_RETRY_WINDOW: Duration = Duration::seconds(60);

/// The tables history is pruned from, in the order a sweep visits them (tokens before the
/// sessions they belong to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    RefreshTokens,
    DeviceSessions,
    RevocationEvents,
    AuditEvents,
    AuthorizationCodes,
    LoginSessions,
    OtpCodes,
    OtpCounters,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::RefreshTokens,
        Table::DeviceSessions,
        Table::RevocationEvents,
        Table::AuditEvents,
        Table::AuthorizationCodes,
        Table::LoginSessions,
        Table::OtpCodes,
        Table::OtpCounters,
    ];

    /// The SQL table's name (also the `table` label of the retention metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefreshTokens => "refresh_tokens",
            Self::DeviceSessions => "device_sessions",
            Self::RevocationEvents => "revocation_events",
            Self::AuditEvents => "audit_events",
            Self::AuthorizationCodes => "authorization_codes",
            Self::LoginSessions => "login_sessions",
            Self::OtpCodes => "otp_codes",
            Self::OtpCounters => "otp_counters",
        }
    }
}

/// How long history is kept (`[retention]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Ended and expired device sessions are kept this long after they ended.
    pub sessions: Duration,
    /// Audit events are kept this long.
    pub audit: Duration,
    /// Extra time a revocation event is kept after the last token it affects has expired
    /// (clock skew between nodes and followers; an access-token lifetime lowered since).
    pub revocation_margin: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self { sessions: Duration::days(30), audit: Duration::days(90), revocation_margin: Duration::hours(1) }
    }
}

impl RetentionPolicy {
    /// Rows of `table` older than the answer may go (what "older" means is the table's own
    /// rule, above).
    pub fn horizon(&self, table: Table, tokens: &TokenPolicy, now: DateTime<Utc>) -> DateTime<Utc> {
        match table {
            Table::RefreshTokens => now - MAX_RETRY_WINDOW,
            Table::DeviceSessions => now - self.sessions,
            // The feed's own `expires_at` is the event's time + access TTL + one minute.
            Table::RevocationEvents => now - tokens.access_ttl - Duration::minutes(1) - self.revocation_margin,
            Table::AuditEvents => now - self.audit,
            // Codes were cleared an hour past their expiry before this job existed: a replayed
            // code is still recognised as a replay (and ends its session) for that hour.
            Table::AuthorizationCodes => now - Duration::hours(1),
            Table::LoginSessions => now,
            // Kept until it expires (a used code is told apart from a wrong one until then).
            Table::OtpCodes => now,
            // A window that has ended counts nothing.
            Table::OtpCounters => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> TokenPolicy {
        TokenPolicy {
            access_ttl: Duration::minutes(15),
            refresh_idle_ttl: Duration::days(14),
            session_absolute_ttl: Duration::days(90),
            reuse_grace: Duration::seconds(10),
        }
    }

    #[test]
    fn horizons_follow_each_tables_rule() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let p = RetentionPolicy::default();
        let h = |t| now - p.horizon(t, &tokens(), now);
        assert_eq!(h(Table::RefreshTokens), Duration::seconds(60));
        assert_eq!(h(Table::DeviceSessions), Duration::days(30));
        assert_eq!(h(Table::RevocationEvents), Duration::minutes(15 + 1 + 60));
        assert_eq!(h(Table::AuditEvents), Duration::days(90));
        assert_eq!(h(Table::AuthorizationCodes), Duration::hours(1));
        assert_eq!(h(Table::LoginSessions), Duration::zero());
    }

    #[test]
    fn a_revocation_outlives_every_token_it_affects() {
        // A token minted just before the event lives `access_ttl`; the feed tells followers to
        // keep the event a minute longer; the log keeps it the margin beyond that.
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let p = RetentionPolicy { revocation_margin: Duration::zero(), ..RetentionPolicy::default() };
        let event_at = now - Duration::minutes(16);
        assert!(p.horizon(Table::RevocationEvents, &tokens(), now) >= event_at, "kept to the feed's expires_at");
        let gone = now - Duration::minutes(16) - Duration::seconds(1);
        assert!(p.horizon(Table::RevocationEvents, &tokens(), now) > gone);
    }

    #[test]
    fn a_retry_of_a_token_used_as_it_expired_still_finds_its_row() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let expired = now - Duration::seconds(30);
        assert!(RetentionPolicy::default().horizon(Table::RefreshTokens, &tokens(), now) < expired);
    }
}
