//! Verification of Portcullis access tokens: RS256 pinned, `typ`, `kid`, `iss`, `aud`,
//! `exp` and `nbf`. Used wherever the server accepts its own tokens.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use portcullis_proto::{ACCESS_TOKEN_TYP, AccessTokenClaims};

use crate::keyring::KeyRing;

/// Longest token accepted; ours are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Allowed clock difference when checking `nbf`, in seconds. Protects against small
/// skew between the nodes that mint and those that check.
pub const CLOCK_LEEWAY_SECS: i64 = 30;

/// Why a token was refused. The text is safe to show a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not an RS256 at+jwt access token")]
    WrongType,
    #[error("the token was not signed by a current key")]
    UnknownKey,
    #[error("the token signature or claims are invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

pub fn verify_access_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<AccessTokenClaims, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    // The algorithm is pinned by us, never chosen by the token: `none`, HS256 and the rest fail.
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(VerifyError::WrongType);
    }
    let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
    let key = ring.find(&kid).ok_or(VerifyError::UnknownKey)?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.algorithms = vec![Algorithm::RS256];
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    // Time is checked below against our clock, not the library's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, &validation)
        .map_err(|_| VerifyError::Invalid)?
        .claims;
    let now = now.timestamp();
    if now >= claims.exp {
        return Err(VerifyError::Expired);
    }
    if now + CLOCK_LEEWAY_SECS < claims.nbf {
        return Err(VerifyError::NotYetValid);
    }
    Ok(claims)
}
