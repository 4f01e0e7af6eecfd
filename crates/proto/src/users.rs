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
    pub display_name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// `PATCH /admin/users/{user_id}`: the fields to change; absent ones stay, `null` clears an
/// optional one. An admin sets a phone or email directly (no code).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
        )
    )]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, nullable, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")
    )]
    pub display_name: Option<Option<String>>,
    /// E.164; `null` removes it.
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, nullable, max_length = 32, pattern = "^\\+[0-9 ().-]+$")
    )]
    pub phone: Option<Option<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable, max_length = 254, format = Email))]
    pub email: Option<Option<String>>,
}

/// `POST /admin/users/{user_id}/password`. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
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

/// `POST /signup`: the client as at the token endpoint (HTTP Basic, or `client_id` and
/// `client_secret` here). `Debug` hides the password and the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// 1 to 64 characters, no control characters, no surrounding spaces; unique.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
        )
    )]
    pub username: String,
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: String,
    /// Sent a code to confirm (`POST /me/contact/verify`); not set until then.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254, format = Email))]
    pub email: Option<String>,
    /// E.164; sent a code to confirm, as `email`. At most one of the two.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 32, pattern = "^\\+[0-9 ().-]+$"))]
    pub phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub client_id: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for SignupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupRequest").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The answer to `POST /signup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupResponse {
    pub user_id: String,
    /// `sms` or `email` when a code to confirm the given contact was sent; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_sent: Option<String>,
}
