//! The browser side of the authorization pages: the login form (the password grant's checks
//! and throttling), the code form (the OTP grant's, `otp.browser_login`), the login cookie
//! (stored hashed), CSRF tokens, and standing consents.

use chrono::{DateTime, Utc};
use portcullis_domain::audit::AuditKind;
use portcullis_domain::consent::{Consent, LOGIN_SECRET_PREFIX, LoginSession, login_ttl};
use portcullis_domain::ids::{DeviceId, UserId};
use portcullis_domain::otp::{Channel, Destination};
use portcullis_domain::password::MAX_PASSWORD_BYTES;
use portcullis_domain::ports::{Authenticated, Opened, StoreError};
use portcullis_domain::secret::{Secret, SecretHash};
use portcullis_domain::user::User;

use crate::error::OAuthError;
use crate::grants::otp;
use crate::grants::password::{self, Attempt};
use crate::grants::send_code::{self, CodeSent};
use crate::request::{MAX_PARAM_LEN, RequestContext};
use crate::service::TokenService;

/// Most consents listed at once (a user has few).
pub const MAX_CONSENTS: u64 = 200;

/// Most browser logins listed on the account page (they last minutes: a person has a few).
pub const MAX_LISTED_LOGINS: u64 = 100;

pub use crate::grants::send_code::ACCOUNT_PAGE;

/// A browser login that succeeded: the cookie's secret (shown once, stored hashed) and the user.
#[derive(Debug)]
pub struct BrowserLogin {
    pub secret: Secret,
    pub user: UserId,
    pub expires_in: u64,
}

impl TokenService {
    /// Checks the login form exactly as the password grant checks its credentials (attempt
    /// throttling, argon2 on the blocking pool, bans, audit), then opens a login session.
    /// `client_id`: the client the user is logging in for (audit only).
    pub async fn browser_login(
        &self,
        username: &str,
        password: &str,
        client_id: &str,
        device: &DeviceId,
        ctx: &RequestContext,
    ) -> Result<BrowserLogin, OAuthError> {
        if username.len() > MAX_PARAM_LEN || password.len() > MAX_PASSWORD_BYTES {
            return Err(OAuthError::InvalidGrant("wrong username or password".into()));
        }
        let who = Attempt { ctx, client_id, device_id: Some(device.as_str()) };
        let key = password::throttle(self, username, &who).await?;
        let (user, at) = password::authenticate_user(self, username, Secret::new(password), &who).await?;
        if let Err(e) = self.deps.accounts.attempts.reset(&key).await {
            tracing::warn!(error = %portcullis_domain::error::Chain(&e), "could not clear the login attempt count");
        }
        self.open_login(&user, at, device).await
    }

    /// The login page's "send me a code" (`otp.browser_login`): `typed` is what the person
    /// entered, `client_id` the client of the authorization request, already checked. The same
    /// limits, answers and timing as `POST /oauth2/otp`.
    pub async fn browser_send_code(
        &self,
        typed: &str,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<(Destination, CodeSent), OAuthError> {
        if !self.deps.otp.policy.browser_login {
            return Err(OAuthError::invalid_request("sign-in with a code is off on this server (otp.browser_login)"));
        }
        let to = send_code::typed_destination(typed)?;
        let signup = send_code::signs_up(self, client_id).await?;
        let sent = send_code::deliver(self, &to, send_code::Binding::login(client_id), signup, ctx).await?;
        Ok((to, sent))
    }

    /// The channels the login page offers codes on (those the sender reaches); none when
    /// `otp.browser_login` is off.
    pub fn browser_code_channels(&self) -> Vec<Channel> {
        let otp = &self.deps.otp;
        if !otp.policy.browser_login {
            return Vec::new();
        }
        [Channel::Sms, Channel::Email].into_iter().filter(|c| otp.sender.sends(*c)).collect()
    }

    /// The login page's code form (`otp.browser_login`): spends the code exactly as the OTP grant
    /// does (its limits, its five tries, sign-up when the authorizing client signs people up, a
    /// ban refused), audits `login` with method `otp`, then opens a login session.
    /// `typed`: the destination as entered on the page before; `client_id`: the client of the
    /// authorization request, already checked.
    pub async fn browser_code_login(
        &self,
        typed: &str,
        code: &str,
        client_id: &str,
        device: &DeviceId,
        ctx: &RequestContext,
    ) -> Result<BrowserLogin, OAuthError> {
        if !self.deps.otp.policy.browser_login {
            return Err(OAuthError::invalid_request("sign-in with a code is off on this server (otp.browser_login)"));
        }
        let to = send_code::typed_destination(typed)?;
        let code: String = code.trim().chars().take(16).collect();
        let who = Attempt { ctx, client_id, device_id: Some(device.as_str()) };
        let signup = send_code::signs_up(self, client_id).await?;
        let (user, at) = otp::redeem(self, &to, &code, signup, &who).await?;
        let login = self.open_login(&user, at, device).await?;
        metrics::counter!("portcullis_otp_total", "channel" => to.channel().as_str(), "outcome" => "login")
            .increment(1);
        let mut event = password::login_event(self, AuditKind::LoginSucceeded, &who);
        event.user_id = Some(user.id.to_string());
        event.actor = Some(user.id.to_string());
        event.detail = Some(format!("method=otp channel={} page=authorize", to.channel()));
        self.audit(event).await;
        Ok(login)
    }

    /// Opens a login session for `user`, who proved who they are at `at`, on `device`. Refused
    /// when the account changed since (a ban, a password change, a sign-out).
    async fn open_login(&self, user: &User, at: DateTime<Utc>, device: &DeviceId) -> Result<BrowserLogin, OAuthError> {
        let secret = Secret::generate(LOGIN_SECRET_PREFIX);
        let login = LoginSession {
            secret_hash: self.deps.hasher.hash(secret.expose()),
            user_id: user.id.clone(),
            device_id: Some(device.clone()),
            created_at: at,
            expires_at: self.now() + login_ttl(),
        };
        let authenticated = Authenticated { at, user_version: Some(user.updated_at) };
        match self.deps.browser.logins.insert(&login, authenticated).await {
            Ok(Opened::Opened) => {}
            Ok(Opened::Refused) => {
                return Err(OAuthError::InvalidGrant(
                    "the account changed while signing in (a ban, a password change or a sign-out); sign in again"
                        .into(),
                ));
            }
            Err(e) => {
                return Err(OAuthError::server("storing a login session", e));
            }
        }
        Ok(BrowserLogin { secret, user: user.id.clone(), expires_in: login_ttl().num_seconds().max(0) as u64 })
    }

    /// The account page's password change: the current password checked and counted as the
    /// password grant's, then the new one and a cut-off that ends every session and browser
    /// login of the user, this browser's too; then this browser is signed in again (it just
    /// proved the password). `None` when that new login was refused (the account changed again
    /// meanwhile): the person signs in with the new password.
    pub async fn browser_change_password(
        &self,
        user: &UserId,
        current: Secret,
        new: Secret,
        device: &DeviceId,
        ctx: &RequestContext,
    ) -> Result<Option<BrowserLogin>, crate::ControlError> {
        self.control().change_password(user, current, new, None, ACCOUNT_PAGE, ctx).await?;
        self.reopen_login(user, device).await
    }

    /// The account page's "sign out everywhere else": a user-wide cut-off (every session and
    /// browser login ends, on every device, this browser's too; every code and login that
    /// began before it is refused), then this browser is signed in again, as after a password
    /// change. A device id is the client's to choose, so sparing "this device" by its id would
    /// spare whoever claims it. `None` as in [`Self::browser_change_password`].
    pub async fn browser_sign_out_others(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Option<BrowserLogin>, crate::ControlError> {
        self.control().kick(user, None, portcullis_domain::revocation::Reason::Logout, user.as_str()).await?;
        self.reopen_login(user, device).await
    }

    /// A new login for this browser right after a cut-off it asked for (it proved who it is
    /// just before): opened after the cut-off, even within the same instant of the clock.
    async fn reopen_login(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Option<BrowserLogin>, crate::ControlError> {
        let Some(user) = self.deps.accounts.users.find(user).await? else { return Ok(None) };
        let cut = user.cutoffs.all.map(|at| at + chrono::Duration::milliseconds(1));
        let at = cut.map_or(self.now(), |c| c.max(self.now()));
        match self.open_login(&user, at, device).await {
            Ok(login) => Ok(Some(login)),
            Err(OAuthError::Server(cause)) => Err(crate::ControlError::Internal(cause)),
            Err(_) => Ok(None),
        }
    }

    /// The user's live browser logins (the account page lists them), newest first.
    pub async fn browser_logins(&self, user: &UserId) -> Result<Vec<LoginSession>, StoreError> {
        self.deps.browser.logins.live(user, self.now(), MAX_LISTED_LOGINS).await
    }

    /// Ends the login behind `cookie` (a browser signing itself out); false when there was none.
    pub async fn browser_logout(&self, cookie: &str) -> Result<bool, StoreError> {
        if cookie.len() > MAX_PARAM_LEN || !cookie.starts_with(LOGIN_SECRET_PREFIX) {
            return Ok(false);
        }
        self.deps.browser.logins.end(&self.deps.hasher.hash(cookie)).await
    }

    /// The login page's "create an account" (a client registered with `signup`, checked by the
    /// authorization request): the per-address count of `POST /signup` (`per_hour`), counted
    /// before any work. The caller then creates the account and signs it in with
    /// [`Self::browser_new_account`].
    pub async fn browser_signup_gate(&self, ctx: &RequestContext, per_hour: u32) -> Result<(), OAuthError> {
        let key = format!("signup-ip:{}", crate::grants::password::address_key(ctx.ip.as_deref()));
        send_code::limit(self, &key, per_hour, chrono::Duration::hours(1)).await.map(|_| ())
    }

    /// Signs a browser in to the account it just created (`user`), audited `login` with method
    /// `signup`.
    pub async fn browser_new_account(
        &self,
        user: &UserId,
        client_id: &str,
        device: &DeviceId,
        ctx: &RequestContext,
    ) -> Result<BrowserLogin, OAuthError> {
        // Read back as stored: its version is the store's (whose clock precision may differ).
        let found =
            self.deps.accounts.users.find(user).await.map_err(|e| OAuthError::server("reading a new user", e))?;
        let Some(user) = found else {
            return Err(OAuthError::InvalidGrant("the new account is gone (deleted meanwhile)".into()));
        };
        let user = &user;
        let login = self.open_login(user, self.now(), device).await?;
        let who = Attempt { ctx, client_id, device_id: Some(device.as_str()) };
        let mut event = password::login_event(self, AuditKind::LoginSucceeded, &who);
        event.user_id = Some(user.id.to_string());
        event.actor = Some(user.id.to_string());
        event.detail = Some("method=signup page=authorize".into());
        self.audit(event).await;
        Ok(login)
    }

    /// The user behind a login cookie, if it is live, and when they proved their password.
    pub async fn browser_user(&self, cookie: &str) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError> {
        if cookie.len() > MAX_PARAM_LEN || !cookie.starts_with(LOGIN_SECRET_PREFIX) {
            return Ok(None);
        }
        self.deps.browser.logins.find(&self.deps.hasher.hash(cookie), self.now()).await
    }

    /// The CSRF token of the forms shown to the browser holding `cookie` (its random CSRF
    /// cookie) and `login` (its login cookie, if any): a keyed hash of both, so a page from
    /// another origin can know neither, and a CSRF cookie planted from elsewhere with a token
    /// minted for another browser's login does not fit the victim's login session.
    pub fn csrf_token(&self, cookie: &str, login: Option<&str>) -> String {
        self.deps.hasher.hash(&self.csrf_input(cookie, login)).as_str().to_owned()
    }

    /// Whether `form` is the CSRF token for `cookie` and `login` (constant time).
    pub fn csrf_ok(&self, cookie: &str, login: Option<&str>, form: &str) -> bool {
        form.len() <= 128
            && !cookie.is_empty()
            && self
                .deps
                .hasher
                .verify(self.csrf_input(cookie, login).as_bytes(), &SecretHash::from_stored(form.to_owned()))
    }

    fn csrf_input(&self, cookie: &str, login: Option<&str>) -> String {
        // Bound to the server-side key of the login session, not the cookie's own text.
        let bound = login.filter(|l| l.len() <= MAX_PARAM_LEN).map(|l| self.deps.hasher.hash(l));
        format!("csrf:{cookie}:{}", bound.as_ref().map_or("-", |h| h.as_str()))
    }

    /// A user's standing consents.
    pub async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        self.deps.browser.consents.list(user, MAX_CONSENTS).await
    }
}
