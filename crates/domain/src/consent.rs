//! Consent: what a user allowed a client (per user, client and scope), and the browser login
//! session behind the login and consent pages.

use chrono::{DateTime, Duration, Utc};

use crate::ids::{ClientId, DeviceId, UserId};
use crate::scope::Scope;
use crate::secret::SecretHash;

/// A user's standing consent for one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: ClientId,
    /// Every scope the user has allowed this client.
    pub scope: Scope,
    pub granted_at: DateTime<Utc>,
}

impl Consent {
    /// Whether this consent already allows `requested` (so the page need not be shown again).
    pub fn covers(&self, requested: &Scope) -> bool {
        requested.is_subset(&self.scope)
    }
}

/// Prefix of the login cookie's secret.
pub const LOGIN_SECRET_PREFIX: &str = "pcl_";

/// How long a browser stays logged in to the authorization pages: long enough to read a
/// consent page, short enough that a shared computer forgets soon.
pub fn login_ttl() -> Duration {
    Duration::minutes(10)
}

/// A browser logged in to the authorization pages; the cookie's secret is stored only hashed.
/// It ends with a logout or a kick of its device, and with every user-wide cut-off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSession {
    pub secret_hash: SecretHash,
    pub user_id: UserId,
    /// The browser's device id (its device cookie).
    pub device_id: Option<DeviceId>,
    /// When the password check began (the authentication time).
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_subsets_only() {
        let c = Consent {
            user_id: UserId::parse("u").unwrap(),
            client_id: ClientId::parse("c").unwrap(),
            scope: "read write".parse().unwrap(),
            granted_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        assert!(c.covers(&"read".parse().unwrap()));
        assert!(c.covers(&Scope::empty()));
        assert!(!c.covers(&"read admin".parse().unwrap()));
    }
}
