//! User administration and self-service bodies.

use serde::{Deserialize, Serialize};

/// A user as admins see it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub user_id: String,
    pub username: String,
    /// `active` or `banned`.
    pub status: String,
    pub ban_reason: Option<String>,
    /// E.164, where one-time codes go by SMS.
    pub phone: Option<String>,
    /// Normalised (lower-case), where one-time codes go by email.
    pub email: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserView>,
    pub next_cursor: Option<String>,
}

/// `POST /admin/users`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    /// 1 to 64 characters, no control characters, no surrounding spaces.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
        )
    )]
    pub username: String,
    /// 8 to 1024 characters; optional when `phone` or `email` is given (the user signs in by
    /// code).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
    /// E.164 (`+8613800138000`); unique among users.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 32, pattern = "^\\+[0-9 ().-]+$"))]
    pub phone: Option<String>,
    /// Unique among users, compared lower-cased.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254, format = Email))]
    pub email: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser").field("username", &self.username).finish_non_exhaustive()
    }
}

/// `POST /admin/users/{id}/ban`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanRequest {
    /// Shown to admins; 1 to 500 characters, not only white space.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500, pattern = "\\S"))]
    pub reason: String,
}

/// `POST /me/password`. `Debug` hides both passwords.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub current_password: String,
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange(<redacted>)")
    }
}
