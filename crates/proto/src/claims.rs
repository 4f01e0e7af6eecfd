//! RFC 9068 JWT access-token claims, as Portcullis issues them.

use serde::{Deserialize, Serialize};

/// The JOSE `typ` header of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of a Portcullis access token.
///
/// `sid` and `dfp` are present on user tokens only; a client-credentials token has
/// `sub == client_id` and neither.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scopes, as in RFC 6749 §3.3.
    pub scope: String,
    /// The device session the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// base64url(SHA-256(device fingerprint)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dfp: Option<String>,
}

impl AccessTokenClaims {
    /// True when the token carries `scope` among its space-separated scopes.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_token_omits_session_claims() {
        let c = AccessTokenClaims {
            iss: "http://i".into(),
            sub: "c".into(),
            aud: "api".into(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "a admin".into(),
            sid: None,
            dfp: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("sid").is_none() && v.get("dfp").is_none());
        assert!(c.has_scope("admin"));
        assert!(!c.has_scope("adm"));
    }
}
