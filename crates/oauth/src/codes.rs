//! `CodeAuthorizer`: oxide-auth's `Authorizer` over `AuthCodeRepo`. Codes are 256 random bits,
//! stored only as their keyed hash, spent on first use; a replay ends what the code issued.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth_async::primitives::Authorizer;
use portcullis_domain::authcode::{AuthCode, CODE_PREFIX, CodeChallenge, Redemption, code_ttl};
use portcullis_domain::ids::{ClientId, DeviceId, UserId};
use portcullis_domain::revocation::Reason;
use portcullis_domain::scope::Scope;
use portcullis_domain::secret::{Secret, SecretHash};
use portcullis_domain::user::User;

use crate::error::OAuthError;
use crate::pkce::PkceExtension;
use crate::registrar::to_oxide_scope;
use crate::service::TokenService;

/// Longest authorization code accepted at the token endpoint (ours are 47 characters).
const MAX_CODE_LEN: usize = 128;

pub(crate) struct CodeAuthorizer<'s> {
    svc: &'s TokenService,
    /// The browser's device id, stored with a new code.
    device: Option<DeviceId>,
    /// Who the code is for, and when they proved their password.
    owner: Option<(UserId, DateTime<Utc>)>,
    /// The authorization request's `nonce`, stored with the code.
    nonce: Option<String>,
    /// The code redeemed by `extract`, and its user as read then.
    pub(crate) redeemed: Option<(AuthCode, User)>,
    pub(crate) failure: Option<OAuthError>,
    blocked: Option<OAuthError>,
}

impl<'s> CodeAuthorizer<'s> {
    pub(crate) fn new(svc: &'s TokenService, device: Option<DeviceId>) -> Self {
        Self { svc, device, owner: None, nonce: None, redeemed: None, failure: None, blocked: None }
    }

    /// Makes `extract` refuse every code with `e`, spending none.
    pub(crate) fn refuse_all(&mut self, e: OAuthError) {
        self.blocked = Some(e);
    }

    pub(crate) fn set_owner(&mut self, owner: UserId, auth_time: DateTime<Utc>, nonce: Option<String>) {
        self.owner = Some((owner, auth_time));
        self.nonce = nonce;
    }

    fn refuse(&mut self, why: &'static str) -> Result<Option<Grant>, ()> {
        self.failure = Some(OAuthError::InvalidGrant(why.into()));
        Ok(None)
    }

    fn broken(
        &mut self,
        what: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Result<Option<Grant>, ()> {
        self.failure = Some(OAuthError::server(what, e));
        Err(())
    }

    fn malformed(&mut self, what: &'static str) -> Result<Option<Grant>, ()> {
        self.failure = Some(OAuthError::broken(what));
        Err(())
    }

    /// RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
    async fn replayed(&mut self, user: UserId, session: Option<portcullis_domain::ids::SessionId>) {
        tracing::warn!(user_id = %user, "authorization code replayed");
        let Some(sid) = session else { return };
        match self.svc.deps.issuance.sessions.find(&sid).await {
            Ok(Some(s)) => {
                if let Err(e) = self.svc.end_session(&s, Reason::CodeReplayed, "policy").await {
                    tracing::error!(error = %portcullis_domain::error::Chain(&e), "could not end the session of a replayed code");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %portcullis_domain::error::Chain(&e), "could not find the session of a replayed code")
            }
        }
    }
}

#[async_trait]
impl Authorizer for CodeAuthorizer<'_> {
    async fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let now = self.svc.now();
        let (owner, auth_time) = self.owner.clone().ok_or(())?;
        let client_id = ClientId::parse(&grant.client_id).map_err(|_| ())?;
        let mut extensions = grant.extensions;
        let challenge = extensions
            .remove(&PkceExtension)
            .and_then(|v| v.into_private_value().ok().flatten())
            .map(CodeChallenge::from_stored);
        let code = Secret::generate(CODE_PREFIX);
        let row = AuthCode {
            code_hash: self.svc.deps.hasher.hash(code.expose()),
            client_id,
            user_id: owner,
            redirect_uri: grant.redirect_uri.to_string(),
            scope: grant.scope.to_string().parse::<Scope>().map_err(|_| ())?.to_string(),
            challenge,
            device_id: self.device.clone(),
            auth_time,
            created_at: now,
            expires_at: now + code_ttl(),
            nonce: self.nonce.clone(),
        };
        if let Err(e) = self.svc.deps.browser.codes.insert(&row).await {
            self.failure = Some(OAuthError::server("storing an authorization code", e));
            return Err(());
        }
        Ok(code.expose().to_owned())
    }

    async fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        if let Some(e) = self.blocked.take() {
            self.failure = Some(e);
            return Ok(None);
        }
        if code.len() > MAX_CODE_LEN {
            return self.refuse("unknown, expired or used authorization code");
        }
        let now: DateTime<Utc> = self.svc.now();
        let hash: SecretHash = self.svc.deps.hasher.hash(code);
        let found = match self.svc.deps.browser.codes.redeem(&hash, now).await {
            Ok(r) => r,
            Err(e) => return self.broken("redeeming an authorization code", e),
        };
        let c = match found {
            Redemption::Unknown => return self.refuse("unknown, expired or used authorization code"),
            Redemption::Replayed { user_id, session } => {
                self.replayed(user_id, session).await;
                return self.refuse("this authorization code was already used; the tokens issued from it are revoked");
            }
            Redemption::Redeemed(c) => c,
        };
        if c.expires_at <= now {
            return self.refuse("unknown, expired or used authorization code");
        }
        let user = match self.svc.deps.accounts.users.find(&c.user_id).await {
            Ok(Some(u)) if u.may_open_session(c.auth_time) => u,
            Ok(_) => return self.refuse("the user may no longer sign in"),
            Err(e) => return self.broken("looking up the user of a code", e),
        };
        let (Ok(redirect_uri), Ok(scope)) = (url::Url::parse(&c.redirect_uri), c.scope.parse::<Scope>()) else {
            return self.malformed("a stored code has a malformed redirect URI or scope");
        };
        let Some(scope) = to_oxide_scope(&scope) else {
            return self.malformed("a stored code's scope did not convert");
        };
        let mut extensions = Extensions::new();
        if let Some(ch) = &c.challenge {
            extensions.set(&PkceExtension, Value::private(Some(ch.as_str().to_owned())));
        }
        let grant = Grant {
            owner_id: c.user_id.to_string(),
            client_id: c.client_id.to_string(),
            redirect_uri,
            scope,
            // Expiry was checked above against our clock; oxide-auth compares with the wall clock.
            until: DateTime::<Utc>::MAX_UTC,
            extensions,
        };
        self.redeemed = Some((c, user));
        Ok(Some(grant))
    }
}
