//! `TokenService`: the protocol engine's one entry point and its dependencies, grouped by what
//! they are for. Its operations live with what they do (`grants`, `authorize`, `introspect`,
//! `revoke`, `control`, `browser`); this module depends on none of them.

use std::sync::Arc;

use portcullis_domain::audit::AuditEvent;
use portcullis_domain::clock::Clock;
use portcullis_domain::policy::TokenPolicy;
use portcullis_domain::ports::{
    AuditLog, AuthCodeRepo, ClientRepo, ConsentRepo, LoginSessionRepo, SessionRepo, UserRepo,
};
use portcullis_domain::secret::SecretHasher;
use portcullis_domain::throttle::{AttemptCounter, ThrottlePolicy};
use portcullis_tokens::{AccessTokenMinter, SharedKeyRing};

use crate::passwords::PasswordVerifier;
use portcullis_revocation::Revocations;

/// Everything the protocol needs, built once at start, grouped by what it is for.
pub struct TokenServiceDeps {
    /// Registered clients (behind a short cache in production).
    pub clients: Arc<dyn ClientRepo>,
    /// The keyed hash every secret is stored under.
    pub hasher: SecretHasher,
    pub accounts: Accounts,
    pub issuance: Issuance,
    pub browser: BrowserStores,
    pub revocations: Arc<Revocations>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

/// The resource owners and how their passwords are checked and throttled.
pub struct Accounts {
    pub users: Arc<dyn UserRepo>,
    pub passwords: PasswordVerifier,
    pub attempts: Arc<dyn AttemptCounter>,
    pub throttle: ThrottlePolicy,
}

/// What making a token needs: the keys, the minter, device sessions and lifetimes.
pub struct Issuance {
    pub sessions: Arc<dyn SessionRepo>,
    pub keys: Arc<SharedKeyRing>,
    pub minter: AccessTokenMinter,
    pub policy: TokenPolicy,
}

/// The state behind the authorization pages: codes, consents, browser logins.
pub struct BrowserStores {
    pub codes: Arc<dyn AuthCodeRepo>,
    pub consents: Arc<dyn ConsentRepo>,
    pub logins: Arc<dyn LoginSessionRepo>,
}

pub struct TokenService {
    pub(crate) deps: TokenServiceDeps,
}

impl TokenService {
    pub fn new(deps: TokenServiceDeps) -> Self {
        Self { deps }
    }

    /// Records an audit event; a failure to record is logged, not fatal to the request.
    pub(crate) async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.deps.audit.record(event).await {
            tracing::error!(error = %portcullis_domain::error::Chain(&e), "audit write failed");
        }
    }

    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.deps.revocations
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.deps.clock.now()
    }
}
