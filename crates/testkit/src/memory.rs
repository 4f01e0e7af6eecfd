//! `Memory`: every storage port over one in-process state behind one lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::authcode::{AuthCode, Redemption};
use portcullis_domain::client::Client;
use portcullis_domain::clock::Clock;
use portcullis_domain::consent::{Consent, LoginSession};
use portcullis_domain::devices::Device;
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId, Username};
use portcullis_domain::otp::{Destination, StoredCode};
use portcullis_domain::ports::{
    AuditFilter, AuditLog, AuthCodeRepo, Authenticated, ClientRepo, ConsentRepo, CutOff, CutOffDone, Ending,
    LoginSessionRepo, NewCode, Opened, OtpRepo, ProfileChange, RotateOutcome, RotateRequest, SessionRepo,
    SigningKeyRecord, SigningKeyRepo, StoreError, UserChange, UserRepo,
};
use portcullis_domain::revocation::{NewRevocation, Reason, Revocation, Target};
use portcullis_domain::rotation::{Decision, Owner, RevokeReason, decide, slid_expiry};
use portcullis_domain::secret::SecretHash;
use portcullis_domain::session::{DeviceSession, NewRefreshToken, RefreshTokenRecord};
use portcullis_domain::throttle::AttemptCounter;
use portcullis_domain::user::{User, UserStatus};
use portcullis_proto::TokenRef;
use portcullis_proto::feed::RevocationSet;
use portcullis_revocation::RevocationLog;

/// A stored refresh token: its record and its hash.
#[derive(Clone, Debug)]
struct Token {
    hash: SecretHash,
    record: RefreshTokenRecord,
}

/// A stored authorization code and what became of it.
#[derive(Clone, Debug)]
struct Code {
    code: AuthCode,
    used: bool,
    replayed: bool,
    session: Option<SessionId>,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<ClientId, (Client, bool)>,
    users: BTreeMap<UserId, User>,
    sessions: BTreeMap<SessionId, DeviceSession>,
    tokens: Vec<Token>,
    codes: HashMap<SecretHash, Code>,
    consents: BTreeMap<(UserId, ClientId), Consent>,
    logins: HashMap<SecretHash, LoginSession>,
    keys: Vec<SigningKeyRecord>,
    audit: Vec<AuditEvent>,
    revocations: Vec<Revocation>,
    attempts: HashMap<String, (u32, DateTime<Utc>)>,
    /// Live one-time codes by destination key: the code and its hash.
    /// By (destination, client).
    otp_codes: HashMap<(String, String), (StoredCode, SecretHash)>,
}

/// Every storage port in memory. Clones share the state.
#[derive(Clone)]
pub struct Memory {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl Memory {
    /// An empty store whose attempt windows follow `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { state: Arc::default(), clock }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every audit event recorded, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.lock().audit.clone()
    }

    /// How many audit events of `kind` were recorded.
    pub fn audits(&self, kind: AuditKind) -> usize {
        self.lock().audit.iter().filter(|e| e.kind == kind).count()
    }

    /// Every revocation recorded, oldest first.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.lock().revocations.clone()
    }

    /// The refresh tokens of a session that can still be used.
    pub fn live_tokens(&self, sid: &SessionId) -> usize {
        let s = self.lock();
        let live = s.sessions.get(sid).is_some_and(|x| x.revoked_at.is_none());
        if !live {
            return 0;
        }
        s.tokens
            .iter()
            .filter(|t| {
                t.record.session_id == sid.as_str() && t.record.used_at.is_none() && t.record.superseded_at.is_none()
            })
            .count()
    }

    /// The sessions of `user` not ended.
    pub fn live_sessions(&self, user: &UserId) -> Vec<DeviceSession> {
        self.lock().sessions.values().filter(|s| &s.user_id == user && s.revoked_at.is_none()).cloned().collect()
    }

    /// Whether the rule (`portcullis_proto::feed`) says a token is revoked by what was recorded.
    pub fn rule_revokes(&self, token: &TokenRef<'_>, horizon: Duration) -> bool {
        let mut set = RevocationSet::new();
        for r in &self.lock().revocations {
            set.add(portcullis_revocation::wire::target(r), r.expires_at(horizon).timestamp());
        }
        set.is_revoked(token)
    }
}

impl State {
    fn record(&mut self, at: DateTime<Utc>, target: Target, reason: Reason) -> i64 {
        let id = self.revocations.last().map_or(1, |r| r.id + 1);
        self.revocations.push(Revocation { id, at, target, reason });
        id
    }

    /// Ends the live sessions `which` selects, as the SQL store's `ending` does: an audit row
    /// each, and with `events` a session event each.
    fn end(
        &mut self,
        which: impl Fn(&DeviceSession) -> bool,
        now: DateTime<Utc>,
        reason: Reason,
        actor: &str,
        events: bool,
    ) -> u64 {
        let ended: Vec<SessionId> =
            self.sessions.values().filter(|s| s.is_active(now) && which(s)).map(|s| s.id.clone()).collect();
        for sid in &ended {
            let Some(s) = self.sessions.get_mut(sid) else { continue };
            s.revoked_at = Some(now);
            s.revoked_reason = Some(reason.as_str().to_owned());
            let (user, client, device) = (s.user_id.clone(), s.client_id.clone(), s.device_id.clone());
            let mut e = AuditEvent::new(now, AuditKind::SessionRevoked);
            e.actor = Some(actor.to_owned());
            e.user_id = Some(user.to_string());
            e.client_id = Some(client.to_string());
            e.device_id = Some(device.to_string());
            e.detail = Some(format!("{} sid={sid}", reason.as_str()));
            self.audit.push(e);
            if events {
                self.record(now, Target::Session { sid: sid.clone(), user }, reason);
            }
        }
        ended.len() as u64
    }

    fn admits(&self, user: &UserId, authenticated: Authenticated) -> bool {
        self.users.get(user).is_some_and(|u| {
            u.may_open_session(authenticated.at) && authenticated.user_version.is_none_or(|v| v == u.updated_at)
        })
    }
}

#[async_trait]
impl ClientRepo for Memory {
    async fn insert(&self, client: &Client) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.clients.contains_key(&client.id) {
            return Err(StoreError::Conflict);
        }
        s.clients.insert(client.id.clone(), (client.clone(), false));
        Ok(())
    }

    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.lock().clients.get(id).filter(|(_, deleted)| !deleted).map(|(c, _)| c.clone()))
    }

    async fn scopes(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let s = self.lock();
        Ok(s.clients
            .values()
            .filter(|(_, deleted)| !deleted)
            .flat_map(|(c, _)| c.scope.to_string().split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect())
    }

    async fn allowed_origins(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let s = self.lock();
        Ok(s.clients.values().filter(|(_, deleted)| !deleted).flat_map(|(c, _)| c.allowed_origins.clone()).collect())
    }

    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<Client>, StoreError> {
        let s = self.lock();
        Ok(s.clients
            .values()
            .filter(|(c, deleted)| !deleted && after.is_none_or(|a| c.id.as_str() > a))
            .take(limit as usize)
            .map(|(c, _)| c.clone())
            .collect())
    }

    async fn delete(&self, id: &ClientId, now: DateTime<Utc>, actor: &str) -> Result<Option<u64>, StoreError> {
        let mut s = self.lock();
        match s.clients.get_mut(id) {
            Some((_, deleted)) if !*deleted => *deleted = true,
            _ => return Ok(None),
        }
        let ended = s.end(|x| &x.client_id == id, now, Reason::ClientDeleted, actor, false);
        s.consents.retain(|(_, c), _| c != id);
        s.record(now, Target::Client { client: id.clone() }, Reason::ClientDeleted);
        Ok(Some(ended))
    }
}

#[async_trait]
impl UserRepo for Memory {
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.lock();
        let taken = |u: &User| {
            u.username == user.username
                || (user.phone.is_some() && u.phone == user.phone)
                || (user.email.is_some() && u.email == user.email)
        };
        if s.users.contains_key(&user.id) || s.users.values().any(taken) {
            return Err(StoreError::Conflict);
        }
        s.users.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.values().find(|u| &u.username == username).cloned())
    }

    async fn find(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn find_by_destination(&self, to: &Destination) -> Result<Option<User>, StoreError> {
        let found = self
            .lock()
            .users
            .values()
            .find(|u| match to {
                Destination::Phone(p) => u.phone.as_ref() == Some(p),
                Destination::Email(e) => u.email.as_ref() == Some(e),
            })
            .cloned();
        Ok(found)
    }

    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError> {
        let s = self.lock();
        Ok(s.users.values().filter(|u| after.is_none_or(|a| u.id.as_str() > a)).take(limit as usize).cloned().collect())
    }

    async fn unban(&self, id: &UserId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(u) = s.users.get_mut(id) else { return Ok(false) };
        u.status = UserStatus::Active;
        u.ban_reason = None;
        u.updated_at = now;
        Ok(true)
    }

    async fn cut_off(&self, cut: &CutOff<'_>, clock: &dyn Clock) -> Result<Option<CutOffDone>, StoreError> {
        let mut s = self.lock();
        // Under the one lock, as the SQL store reads the time under the user's row lock.
        let at = clock.now();
        let Some(u) = s.users.get_mut(cut.user) else { return Ok(None) };
        u.updated_at = at;
        match cut.change {
            UserChange::Ban { reason } => {
                u.status = UserStatus::Banned;
                u.ban_reason = Some(reason.to_owned());
            }
            UserChange::Password { hash } => u.password_hash = hash.to_owned(),
            UserChange::Nothing | UserChange::Delete => {}
        }
        match cut.keep {
            None => u.cutoffs.all = Some(at),
            Some(keep) => u.cutoffs.except = Some((at, keep.clone())),
        }
        let (user, keep) = (cut.user.clone(), cut.keep.cloned());
        let sessions_ended =
            s.end(|x| x.user_id == user && keep.as_ref() != Some(&x.id), at, cut.reason, cut.actor, false);
        s.logins.retain(|_, l| l.user_id != user);
        s.record(at, Target::User { user: user.clone(), except: keep }, cut.reason);
        if matches!(cut.change, UserChange::Delete) {
            s.users.remove(&user);
        }
        Ok(Some(CutOffDone { at, sessions_ended }))
    }

    async fn update_profile(
        &self,
        id: &UserId,
        change: &ProfileChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut s = self.lock();
        let taken = |u: &User| {
            &u.id != id
                && (change.username.is_some_and(|n| &u.username == n)
                    || change.phone.flatten().is_some_and(|p| u.phone.as_ref() == Some(p))
                    || change.email.flatten().is_some_and(|e| u.email.as_ref() == Some(e)))
        };
        if s.users.values().any(taken) {
            return Err(StoreError::Conflict);
        }
        let Some(u) = s.users.get_mut(id) else { return Ok(None) };
        if let Some(name) = change.username {
            u.username = name.clone();
        }
        if let Some(display) = change.display_name {
            u.display_name = display.map(str::to_owned);
        }
        if let Some(phone) = change.phone {
            u.phone = phone.cloned();
            u.updated_at = now;
        }
        if let Some(email) = change.email {
            u.email = email.cloned();
            u.updated_at = now;
        }
        Ok(Some(u.clone()))
    }
}

#[async_trait]
impl SessionRepo for Memory {
    async fn create(
        &self,
        session: &DeviceSession,
        first: Option<&NewRefreshToken>,
        authenticated: Authenticated,
    ) -> Result<Opened, StoreError> {
        let mut s = self.lock();
        if !s.admits(&session.user_id, authenticated) {
            return Ok(Opened::Refused);
        }
        s.sessions.insert(session.id.clone(), session.clone());
        if let Some(t) = first {
            s.tokens.push(Token {
                hash: t.token_hash.clone(),
                record: RefreshTokenRecord {
                    id: t.id.clone(),
                    session_id: session.id.to_string(),
                    parent_id: None,
                    issued_at: t.issued_at,
                    used_at: None,
                    superseded_at: None,
                    expires_at: t.expires_at,
                },
            });
        }
        Ok(Opened::Opened)
    }

    async fn find(&self, id: &SessionId) -> Result<Option<DeviceSession>, StoreError> {
        Ok(self.lock().sessions.get(id).cloned())
    }

    async fn find_by_token(&self, token_hash: &SecretHash) -> Result<Option<DeviceSession>, StoreError> {
        let s = self.lock();
        let Some(t) = s.tokens.iter().find(|t| &t.hash == token_hash) else { return Ok(None) };
        Ok(SessionId::parse(&t.record.session_id).ok().and_then(|sid| s.sessions.get(&sid).cloned()))
    }

    async fn rotate(&self, r: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
        let mut s = self.lock();
        let Some(token) = s.tokens.iter().find(|t| &t.hash == r.token_hash).map(|t| t.record.clone()) else {
            return Ok(RotateOutcome::Unknown);
        };
        let Some(session) = SessionId::parse(&token.session_id).ok().and_then(|sid| s.sessions.get(&sid).cloned())
        else {
            return Ok(RotateOutcome::Unknown);
        };
        let user = s.users.get(&session.user_id).cloned();
        let no_cutoffs = Default::default();
        let owner = match &user {
            Some(u) => Owner { status: u.status, cutoffs: &u.cutoffs },
            None => Owner { status: UserStatus::Banned, cutoffs: &no_cutoffs },
        };
        let successor = token.used_at.and_then(|_| {
            s.tokens
                .iter()
                .find(|t| {
                    t.record.parent_id.as_deref() == Some(token.id.as_str())
                        && t.record.used_at.is_none()
                        && t.record.superseded_at.is_none()
                })
                .map(|t| t.record.clone())
        });
        let now = r.now;
        let mut audit = r.audit.clone();
        audit.at = now;
        audit.user_id = Some(session.user_id.to_string());
        audit.actor = Some(session.user_id.to_string());
        audit.client_id = Some(session.client_id.to_string());
        audit.detail = Some(format!("sid={}", session.id));
        match decide(&session, owner, &token, successor.as_ref(), r.by, now, r.grace) {
            Decision::Refuse(refusal) => Ok(RotateOutcome::Refused { session, refusal }),
            Decision::Wait { until } => Ok(RotateOutcome::Wait { until }),
            Decision::Revoke(reason) => {
                audit.kind = match reason {
                    RevokeReason::FingerprintMismatch => AuditKind::FingerprintMismatch,
                    RevokeReason::ReuseDetected => AuditKind::RefreshReuseDetected,
                    RevokeReason::UserBanned | RevokeReason::CutOff => {
                        audit.detail = Some(format!("{} sid={}", reason.as_str(), session.id));
                        AuditKind::SessionRevoked
                    }
                };
                let mut ended = session.clone();
                ended.revoked_at = Some(now);
                ended.revoked_reason = Some(reason.as_str().to_owned());
                s.sessions.insert(ended.id.clone(), ended.clone());
                s.audit.push(audit);
                s.record(
                    now,
                    Target::Session { sid: session.id.clone(), user: session.user_id.clone() },
                    reason.into(),
                );
                Ok(RotateOutcome::Revoked { session: ended, reason })
            }
            Decision::Rotate { supersede } => {
                let retry = supersede.is_some();
                let retired = supersede.unwrap_or_else(|| token.id.clone());
                for t in s.tokens.iter_mut().filter(|t| t.record.id == retired) {
                    if retry {
                        t.record.superseded_at = Some(now);
                    } else {
                        t.record.used_at = Some(now);
                    }
                }
                let expires = slid_expiry(&session, now, r.idle_ttl);
                s.tokens.push(Token {
                    hash: r.new_hash.clone(),
                    record: RefreshTokenRecord {
                        id: r.new_id.clone(),
                        session_id: session.id.to_string(),
                        parent_id: Some(token.id.clone()),
                        issued_at: now,
                        used_at: None,
                        superseded_at: None,
                        expires_at: expires,
                    },
                });
                let mut seen = session.clone();
                seen.last_seen = now;
                seen.idle_expires_at = expires;
                seen.last_ip = r.ip.map(str::to_owned);
                s.sessions.insert(seen.id.clone(), seen.clone());
                audit.kind = AuditKind::Refreshed;
                audit.detail = Some(format!("sid={} {}", session.id, if retry { "retry" } else { "rotated" }));
                s.audit.push(audit);
                Ok(RotateOutcome::Rotated { session: seen, retry })
            }
        }
    }

    async fn end(
        &self,
        which: Ending<'_>,
        now: DateTime<Utc>,
        reason: Reason,
        actor: &str,
        browser_login: bool,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let (ended, user, device) = match which {
            Ending::One { sid, user } => {
                let device = s.sessions.get(sid).filter(|x| &x.user_id == user).map(|x| x.device_id.clone());
                let sid = sid.clone();
                (s.end(|x| x.id == sid && &x.user_id == user, now, reason, actor, true), user.clone(), device)
            }
            Ending::Device { user, device } => {
                let d = device.clone();
                (s.end(|x| &x.user_id == user && x.device_id == d, now, reason, actor, true), user.clone(), Some(d))
            }
        };
        if browser_login && let Some(device) = device {
            s.logins.retain(|_, l| !(l.user_id == user && l.device_id.as_ref() == Some(&device)));
        }
        Ok(ended)
    }

    async fn has_device(&self, user: &UserId, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self.lock().sessions.values().any(|s| &s.user_id == user && &s.device_id == device))
    }

    async fn devices(
        &self,
        user: &UserId,
        after: Option<&str>,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Device>, StoreError> {
        let s = self.lock();
        let mut by_device: BTreeMap<&str, Vec<&DeviceSession>> = BTreeMap::new();
        for x in s.sessions.values().filter(|x| &x.user_id == user) {
            by_device.entry(x.device_id.as_str()).or_default().push(x);
        }
        Ok(by_device
            .into_iter()
            .filter(|(id, _)| after.is_none_or(|a| *id > a))
            .take(limit as usize)
            .filter_map(|(id, sessions)| {
                let latest = sessions.iter().max_by_key(|x| x.last_seen)?;
                Some(Device {
                    device_id: id.to_owned(),
                    browser: latest.browser.clone(),
                    os: latest.os.clone(),
                    device: latest.device.clone(),
                    last_ip: latest.last_ip.clone(),
                    first_seen: sessions.iter().map(|x| x.first_seen).min()?,
                    last_seen: latest.last_seen,
                    active: sessions.iter().any(|x| x.is_active(now)),
                })
            })
            .collect())
    }
}

#[async_trait]
impl AuthCodeRepo for Memory {
    async fn insert(&self, code: &AuthCode) -> Result<(), StoreError> {
        let c = Code { code: code.clone(), used: false, replayed: false, session: None };
        self.lock().codes.insert(code.code_hash.clone(), c);
        Ok(())
    }

    async fn redeem(&self, code_hash: &SecretHash, _now: DateTime<Utc>) -> Result<Redemption, StoreError> {
        let mut s = self.lock();
        let Some(c) = s.codes.get_mut(code_hash) else { return Ok(Redemption::Unknown) };
        if !c.used {
            c.used = true;
            return Ok(Redemption::Redeemed(c.code.clone()));
        }
        c.replayed = true;
        Ok(Redemption::Replayed { user_id: c.code.user_id.clone(), session: c.session.clone() })
    }

    async fn attach_session(&self, code_hash: &SecretHash, session: &SessionId) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(c) = s.codes.get_mut(code_hash) else { return Ok(false) };
        c.session = Some(session.clone());
        Ok(c.replayed)
    }
}

#[async_trait]
impl ConsentRepo for Memory {
    async fn find(&self, user: &UserId, client: &ClientId) -> Result<Option<Consent>, StoreError> {
        Ok(self.lock().consents.get(&(user.clone(), client.clone())).cloned())
    }

    async fn save(&self, consent: &Consent) -> Result<(), StoreError> {
        self.lock().consents.insert((consent.user_id.clone(), consent.client_id.clone()), consent.clone());
        Ok(())
    }

    async fn list(&self, user: &UserId, limit: u64) -> Result<Vec<Consent>, StoreError> {
        Ok(self.lock().consents.values().filter(|c| &c.user_id == user).take(limit as usize).cloned().collect())
    }

    async fn withdraw(
        &self,
        user: &UserId,
        client: &ClientId,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut s = self.lock();
        if s.consents.remove(&(user.clone(), client.clone())).is_none() {
            return Ok(None);
        }
        Ok(Some(s.end(|x| &x.user_id == user && &x.client_id == client, now, Reason::ConsentWithdrawn, actor, true)))
    }
}

#[async_trait]
impl LoginSessionRepo for Memory {
    async fn insert(&self, login: &LoginSession, authenticated: Authenticated) -> Result<Opened, StoreError> {
        let mut s = self.lock();
        if !s.admits(&login.user_id, authenticated) {
            return Ok(Opened::Refused);
        }
        s.logins.insert(login.secret_hash.clone(), login.clone());
        Ok(Opened::Opened)
    }

    async fn find(
        &self,
        secret_hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError> {
        let s = self.lock();
        Ok(s.logins.get(secret_hash).filter(|l| l.expires_at > now).map(|l| (l.user_id.clone(), l.created_at)))
    }

    async fn live(&self, user: &UserId, now: DateTime<Utc>, limit: u64) -> Result<Vec<LoginSession>, StoreError> {
        let s = self.lock();
        let mut live: Vec<LoginSession> =
            s.logins.values().filter(|l| &l.user_id == user && l.expires_at > now).cloned().collect();
        live.sort_by_key(|l| std::cmp::Reverse(l.created_at));
        live.truncate(limit as usize);
        Ok(live)
    }

    async fn end(&self, secret_hash: &SecretHash) -> Result<bool, StoreError> {
        Ok(self.lock().logins.remove(secret_hash).is_some())
    }
}

#[async_trait]
impl SigningKeyRepo for Memory {
    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut keys = self.lock().keys.clone();
        keys.sort_by_key(|k| k.active_from);
        Ok(keys)
    }

    async fn insert(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        self.lock().keys.push(key.clone());
        Ok(())
    }
}

#[async_trait]
impl AuditLog for Memory {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.lock().audit.push(event);
        Ok(())
    }

    async fn list(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
        let s = self.lock();
        Ok(s.audit
            .iter()
            .enumerate()
            .map(|(i, e)| (i as i64 + 1, e))
            .rev()
            .filter(|(id, e)| {
                before.is_none_or(|b| *id < b)
                    && filter.user_id.as_ref().is_none_or(|u| e.user_id.as_ref() == Some(u))
                    && filter.client_id.as_ref().is_none_or(|c| e.client_id.as_ref() == Some(c))
                    && filter.kind.as_ref().is_none_or(|k| e.kind.as_str() == k)
            })
            .take(limit as usize)
            .map(|(id, e)| (id, e.clone()))
            .collect())
    }
}

#[async_trait]
impl AttemptCounter for Memory {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u32, u64), StoreError> {
        let now = self.clock.now();
        let mut s = self.lock();
        let entry = s.attempts.entry(key.to_owned()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok((entry.0, (entry.1 - now).num_seconds().max(1) as u64))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.lock().attempts.remove(key);
        Ok(())
    }
}

#[async_trait]
impl RevocationLog for Memory {
    async fn append(&self, revocation: &NewRevocation) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if let Target::Token { jti } = &revocation.target
            && s.revocations.iter().any(|r| matches!(&r.target, Target::Token { jti: j } if j == jti))
        {
            return Ok(false);
        }
        s.record(revocation.at, revocation.target.clone(), revocation.reason);
        Ok(true)
    }

    async fn after(&self, after: i64, limit: u64) -> Result<Vec<Revocation>, StoreError> {
        Ok(self.lock().revocations.iter().filter(|r| r.id > after).take(limit as usize).cloned().collect())
    }

    async fn since(&self, since: DateTime<Utc>, limit: u64) -> Result<Vec<Revocation>, StoreError> {
        Ok(self.lock().revocations.iter().filter(|r| r.at >= since).take(limit as usize).cloned().collect())
    }

    async fn since_after(
        &self,
        since: DateTime<Utc>,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let s = self.lock();
        Ok(s.revocations.iter().filter(|r| r.id > after_id && r.at >= since).take(limit as usize).cloned().collect())
    }

    async fn last_id(&self) -> Result<i64, StoreError> {
        Ok(self.lock().revocations.last().map_or(0, |r| r.id))
    }

    async fn revokes(&self, token: &TokenRef<'_>, since: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut set = RevocationSet::new();
        for r in self.lock().revocations.iter().filter(|r| r.at >= since) {
            set.add(portcullis_revocation::wire::target(r), i64::MAX);
        }
        Ok(set.is_revoked(token))
    }
}

#[async_trait]
impl OtpRepo for Memory {
    async fn put_code(&self, code: NewCode<'_>) -> Result<(), StoreError> {
        let stored = StoredCode {
            client_id: code.client_id.to_owned(),
            expires_at: code.expires_at,
            attempts: 0,
            used_at: None,
        };
        let key = (code.destination.to_owned(), code.client_id.to_owned());
        self.lock().otp_codes.insert(key, (stored, code.hash.clone()));
        Ok(())
    }

    async fn try_code(
        &self,
        destination: &str,
        client_id: &str,
    ) -> Result<Option<(StoredCode, SecretHash)>, StoreError> {
        let mut s = self.lock();
        Ok(s.otp_codes.get_mut(&(destination.to_owned(), client_id.to_owned())).map(|(code, hash)| {
            code.attempts += 1;
            (code.clone(), hash.clone())
        }))
    }

    async fn use_code(
        &self,
        destination: &str,
        client_id: &str,
        hash: &SecretHash,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.otp_codes.get_mut(&(destination.to_owned(), client_id.to_owned())) {
            Some((code, h))
                if h == hash && code.used_at.is_none() && code.expires_at > now && code.attempts <= max_attempts =>
            {
                code.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
