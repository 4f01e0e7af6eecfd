//! The directory: users, clients, devices and the audit trail, as the admin API, self-service
//! and the CLI read them, and the two operations that add records (each with its audit row).
//! It holds the ports, so no caller needs the raw store; nothing here ends a session.

use std::sync::Arc;

use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::client::{Client, ClientSpec};
use portcullis_domain::clock::Clock;
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{ClientId, SessionId, UserId, Username};
use portcullis_domain::otp::{Destination, Email, Phone};
use portcullis_domain::password::check_policy;
use portcullis_domain::ports::{
    AuditFilter, AuditLog, Avatar, AvatarRepo, ClientRepo, ProfileChange, SessionRepo, StoreError, UserRepo,
};
use portcullis_domain::secret::{Secret, SecretHasher};
use portcullis_domain::session::DeviceSession;
use portcullis_domain::user::{Cutoffs, User, UserStatus};
use portcullis_oauth::PasswordVerifier;
use portcullis_proto::DeviceList;

use super::{CLIENT_SECRET_PREFIX, OpError, record};

/// What a directory is built from.
pub struct DirectoryParts {
    pub users: Arc<dyn UserRepo>,
    pub avatars: Arc<dyn AvatarRepo>,
    /// The cached client port: a client created here is seen by the next grant on this node.
    pub clients: Arc<dyn ClientRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub audit: Arc<dyn AuditLog>,
    pub hasher: SecretHasher,
    pub passwords: PasswordVerifier,
    pub clock: Arc<dyn Clock>,
}

/// See the module documentation.
pub struct Directory {
    parts: DirectoryParts,
    /// Avatar decodes running at once (`ops::avatar::decoders`).
    decoders: Arc<tokio::sync::Semaphore>,
    /// The advertised scopes and when they were read (discovery is fetched often; clients
    /// change rarely).
    scopes: std::sync::Mutex<Option<(chrono::DateTime<chrono::Utc>, Vec<String>)>>,
    /// Held by the one request reading the scopes afresh.
    refreshing: tokio::sync::Mutex<()>,
}

/// How long the advertised scopes are served from memory.
const SCOPES_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// A user to create: a username, and a password, a phone or an email (or several).
#[derive(Debug, Default)]
pub struct NewUser {
    pub username: String,
    pub password: Option<Secret>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// Profile fields to change, as given (checked by [`Directory::update_profile`]): `None`
/// leaves a field, `Some(None)` clears an optional one.
#[derive(Debug, Default)]
pub struct ProfileEdit {
    pub username: Option<String>,
    pub display_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
}

/// A registered client and its secret, shown once.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<Secret>,
}

/// One page of a listing, and the cursor of the next when there is one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl Directory {
    pub fn new(parts: DirectoryParts) -> Self {
        Self {
            parts,
            decoders: super::avatar::decoders(),
            scopes: std::sync::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The scopes registered clients may ask for, for the discovery metadata (at most 10 s
    /// old: `SCOPES_TTL`). One request at a time reads them afresh while the others keep the
    /// list they have; if the database cannot be read the last list is served (discovery must
    /// not fail a resource server's start because the database blinked).
    pub async fn advertised_scopes(&self) -> Vec<String> {
        let fresh = |at: &chrono::DateTime<chrono::Utc>| self.parts.clock.now() - *at < SCOPES_TTL;
        let cached = self.scopes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((at, scopes)) = &cached
            && fresh(at)
        {
            return scopes.clone();
        }
        let _refreshing = match (self.refreshing.try_lock(), &cached) {
            (Ok(guard), _) => guard,
            (Err(_), Some((_, scopes))) => return scopes.clone(),
            (Err(_), None) => self.refreshing.lock().await,
        };
        if let Some((at, scopes)) = &*self.scopes.lock().unwrap_or_else(|e| e.into_inner())
            && fresh(at)
        {
            return scopes.clone();
        }
        let scopes = match self.parts.clients.scopes().await {
            Ok(scopes) => scopes.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %portcullis_domain::error::Chain(&e), "cannot read the clients' scopes for the discovery metadata; serving the last list");
                cached.map(|(_, scopes)| scopes).unwrap_or_default()
            }
        };
        // Also after a failure: the next attempt comes a TTL later, not with every request.
        *self.scopes.lock().unwrap_or_else(|e| e.into_inner()) = Some((self.parts.clock.now(), scopes.clone()));
        scopes
    }

    /// Every browser origin some live client allows (CORS).
    pub async fn allowed_origins(&self) -> Result<std::collections::BTreeSet<String>, OpError> {
        Ok(self.parts.clients.allowed_origins().await?)
    }

    /// Registers a client; its secret (for a confidential client) is returned once and stored
    /// only as a hash.
    pub async fn create_client(&self, spec: ClientSpec, actor: &str) -> Result<CreatedClient, OpError> {
        let p = &self.parts;
        let secret = (!spec.public).then(|| Secret::generate(CLIENT_SECRET_PREFIX));
        let client = Client {
            id: ClientId::generate(),
            name: spec.name,
            secret_hash: secret.as_ref().map(|s| p.hasher.hash(s.expose())),
            grants: spec.grants,
            scope: spec.scope,
            redirect_uris: spec.redirect_uris,
            resource_server: spec.resource_server,
            otp_signup: spec.otp_signup,
            signup: spec.signup,
            allowed_origins: spec.allowed_origins,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            created_at: p.clock.now(),
        };
        p.clients.insert(&client).await.map_err(|e| match e {
            StoreError::Conflict => OpError::Conflict("client"),
            e => OpError::Store(e),
        })?;
        let mut event = AuditEvent::new(client.created_at, AuditKind::ClientCreated);
        event.actor = Some(actor.to_owned());
        event.client_id = Some(client.id.to_string());
        record(p.audit.as_ref(), event).await;
        Ok(CreatedClient { client, secret })
    }

    /// Creates an active user after checking the username, the phone and email (where given)
    /// and the password policy. A password is optional when a phone or an email is given (the
    /// user signs in by code).
    pub async fn create_user(&self, new: NewUser, actor: &str) -> Result<User, OpError> {
        let p = &self.parts;
        let invalid = |e: portcullis_domain::ids::InvalidId| OpError::Invalid(e.to_string());
        let username = Username::parse(&new.username).map_err(invalid)?;
        let phone = new.phone.as_deref().map(Phone::parse).transpose().map_err(invalid)?;
        let email = new.email.as_deref().map(Email::parse).transpose().map_err(invalid)?;
        let password_hash = match new.password {
            Some(password) => {
                check_policy(password.expose()).map_err(|e| OpError::Invalid(e.to_string()))?;
                p.passwords
                    .hash(password)
                    .await
                    .map_err(|e| OpError::Internal(Cause::context("hashing a new user's password", e)))?
            }
            None if phone.is_some() || email.is_some() => String::new(),
            None => return Err(OpError::Invalid("a password is required unless a phone or email is given".into())),
        };
        for (taken, what) in [
            (phone.clone().map(Destination::Phone), "a user with this phone"),
            (email.clone().map(Destination::Email), "a user with this email"),
        ] {
            if let Some(to) = taken
                && p.users.find_by_destination(&to).await?.is_some()
            {
                return Err(OpError::Conflict(what));
            }
        }
        let now = p.clock.now();
        let user = User {
            id: UserId::generate(),
            username,
            password_hash,
            phone,
            email,
            status: UserStatus::Active,
            display_name: None,
            ban_reason: None,
            cutoffs: Cutoffs::default(),
            created_at: now,
            updated_at: now,
        };
        p.users.insert(&user).await.map_err(|e| match e {
            StoreError::Conflict => OpError::Conflict("a user with this username, phone or email"),
            e => OpError::Store(e),
        })?;
        let mut event = AuditEvent::new(user.created_at, AuditKind::UserCreated);
        event.actor = Some(actor.to_owned());
        event.user_id = Some(user.id.to_string());
        record(p.audit.as_ref(), event).await;
        Ok(user)
    }

    /// Changes a user's profile (the user's own `PATCH /me`, an admin's `PATCH /admin/users/…`,
    /// a verified new phone or email), audited `profile_updated` with the fields by `actor`.
    /// `Conflict` when the username, phone or email is someone else's.
    pub async fn update_profile(&self, id: &UserId, edit: ProfileEdit, actor: &str) -> Result<User, OpError> {
        let p = &self.parts;
        // An unknown user is 404 whatever the fields say.
        self.user(id).await?;
        let invalid = |e: portcullis_domain::ids::InvalidId| OpError::Invalid(e.to_string());
        let username = edit.username.as_deref().map(Username::parse).transpose().map_err(invalid)?;
        let display = match &edit.display_name {
            Some(Some(raw)) => Some(portcullis_domain::user::display_name(raw).map_err(invalid)?),
            Some(None) => Some(None),
            None => None,
        };
        let phone = match &edit.phone {
            Some(Some(raw)) => Some(Some(Phone::parse(raw).map_err(invalid)?)),
            Some(None) => Some(None),
            None => None,
        };
        let email = match &edit.email {
            Some(Some(raw)) => Some(Some(Email::parse(raw).map_err(invalid)?)),
            Some(None) => Some(None),
            None => None,
        };
        let change = ProfileChange {
            username: username.as_ref(),
            display_name: display.as_ref().map(|d| d.as_deref()),
            phone: phone.as_ref().map(Option::as_ref),
            email: email.as_ref().map(Option::as_ref),
        };
        let user = p
            .users
            .update_profile(id, &change, p.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict => OpError::Conflict("a user with this username, phone or email"),
                e => OpError::Store(e),
            })?
            .ok_or(OpError::NotFound("user"))?;
        if !change.is_empty() {
            let mut event = AuditEvent::new(p.clock.now(), AuditKind::ProfileUpdated);
            event.actor = Some(actor.to_owned());
            event.user_id = Some(id.to_string());
            event.detail = Some(change.fields());
            record(p.audit.as_ref(), event).await;
        }
        Ok(user)
    }

    /// Sets a user's avatar from an upload in `format`: decoded and re-encoded off the runtime
    /// (`ops::avatar`), audited `avatar_changed`. `Invalid` for bytes that are not that image.
    pub async fn set_avatar(
        &self,
        id: &UserId,
        bytes: axum::body::Bytes,
        format: image::ImageFormat,
        actor: &str,
    ) -> Result<Avatar, OpError> {
        let p = &self.parts;
        let now = p.clock.now();
        let Ok(_decoding) = self.decoders.clone().try_acquire_owned() else {
            return Err(OpError::Busy("too many avatars are being processed; retry shortly"));
        };
        let avatar = tokio::task::spawn_blocking(move || super::avatar::reencode(&bytes, format, now))
            .await
            .map_err(|e| OpError::Internal(Cause::context("re-encoding an avatar", e)))?
            .map_err(|e| match e {
                super::avatar::AvatarError::Encode(m) => OpError::Internal(Cause::msg(m)),
                e => OpError::Invalid(e.to_string()),
            })?;
        if !p.avatars.put_avatar(id, &avatar).await? {
            return Err(OpError::NotFound("user"));
        }
        self.audit_avatar(id, actor, "set").await;
        Ok(avatar)
    }

    /// Removes a user's avatar; false when there was none.
    pub async fn delete_avatar(&self, id: &UserId, actor: &str) -> Result<bool, OpError> {
        let removed = self.parts.avatars.delete_avatar(id).await?;
        if removed {
            self.audit_avatar(id, actor, "removed").await;
        }
        Ok(removed)
    }

    async fn audit_avatar(&self, id: &UserId, actor: &str, what: &str) {
        let mut event = AuditEvent::new(self.parts.clock.now(), AuditKind::AvatarChanged);
        event.actor = Some(actor.to_owned());
        event.user_id = Some(id.to_string());
        event.detail = Some(what.to_owned());
        record(self.parts.audit.as_ref(), event).await;
    }

    /// The user's avatar, bytes and all.
    pub async fn avatar(&self, id: &UserId) -> Result<Option<Avatar>, OpError> {
        Ok(self.parts.avatars.avatar(id).await?)
    }

    /// The user's avatar URL path (`/avatars/{id}?v=…`, the version from its ETag), if any.
    pub async fn avatar_path(&self, id: &UserId) -> Result<Option<String>, OpError> {
        let etag = self.parts.avatars.avatar_etag(id).await?;
        Ok(etag.map(|e| avatar_path_of(id, &e)))
    }

    /// The user, or `NotFound`.
    pub async fn user(&self, id: &UserId) -> Result<User, OpError> {
        self.parts.users.find(id).await?.ok_or(OpError::NotFound("user"))
    }

    /// The user with `username`.
    pub async fn user_named(&self, username: &Username) -> Result<User, OpError> {
        self.parts.users.find_by_username(username).await?.ok_or(OpError::NotFound("user"))
    }

    /// The client with `id`.
    pub async fn client(&self, id: &ClientId) -> Result<Client, OpError> {
        self.parts.clients.find(id).await?.ok_or(OpError::NotFound("client"))
    }

    /// The device session, if it still exists.
    pub async fn session(&self, id: &SessionId) -> Result<Option<DeviceSession>, OpError> {
        Ok(self.parts.sessions.find(id).await?)
    }

    /// Users in creation order, after `cursor` (a user id).
    pub async fn users(&self, cursor: Option<&str>, limit: usize) -> Result<Page<User>, OpError> {
        let users = self.parts.users.list(cursor, limit as u64 + 1).await?;
        Ok(page(users, limit, |u| u.id.to_string()))
    }

    /// Clients in creation order, after `cursor` (a client id).
    pub async fn clients(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Client>, OpError> {
        let clients = self.parts.clients.list(cursor, limit as u64 + 1).await?;
        Ok(page(clients, limit, |c| c.id.to_string()))
    }

    /// Security events matching `filter`, newest first, with ids below `before`.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Page<(i64, AuditEvent)>, OpError> {
        let rows = self.parts.audit.list(filter, before, limit as u64 + 1).await?;
        Ok(page(rows, limit, |(id, _)| id.to_string()))
    }

    /// The user's devices after `cursor` (a device id), each summarised over all of its
    /// sessions however many there are.
    pub async fn devices(&self, user: &UserId, cursor: Option<&str>, limit: usize) -> Result<DeviceList, OpError> {
        Ok(super::devices::list(self.parts.sessions.as_ref(), self.parts.clock.as_ref(), user, cursor, limit).await?)
    }
}

/// `/avatars/{id}?v=…`: the version is the ETag's first 16 hex digits, so a new image is a new URL.
pub fn avatar_path_of(id: &UserId, etag: &str) -> String {
    format!("/avatars/{id}?v={}", etag.trim_matches('"').get(..16).unwrap_or_default())
}

fn page<T>(rows: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Page<T> {
    let (items, next_cursor) = super::cut(rows, limit, cursor);
    Page { items, next_cursor }
}
