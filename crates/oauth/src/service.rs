//! `TokenService`: the token endpoint, minus HTTP.

use std::sync::Arc;
use std::time::Instant;

use oxide_auth::endpoint::WebRequest;
use portcullis_domain::audit::AuditEvent;
use portcullis_domain::clock::Clock;
use portcullis_domain::grant::GrantType;
use portcullis_domain::policy::TokenPolicy;
use portcullis_domain::ports::{
    AuditLog, AuthCodeRepo, ClientRepo, ConsentRepo, LoginSessionRepo, SessionRepo, UserRepo,
};
use portcullis_domain::secret::SecretHasher;
use portcullis_domain::throttle::{AttemptCounter, ThrottlePolicy};
use portcullis_proto::TokenResponse;
use portcullis_tokens::{AccessTokenMinter, SharedKeyRing};

use crate::error::OAuthError;
use crate::grants;
use crate::passwords::PasswordVerifier;
use crate::request::{RequestContext, TokenRequest};
use portcullis_revocation::Revocations;

/// Everything the grants need, built once at start.
pub struct TokenServiceDeps {
    pub clients: Arc<dyn ClientRepo>,
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub revocations: Arc<Revocations>,
    pub audit: Arc<dyn AuditLog>,
    pub hasher: SecretHasher,
    pub passwords: PasswordVerifier,
    pub keys: Arc<SharedKeyRing>,
    pub minter: AccessTokenMinter,
    pub policy: TokenPolicy,
    pub clock: Arc<dyn Clock>,
    pub attempts: Arc<dyn AttemptCounter>,
    pub throttle: ThrottlePolicy,
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

    /// Answers one token request.
    pub async fn token<R: WebRequest>(&self, req: &mut R, ctx: &RequestContext) -> Result<TokenResponse, OAuthError> {
        let started = Instant::now();
        let request = match TokenRequest::from_web(req) {
            Ok(r) => r,
            Err(e) => {
                record_outcome("unknown", &Err(e.clone()), started);
                return Err(e);
            }
        };
        let result = match request.grant_type {
            GrantType::ClientCredentials => grants::client_credentials::run(self, &request).await,
            GrantType::Password => grants::password::run(self, &request, ctx).await,
            GrantType::RefreshToken => grants::refresh_token::run(self, &request, ctx).await,
            GrantType::AuthorizationCode => grants::authorization_code::run(self, &request, ctx).await,
        };
        record_outcome(request.grant_type.as_str(), &result, started);
        result
    }

    /// Records an audit event; a failure to record is logged, not fatal to the request.
    pub(crate) async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.deps.audit.record(event).await {
            tracing::error!(error = %e, "audit write failed");
        }
    }

    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.deps.revocations
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.deps.clock.now()
    }
}

fn record_outcome(grant: &'static str, result: &Result<TokenResponse, OAuthError>, started: Instant) {
    let outcome = match result {
        Ok(_) => "issued",
        Err(e) => e.code().as_str(),
    };
    metrics::counter!("portcullis_grants_total", "grant" => grant, "outcome" => outcome).increment(1);
    if result.is_ok() {
        metrics::histogram!("portcullis_token_issue_seconds", "grant" => grant).record(started.elapsed().as_secs_f64());
    }
}
