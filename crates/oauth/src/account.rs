//! Codes for accounts people run themselves (contract §7), through the one-time codes' own
//! machinery (`grants::send_code`, `grants::otp::spend`): the same limits, tries, one use and
//! timing. What differs is a code's binding (`send_code::Binding`), so a code of one purpose
//! can never serve another:
//!
//! - a **new phone or email** (`POST /me/contact`) gets a code bound to the user
//!   (`contact:<user>`): only that user's token can confirm it, and it logs no one in;
//! - a **forgotten password** (`POST /password-reset`) sends a code to the account's phone or
//!   email, bound to the asking client (`reset:<client>`), with the login code's "same answer
//!   whoever asks" (a decoy for an unknown or banned destination); the confirmation sets the
//!   password through `SessionControl::set_password`, which ends every session and browser
//!   login of the user;
//! - **sign-up** (`POST /signup`) is gated here: a client registered with `signup`, and a
//!   per-address count that never forgets (the codes' counter).

use std::time::Instant;

use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::client::Client;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::{ClientId, UserId};
use portcullis_domain::otp::Destination;
use portcullis_domain::password::{MAX_PASSWORD_BYTES, check_policy};
use portcullis_domain::secret::Secret;
use portcullis_domain::user::UserStatus;

use crate::control::ControlError;
use crate::error::OAuthError;
use crate::grants::otp::spend;
use crate::grants::password::{Attempt, address_key};
use crate::grants::send_code::{Binding, CodeSent, deliver, destination, limit, send_and_store, send_limits};
use crate::registrar::ClientRegistrar;
use crate::request::{FormRequest, RequestContext};
use crate::service::TokenService;

fn contact_binding(user: &UserId) -> String {
    format!("contact:{user}")
}

fn reset_binding(client: &ClientId) -> String {
    format!("reset:{client}")
}

impl TokenService {
    /// `POST /me/contact`: a code to `to`, which `user` wants as their phone or email, sent on
    /// behalf of `client_id` (the token's client: its quota). Whoever the destination belongs
    /// to, it is sent (the confirmation answers 409 if it is taken by then).
    pub async fn send_contact_code(
        &self,
        user: &UserId,
        client_id: &str,
        to: &Destination,
        ctx: &RequestContext,
    ) -> Result<CodeSent, OAuthError> {
        let started = Instant::now();
        let cooldown = send_limits(self, to, client_id, ctx).await?;
        let bound = contact_binding(user);
        send_and_store(self, to, Binding { code: &bound, client_id }, cooldown, started).await?;
        let mut e = AuditEvent::new(self.now(), AuditKind::ContactCodeSent);
        e.actor = Some(user.to_string());
        e.user_id = Some(user.to_string());
        e.client_id = Some(client_id.to_owned());
        e.ip = ctx.ip.clone();
        e.detail = Some(format!("contact {}", to.channel()));
        self.audit(e).await;
        Ok(self.code_sent())
    }

    /// `POST /me/contact/verify`: spends the code `user` was sent for `to`; the caller sets the
    /// contact once this is `Ok`. A wrong, expired, used or dead code is `invalid_grant`.
    pub async fn check_contact_code(
        &self,
        user: &UserId,
        client_id: &str,
        to: &Destination,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let bound = contact_binding(user);
        let who = Attempt { ctx, client_id, device_id: None };
        spend(self, to, code, Binding { code: &bound, client_id }, &who).await.map(|_| ())
    }

    /// `POST /password-reset`: a code to the account whose phone or email the form names, for
    /// a client that signs people in; the same answer, in about the same time, whether or not
    /// there is such an account (nothing is sent to an unknown or banned one).
    pub async fn send_reset_code(&self, req: &FormRequest, ctx: &RequestContext) -> Result<CodeSent, OAuthError> {
        let to = destination(req)?;
        let client = self.client_signing_people_in(req).await?;
        let bound = reset_binding(&client.id);
        deliver(self, &to, Binding { code: &bound, client_id: client.id.as_str() }, false, ctx).await
    }

    /// `POST /password-reset/confirm`: the code the account's phone or email received, then the
    /// new password, which ends every session and browser login of the user. The password's
    /// policy is checked before the code is spent, so a weak one does not cost the code.
    pub async fn confirm_reset(&self, req: &FormRequest, ctx: &RequestContext) -> Result<UserId, OAuthError> {
        let to = destination(req)?;
        let code = req.required("code")?;
        let new_password = Secret::new(req.required("new_password")?);
        if new_password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(OAuthError::invalid_request("new_password is too long"));
        }
        check_policy(new_password.expose()).map_err(|e| OAuthError::InvalidRequest(e.to_string().into()))?;
        let client = self.client_signing_people_in(req).await?;
        let bound = reset_binding(&client.id);
        let who = Attempt { ctx, client_id: client.id.as_str(), device_id: None };
        spend(self, &to, &code, Binding { code: &bound, client_id: client.id.as_str() }, &who).await?;
        // A code goes only to an active owner; one deleted or banned since is refused.
        let user = self
            .deps
            .accounts
            .users
            .find_by_destination(&to)
            .await
            .map_err(|e| OAuthError::server("looking up a user", e))?
            .filter(|u| u.status == UserStatus::Active)
            .ok_or_else(|| OAuthError::InvalidGrant("this account can no longer reset its password".into()))?;
        self.control().set_password(&user.id, new_password, user.id.as_str(), "reset").await.map_err(|e| match e {
            ControlError::Invalid(m) => OAuthError::InvalidRequest(m.into()),
            ControlError::NotFound(_) => {
                OAuthError::InvalidGrant("this account can no longer reset its password".into())
            }
            ControlError::Store(e) => OAuthError::server("setting a password", e),
            ControlError::Internal(cause) => OAuthError::Server(cause),
            other => OAuthError::broken(format!("an unexpected refusal: {other}")),
        })?;
        Ok(user.id)
    }

    /// `POST /signup`'s gate: the client authenticated and registered with `signup`, and this
    /// address's accounts this hour under `per_hour` (counted before any work, on the codes'
    /// counter, which never forgets a live window). Returns the client.
    pub async fn signup_gate(
        &self,
        req: &FormRequest,
        ctx: &RequestContext,
        per_hour: u32,
    ) -> Result<Client, OAuthError> {
        let key = format!("signup-ip:{}", address_key(ctx.ip.as_deref()));
        limit(self, &key, per_hour, chrono::Duration::hours(1)).await?;
        let client = self.authenticated_client(req).await?;
        if !client.signup {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not sign people up (register it with --signup)".into(),
            ));
        }
        Ok(client)
    }

    fn code_sent(&self) -> CodeSent {
        let policy = self.deps.otp.policy;
        CodeSent {
            expires_in: policy.code_ttl.num_seconds().max(0) as u64,
            resend_after: policy.resend_after.num_seconds().max(0) as u64,
        }
    }

    /// The client the request authenticates as (HTTP Basic, the form's `client_id` and
    /// `client_secret`, or a public client's `client_id` alone), as at the token endpoint.
    async fn authenticated_client(&self, req: &FormRequest) -> Result<Client, OAuthError> {
        use oxide_auth_async::primitives::Registrar;
        let client_id = req.auth.client_id().ok_or_else(|| {
            OAuthError::invalid_client(
                "client authentication is required: HTTP Basic, client_id and client_secret, or client_id alone for a public client",
                false,
            )
        })?;
        // The grant is not consulted by `check`, which only authenticates.
        let registrar = ClientRegistrar::new(
            self.deps.clients.clone(),
            self.deps.hasher.clone(),
            GrantType::Password,
            req.auth.is_basic(),
        );
        let refused = |r: &ClientRegistrar| {
            r.take_failure().unwrap_or_else(|| OAuthError::broken("client authentication failed without saying why"))
        };
        registrar.check(client_id, req.auth.secret()).await.map_err(|_| refused(&registrar))?;
        registrar.client().ok_or_else(|| OAuthError::broken("an authenticated client was not kept"))
    }

    /// The authenticated client, if it signs people in (a password, a code or the login page):
    /// only such a client may send reset codes, each an SMS or an email someone pays for.
    async fn client_signing_people_in(&self, req: &FormRequest) -> Result<Client, OAuthError> {
        let client = self.authenticated_client(req).await?;
        let signs_in = [GrantType::Password, GrantType::Otp, GrantType::AuthorizationCode];
        if !signs_in.iter().any(|g| client.allows(*g)) {
            return Err(OAuthError::UnauthorizedClient(
                "this client signs no one in (it needs the password, otp or authorization_code grant)".into(),
            ));
        }
        Ok(client)
    }
}
