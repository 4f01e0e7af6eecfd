//! OpenID Connect wire types: the ID token's claims, the UserInfo answer and the provider's
//! discovery document (OpenID Connect Core 1.0 §2, §5.1, §5.3; Discovery 1.0 §3).

use serde::{Deserialize, Serialize};

use crate::ServerMetadata;

/// The JOSE `typ` header of every ID token (an ID token is a plain JWT, not an `at+jwt`).
pub const ID_TOKEN_TYP: &str = "JWT";

/// The scope that asks for an ID token (OpenID Connect Core §3.1.2.1).
pub const OPENID_SCOPE: &str = "openid";

/// The standard claims a user's scopes grant (Core §5.1, §5.4): `profile` gives `name`,
/// `preferred_username` and `updated_at` (and `picture` in UserInfo), `email` gives `email`,
/// `phone` gives `phone_number`. A claim the user has no value for is left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The avatar's URL (`GET /avatars/{user_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// When the profile last changed, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164, as OpenID Connect recommends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// Claims of a Portcullis ID token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The client the token is for.
    pub aud: String,
    /// The authorized party: the same client.
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    /// When the user last proved who they are (a password, a one-time code).
    pub auth_time: i64,
    /// The authorization request's `nonce`, unchanged (only from the code flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The device session, as in the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// base64url of the left half of SHA-256 of the access token issued with it (Core §3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// The UserInfo answer (Core §5.3.2): `sub` and the claims the token's scopes grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub sub: String,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// `GET /.well-known/openid-configuration`: the RFC 8414 document and the OpenID fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderMetadata {
    #[serde(flatten)]
    pub oauth: ServerMetadata,
    pub userinfo_endpoint: String,
    /// RP-initiated logout, once served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_claims_are_left_out() {
        let info = UserInfo {
            sub: "u".into(),
            profile: ProfileClaims { preferred_username: Some("alice".into()), ..Default::default() },
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v, serde_json::json!({"sub": "u", "preferred_username": "alice"}));
    }
}
