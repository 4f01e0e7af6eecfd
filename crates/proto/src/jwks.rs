//! RFC 7517 JSON Web Keys, restricted to what Portcullis publishes: RSA signing keys.

use serde::{Deserialize, Serialize};

/// One public RSA signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// RFC 7638 thumbprint of the key.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Always `RS256`: the one algorithm this key may be used with.
    pub alg: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

impl Jwk {
    /// An RS256 signing key from its base64url modulus and exponent.
    pub fn rs256(kid: String, n: String, e: String) -> Self {
        Self { kty: "RSA".into(), kid, use_: "sig".into(), alg: "RS256".into(), n, e }
    }
}

/// A JWK Set document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}
