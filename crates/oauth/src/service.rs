//! `TokenService`: the protocol engine's one entry point and its dependencies, grouped by what
//! they are for. Its operations live with what they do (`grants`, `authorize`, `introspect`,
//! `revoke`, `control`, `browser`); this module depends on none of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use portcullis_domain::audit::AuditEvent;
use portcullis_domain::clock::Clock;
use portcullis_domain::otp::{Channel, OtpPolicy, Sender};
use portcullis_domain::policy::TokenPolicy;
use portcullis_domain::ports::{
    AuditLog, AuthCodeRepo, ClientRepo, ConsentRepo, LoginSessionRepo, OtpRepo, SessionRepo, UserRepo,
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
    /// One-time codes: their store, their sender, their rules.
    pub otp: OneTimeCodes,
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
    /// Where access tokens are signed (`crate::signing`).
    pub signer: crate::signing::Signer,
    pub policy: TokenPolicy,
}

/// The state behind the authorization pages: codes, consents, browser logins.
pub struct BrowserStores {
    pub codes: Arc<dyn AuthCodeRepo>,
    pub consents: Arc<dyn ConsentRepo>,
    pub logins: Arc<dyn LoginSessionRepo>,
}

/// What one-time codes need: where they are kept, how they travel, and their rules.
pub struct OneTimeCodes {
    pub codes: Arc<dyn OtpRepo>,
    /// The limits' counter: Redis, or the database (`SqlAttempts`), never the in-process one
    /// of the login throttle, which forgets its oldest windows when full.
    pub attempts: Arc<dyn AttemptCounter>,
    pub sender: Arc<dyn Sender>,
    pub policy: OtpPolicy,
    pub timing: SendTiming,
}

/// How long a request that sends a code takes lately (a moving average), per channel — an SMS
/// gateway and a mail relay answer at different speeds, and one average over both would let an
/// unanswered email request be told from a sent one by its time — so that a request that sends
/// nothing can take as long as one that sends on its channel.
#[derive(Debug)]
pub struct SendTiming {
    sms: AtomicU64,
    email: AtomicU64,
}

impl SendTiming {
    /// Starting from `typical` on both channels until the first sends are seen.
    pub fn new(typical: StdDuration) -> Self {
        let micros = typical.as_micros() as u64;
        Self { sms: AtomicU64::new(micros), email: AtomicU64::new(micros) }
    }

    fn of(&self, channel: Channel) -> &AtomicU64 {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        }
    }

    pub(crate) fn record(&self, channel: Channel, took: StdDuration) {
        let took = took.as_micros().min(10_000_000) as u64;
        // An exponential moving average over about the last 16 sends.
        let _ =
            self.of(channel).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| Some(avg - avg / 16 + took / 16));
    }

    pub(crate) fn typical(&self, channel: Channel) -> StdDuration {
        StdDuration::from_micros(self.of(channel).load(Ordering::Relaxed))
    }
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

#[cfg(test)]
mod timing_tests {
    use super::*;

    #[test]
    fn each_channel_keeps_its_own_average() {
        let t = SendTiming::new(StdDuration::from_millis(50));
        for _ in 0..200 {
            t.record(Channel::Email, StdDuration::from_millis(800));
            t.record(Channel::Sms, StdDuration::from_millis(40));
        }
        let email = t.typical(Channel::Email).as_millis();
        let sms = t.typical(Channel::Sms).as_millis();
        assert!((780..=800).contains(&email), "{email}");
        assert!((40..=41).contains(&sms), "{sms}");
    }
}
