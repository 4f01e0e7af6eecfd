//! Ban, unban and password change: each ends the right device sessions and is audited.

use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::clock::Clock;
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::password::check_policy;
use portcullis_domain::ports::{AuditLog, SessionRepo, UserRepo};
use portcullis_domain::revocation::{NewRevocation, Reason, Target};
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{User, UserStatus};
use portcullis_oauth::{PasswordVerifier, TokenService};
use portcullis_proto::UserView;

use super::OpError;

/// Longest ban reason kept.
pub const MAX_BAN_REASON: usize = 500;

pub fn view(u: &User) -> UserView {
    UserView {
        user_id: u.id.to_string(),
        username: u.username.to_string(),
        status: u.status.as_str().to_owned(),
        ban_reason: u.ban_reason.clone(),
        created_at: u.created_at.to_rfc3339(),
    }
}

/// The services these operations use.
pub struct UserOps<'a> {
    pub users: &'a dyn UserRepo,
    pub sessions: &'a dyn SessionRepo,
    pub audit: &'a dyn AuditLog,
    pub tokens: &'a TokenService,
    pub passwords: &'a PasswordVerifier,
    pub clock: &'a dyn Clock,
}

impl UserOps<'_> {
    async fn user(&self, id: &UserId) -> Result<User, OpError> {
        self.users.find(id).await?.ok_or(OpError::NotFound("user"))
    }

    async fn record(&self, kind: AuditKind, user: &UserId, actor: &str, detail: Option<String>) {
        let mut e = AuditEvent::new(self.clock.now(), kind);
        e.actor = Some(actor.to_owned());
        e.user_id = Some(user.to_string());
        e.detail = detail;
        if let Err(err) = self.audit.record(e).await {
            tracing::error!(error = %err, "audit write failed");
        }
    }

    /// Bans: status `banned` first (so no new grant succeeds), then every session ends.
    pub async fn ban(&self, id: &UserId, reason: &str, actor: &str) -> Result<User, OpError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_BAN_REASON {
            return Err(OpError::Invalid(format!("reason must be 1 to {MAX_BAN_REASON} characters")));
        }
        self.user(id).await?;
        let now = self.clock.now();
        let cutoff =
            NewRevocation { at: now, target: Target::User { user: id.clone(), except: None }, reason: Reason::Banned };
        self.users.set_status(id, UserStatus::Banned, Some(reason), now, Some(&cutoff)).await?;
        self.tokens.revocations().recorded().await;
        super::devices::end(self.sessions, self.tokens, self.clock, id, None, Reason::Banned, actor).await?;
        self.record(AuditKind::UserBanned, id, actor, Some(reason.chars().take(200).collect())).await;
        self.user(id).await
    }

    /// Unbans. Ended sessions stay ended: the user logs in again.
    pub async fn unban(&self, id: &UserId, actor: &str) -> Result<User, OpError> {
        self.user(id).await?;
        self.users.set_status(id, UserStatus::Active, None, self.clock.now(), None).await?;
        self.record(AuditKind::UserUnbanned, id, actor, None).await;
        self.user(id).await
    }

    /// Checks the current password, stores the new one, and ends every session but `keep`.
    pub async fn change_password(
        &self,
        id: &UserId,
        current: Secret,
        new: Secret,
        keep: &SessionId,
    ) -> Result<(), OpError> {
        let user = self.user(id).await?;
        let ok = self
            .passwords
            .verify(current, Some(user.password_hash.clone()))
            .await
            .map_err(|e| OpError::Internal(e.to_string()))?;
        if !ok {
            return Err(OpError::Forbidden("the current password is wrong"));
        }
        check_policy(new.expose()).map_err(|e| OpError::Invalid(e.to_string()))?;
        let hash = self.passwords.hash(new).await.map_err(|e| OpError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let target = Target::User { user: id.clone(), except: Some(keep.clone()) };
        let cutoff = NewRevocation { at: now, target, reason: Reason::PasswordChanged };
        self.users.set_password(id, &hash, now, Some(&cutoff)).await?;
        self.tokens.revocations().recorded().await;
        super::devices::end_all_but(self.sessions, self.tokens, id, keep, Reason::PasswordChanged, id.as_str()).await?;
        self.record(AuditKind::PasswordChanged, id, id.as_str(), Some(format!("kept sid={keep}"))).await;
        Ok(())
    }
}
