//! `SessionControl`: every operation that ends sessions on someone's word — a kick of one device
//! or of all, a ban, a password change, a consent withdrawal, a client deletion — in one place,
//! called by the admin API, self-service and the CLI alike.
//!
//! Each operation is one store transaction that ends every session it covers, however many
//! (docs/decisions/0011), then one round of `Revocations::recorded` that takes the new
//! revocations into this node's state and feed and rings the other nodes, then its audit row.

use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId};
use portcullis_domain::password::{MAX_PASSWORD_BYTES, check_policy};
use portcullis_domain::ports::{CutOff, CutOffDone, Ending, StoreError, UserChange};
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;

use crate::error::OAuthError;
use crate::grants::password::{self, Attempt};
use crate::request::RequestContext;
use crate::service::TokenService;

/// Longest ban reason kept.
pub const MAX_BAN_REASON: usize = 500;

/// How recent a password-less user's sign-in must be to change who the account answers to.
pub const RECENT_SIGN_IN: chrono::Duration = chrono::Duration::minutes(10);

/// Why a session-control operation was refused. The text is safe to show the caller.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many wrong passwords for this user or address: 429 with `Retry-After`.
    #[error("too many attempts; wait and try again (see Retry-After)")]
    Throttled { retry_after: u64 },
    /// The node cannot check a password now (the checks are queued full): 503 with `Retry-After`.
    #[error("too busy checking passwords; retry after Retry-After")]
    Busy { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure of ours; the cause is logged at the edge, never shown.
    #[error("internal failure: {0}")]
    Internal(Cause),
}

/// What a kick ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kicked {
    pub sessions: u64,
}

/// The session-control operations of one node (see the module documentation).
pub struct SessionControl<'s> {
    pub(crate) svc: &'s TokenService,
}

impl TokenService {
    /// The operations that end sessions on someone's word.
    pub fn control(&self) -> SessionControl<'_> {
        SessionControl { svc: self }
    }
}

impl SessionControl<'_> {
    async fn user(&self, id: &UserId) -> Result<User, ControlError> {
        self.svc.deps.accounts.users.find(id).await?.ok_or(ControlError::NotFound("user"))
    }

    /// A user-wide cut-off (kick-all, ban, password change): one store transaction; `NotFound`
    /// when there is no such user.
    async fn cut_off(&self, cut: &CutOff<'_>) -> Result<CutOffDone, ControlError> {
        let svc = self.svc;
        svc.deps.accounts.users.cut_off(cut, svc.deps.clock.as_ref()).await?.ok_or(ControlError::NotFound("user"))
    }

    async fn audit(&self, kind: AuditKind, user: Option<&UserId>, actor: &str, detail: Option<String>) {
        let mut e = AuditEvent::new(self.svc.now(), kind);
        e.actor = Some(actor.to_owned());
        e.user_id = user.map(ToString::to_string);
        e.detail = detail;
        self.svc.audit(e).await;
    }

    /// Ends every session of one of the user's devices (`device`), or of all of them (`None`:
    /// a user-wide cut-off, so that a token minted before it is dead wherever it is checked).
    /// Browser login sessions on the device (or every one) end too. `reason`: `Kicked` by an
    /// admin, `Logout` by the user. `NotFound` for an unknown user, or a device the user never had.
    pub async fn kick(
        &self,
        user: &UserId,
        device: Option<&str>,
        reason: Reason,
        actor: &str,
    ) -> Result<Kicked, ControlError> {
        let svc = self.svc;
        let sessions = match device {
            Some(raw) => {
                let device = DeviceId::parse(raw).map_err(|_| ControlError::NotFound("device"))?;
                self.user(user).await?;
                let which = Ending::Device { user, device: &device };
                let ended = svc.deps.issuance.sessions.end(which, svc.now(), reason, actor, true).await?;
                if ended == 0 && !svc.deps.issuance.sessions.has_device(user, &device).await? {
                    return Err(ControlError::NotFound("device"));
                }
                ended
            }
            None => {
                let cut = CutOff { user, change: UserChange::Nothing, keep: None, reason, actor };
                self.cut_off(&cut).await?.sessions_ended
            }
        };
        svc.deps.revocations.recorded().await;
        Ok(Kicked { sessions })
    }

    /// Bans: status `banned` and a user-wide cut-off in one transaction that also ends every
    /// session and browser login of the user; no grant succeeds until unbanned.
    pub async fn ban(&self, id: &UserId, reason: &str, actor: &str) -> Result<User, ControlError> {
        if reason.chars().count() > MAX_BAN_REASON || reason.trim().is_empty() {
            return Err(ControlError::Invalid(format!("reason must be 1 to {MAX_BAN_REASON} characters")));
        }
        let reason = reason.trim();
        let svc = self.svc;
        let cut = CutOff { user: id, change: UserChange::Ban { reason }, keep: None, reason: Reason::Banned, actor };
        let done = self.cut_off(&cut).await?;
        svc.deps.revocations.recorded().await;
        let detail = format!("sessions={} {}", done.sessions_ended, reason.chars().take(180).collect::<String>());
        self.audit(AuditKind::UserBanned, Some(id), actor, Some(detail)).await;
        self.user(id).await
    }

    /// Lifts a ban. Sessions the ban ended stay ended: the user logs in again.
    pub async fn unban(&self, id: &UserId, actor: &str) -> Result<User, ControlError> {
        if !self.svc.deps.accounts.users.unban(id, self.svc.now()).await? {
            return Err(ControlError::NotFound("user"));
        }
        self.audit(AuditKind::UserUnbanned, Some(id), actor, None).await;
        self.user(id).await
    }

    /// Proof that the person is at the keyboard, for a change that would hand the account to
    /// whoever holds a token (a new phone or email, a new username): the current password when
    /// the user has one (counted and audited as the password grant's tries), else a sign-in at
    /// most [`RECENT_SIGN_IN`] old (`signed_in`: when the caller's session was opened). A token
    /// stolen later, or held by an app that never saw the password, is not enough.
    pub async fn prove_presence(
        &self,
        user: &User,
        signed_in: chrono::DateTime<chrono::Utc>,
        current: Option<Secret>,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<(), ControlError> {
        let svc = self.svc;
        if !user.has_password() {
            return if svc.now() - signed_in <= RECENT_SIGN_IN {
                Ok(())
            } else {
                Err(ControlError::Forbidden("sign in again to change this (a sign-in within the last 10 minutes)"))
            };
        }
        let Some(current) = current else {
            return Err(ControlError::Forbidden("current_password is required to change this"));
        };
        let who = Attempt { ctx, client_id, device_id: None };
        let key = password::throttle(svc, user.username.as_str(), &who).await.map_err(refusal)?;
        if current.expose().len() > MAX_PASSWORD_BYTES {
            return Err(ControlError::Forbidden("the current password is wrong"));
        }
        password::check_password(svc, Some(user.clone()), current, &who).await.map_err(refusal)?;
        if let Err(e) = svc.deps.accounts.attempts.reset(&key).await {
            tracing::warn!(error = %portcullis_domain::error::Chain(&e), "could not clear the login attempt count");
        }
        Ok(())
    }

    /// The caller's password change from session `keep`: counted against the same per-user and
    /// per-address limits as the password grant (429 past them), each wrong current password
    /// audited as `login_failed`; then the new password and a cut-off sparing `keep`, which
    /// ends every other session and every browser login of the user.
    pub async fn change_password(
        &self,
        id: &UserId,
        current: Secret,
        new: Secret,
        keep: Option<&SessionId>,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<(), ControlError> {
        let svc = self.svc;
        let user = self.user(id).await?;
        let who = Attempt { ctx, client_id, device_id: None };
        let key = password::throttle(svc, user.username.as_str(), &who).await.map_err(refusal)?;
        if current.expose().len() > MAX_PASSWORD_BYTES {
            return Err(ControlError::Forbidden("the current password is wrong"));
        }
        let user = password::check_password(svc, Some(user), current, &who).await.map_err(refusal)?;
        if let Err(e) = svc.deps.accounts.attempts.reset(&key).await {
            tracing::warn!(error = %portcullis_domain::error::Chain(&e), "could not clear the login attempt count");
        }
        check_policy(new.expose()).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let hash = svc
            .deps
            .accounts
            .passwords
            .hash(new)
            .await
            .map_err(|e| ControlError::Internal(Cause::context("hashing a new password", e)))?;
        let cut = CutOff {
            user: &user.id,
            change: UserChange::Password { hash: &hash },
            keep,
            reason: Reason::PasswordChanged,
            actor: user.id.as_str(),
        };
        let done = self.cut_off(&cut).await?;
        svc.deps.revocations.recorded().await;
        let kept = keep.map_or_else(|| "none".to_owned(), ToString::to_string);
        let detail = format!("kept sid={kept} sessions={}", done.sessions_ended);
        self.audit(AuditKind::PasswordChanged, Some(id), id.as_str(), Some(detail)).await;
        Ok(())
    }

    /// Sets a user's password on someone else's word (an admin, or a reset code the caller
    /// has checked): the new password and a cut-off that ends every session and browser login
    /// of the user, in one transaction; audited `password_reset` by `actor` with `how`.
    pub async fn set_password(&self, id: &UserId, new: Secret, actor: &str, how: &str) -> Result<(), ControlError> {
        let svc = self.svc;
        if new.expose().len() > MAX_PASSWORD_BYTES {
            return Err(ControlError::Invalid(format!("new_password must be at most {MAX_PASSWORD_BYTES} bytes")));
        }
        check_policy(new.expose()).map_err(|e| ControlError::Invalid(e.to_string()))?;
        self.user(id).await?;
        let hash = svc
            .deps
            .accounts
            .passwords
            .hash(new)
            .await
            .map_err(|e| ControlError::Internal(Cause::context("hashing a new password", e)))?;
        let cut = CutOff {
            user: id,
            change: UserChange::Password { hash: &hash },
            keep: None,
            reason: Reason::PasswordChanged,
            actor,
        };
        let done = self.cut_off(&cut).await?;
        svc.deps.revocations.recorded().await;
        let detail = format!("{how} sessions={}", done.sessions_ended);
        self.audit(AuditKind::PasswordReset, Some(id), actor, Some(detail)).await;
        Ok(())
    }

    /// Deletes a user: every session and browser login ends at once (a user-wide cut-off on
    /// the revocation log, so resource servers hear of it), then the user and everything of
    /// theirs goes in the same transaction but the audit trail and the revocation log.
    pub async fn delete_user(&self, id: &UserId, actor: &str) -> Result<u64, ControlError> {
        let svc = self.svc;
        let cut = CutOff { user: id, change: UserChange::Delete, keep: None, reason: Reason::Deleted, actor };
        let done = self.cut_off(&cut).await?;
        svc.deps.revocations.recorded().await;
        self.audit(AuditKind::UserDeleted, Some(id), actor, Some(format!("sessions={}", done.sessions_ended))).await;
        Ok(done.sessions_ended)
    }

    /// Withdraws the user's consent for a client and ends the user's sessions with it. False
    /// (and nothing ended) when there was no consent.
    pub async fn withdraw_consent(&self, user: &UserId, client: &ClientId) -> Result<bool, ControlError> {
        let svc = self.svc;
        match svc.deps.browser.consents.withdraw(user, client, svc.now(), user.as_str()).await? {
            None => Ok(false),
            Some(ended) => {
                if ended > 0 {
                    svc.deps.revocations.recorded().await;
                }
                Ok(true)
            }
        }
    }

    /// Deletes a client: it can no longer authenticate, every session it opened ends, the
    /// consents given to it are dropped, and every token it was issued is revoked (a client-wide
    /// revocation, on the feed too). `NotFound` when there was no live client.
    pub async fn delete_client(&self, id: &ClientId, actor: &str) -> Result<u64, ControlError> {
        let svc = self.svc;
        let ended = svc.deps.clients.delete(id, svc.now(), actor).await?.ok_or(ControlError::NotFound("client"))?;
        svc.deps.revocations.recorded().await;
        let mut e = AuditEvent::new(svc.now(), AuditKind::ClientDeleted);
        e.actor = Some(actor.to_owned());
        e.client_id = Some(id.to_string());
        e.detail = Some(format!("sessions={ended}"));
        svc.audit(e).await;
        Ok(ended)
    }

    /// Ends the caller's own device session (and the browser login of its device).
    pub async fn logout(&self, sid: &SessionId, actor: &str) -> Result<(), ControlError> {
        if let Some(session) = self.svc.deps.issuance.sessions.find(sid).await? {
            self.svc.end_session(&session, Reason::Logout, actor).await?;
        }
        Ok(())
    }
}

fn refusal(e: OAuthError) -> ControlError {
    match e {
        OAuthError::TooManyAttempts { retry_after, .. } => ControlError::Throttled { retry_after },
        OAuthError::Busy { retry_after } => ControlError::Busy { retry_after },
        OAuthError::InvalidGrant(_) => ControlError::Forbidden("the current password is wrong"),
        OAuthError::Server(cause) => ControlError::Internal(cause),
        other => ControlError::Internal(Cause::msg(format!("an unexpected refusal: {other}"))),
    }
}
