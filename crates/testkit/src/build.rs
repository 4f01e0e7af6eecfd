//! Builders with sensible defaults: a user, a client, a device session.

use chrono::{DateTime, Duration, Utc};
use portcullis_domain::client::Client;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId, Username};
use portcullis_domain::secret::SecretHash;
use portcullis_domain::session::DeviceSession;
use portcullis_domain::user::{Cutoffs, User, UserStatus};

/// An active user named `name` whose password hash is `password_hash`, created at `at`.
pub fn user(name: &str, password_hash: &str, at: DateTime<Utc>) -> User {
    User {
        id: UserId::generate(),
        username: Username::parse(name).expect("a valid username"),
        password_hash: password_hash.to_owned(),
        phone: None,
        email: None,
        status: UserStatus::Active,
        display_name: None,
        ban_reason: None,
        cutoffs: Cutoffs::default(),
        created_at: at,
        updated_at: at,
    }
}

/// A client with `grants` and `scope`; confidential (its secret stored as `secret_hash`) or
/// public (`None`).
pub fn client(grants: &[GrantType], scope: &str, secret_hash: Option<SecretHash>, at: DateTime<Utc>) -> Client {
    Client {
        id: ClientId::generate(),
        name: "Test client".into(),
        secret_hash,
        grants: grants.to_vec(),
        scope: scope.parse().expect("a valid scope"),
        redirect_uris: Vec::new(),
        resource_server: false,
        otp_signup: false,
        signup: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        created_at: at,
    }
}

/// A live device session of `user` with `client` on `device`, opened at `at`, with the
/// default lifetimes (14 days idle, 90 days absolute).
pub fn session(user: &UserId, client: &ClientId, device: &str, fingerprint: &str, at: DateTime<Utc>) -> DeviceSession {
    DeviceSession {
        id: SessionId::generate(),
        user_id: user.clone(),
        client_id: client.clone(),
        device_id: DeviceId::parse(device).expect("a valid device id"),
        fingerprint: fingerprint.to_owned(),
        browser: "Other".into(),
        os: "Other".into(),
        device: "Other".into(),
        scope: String::new(),
        last_ip: None,
        first_seen: at,
        last_seen: at,
        auth_time: Some(at),
        idle_expires_at: at + Duration::days(14),
        absolute_expires_at: at + Duration::days(90),
        revoked_at: None,
        revoked_reason: None,
    }
}
