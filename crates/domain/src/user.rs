//! Users: the resource owners who log in.

use chrono::{DateTime, Utc};

use crate::ids::{UserId, Username};

/// Whether a user may get tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Banned,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Banned => "banned",
        }
    }

    /// Parses a stored status; anything unknown counts as banned (fail closed).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            _ => Self::Banned,
        }
    }
}

/// A stored user. `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub password_hash: String,
    pub status: UserStatus,
    pub ban_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
