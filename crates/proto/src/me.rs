//! Self-service responses.

use serde::{Deserialize, Serialize};

/// `GET /me`: who the token speaks for, and from which device session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: String,
    pub username: String,
    pub client_id: String,
    pub scope: String,
    pub sid: String,
    pub device_id: String,
    /// How the user is shown; null when unset.
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    /// `GET /avatars/{user_id}?v=…` (the version changes with the image); null when unset.
    pub avatar_url: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// `PATCH /me`: the fields to change; absent ones stay.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 64 characters, no control characters, no surrounding spaces; unique (409
    /// `conflict` when taken).
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
    /// At most 100 characters, no control characters; `null` or blank clears it.
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, nullable, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")
    )]
    pub display_name: Option<Option<String>>,
    /// Required with `username` when the user has a password (a new name is who the account
    /// answers to); a user without one must have signed in within the last 10 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub current_password: Option<String>,
}

/// `POST /me/contact`: a new phone or email, which gets a code; exactly one of the two.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactChange {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: Option<String>,
    /// Required when the user has a password: a new phone or email can sign in and reset the
    /// password, so a token alone may not set one. A user without a password must have signed
    /// in within the last 10 minutes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub current_password: Option<String>,
}

/// `POST /me/contact/verify`: the destination again, and the code it received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactVerify {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 16))]
    pub code: String,
}

/// `PUT /me/avatar`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AvatarSet {
    pub avatar_url: String,
}

/// `GET /me/consents`: one client the user has allowed, and for which scopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentView {
    pub client_id: String,
    pub scope: String,
    /// RFC 3339.
    pub granted_at: String,
}

/// `GET /me/consents`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentList {
    pub consents: Vec<ConsentView>,
}

impl std::fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileUpdate")
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ContactChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactChange").field("phone", &self.phone).field("email", &self.email).finish_non_exhaustive()
    }
}
