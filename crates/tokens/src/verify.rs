//! Verification of Portcullis access tokens wherever the server accepts its own: the rules of
//! `portcullis_proto::validation` (the same the guard crate applies), with the signature
//! checked by the key ring's pre-parsed keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::Algorithm;
use portcullis_proto::validation::{self, Rejection};
use portcullis_proto::{AccessTokenClaims, ID_TOKEN_TYP, IdTokenClaims};

use crate::keyring::KeyRing;

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

impl From<Rejection> for VerifyError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Malformed | Rejection::TooLarge => Self::Malformed,
            Rejection::Algorithm | Rejection::Type => Self::WrongType,
            Rejection::MissingKeyId => Self::UnknownKey,
            Rejection::Issuer | Rejection::Audience => Self::Invalid,
            Rejection::Expired => Self::Expired,
            Rejection::NotYetValid => Self::NotYetValid,
        }
    }
}

/// Checks `token`: its shape and header (`validation::check_header`: RS256 pinned, `at+jwt`, no
/// `crit`), its signature under the published key of its `kid`, then its claims
/// (`validation::check_claims`) at `now`.
pub fn verify_access_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<AccessTokenClaims, VerifyError> {
    let payload = signed_payload(ring, token, |header| Ok(validation::check_header(header)?))?;
    Ok(validation::check_claims(&payload, issuer, audience, now.timestamp())?)
}

/// Checks an `id_token_hint` (OpenID Connect Core §3.1.2.1): an ID token this issuer signed
/// with a published key, RS256 pinned, `typ` `JWT` (never an access token). Its expiry is not
/// checked: a hint names whom the client believes is signed in, and may be old.
pub fn verify_id_token_hint(ring: &KeyRing, token: &str, issuer: &str) -> Result<IdTokenClaims, VerifyError> {
    let payload = signed_payload(ring, token, |header| {
        let header: validation::JoseHeader<'_> = serde_json::from_slice(header).map_err(|_| VerifyError::Malformed)?;
        if header.alg != "RS256" || header.typ.as_deref() != Some(ID_TOKEN_TYP) || header.crit.is_some() {
            return Err(VerifyError::WrongType);
        }
        header.kid.map(|kid| kid.into_owned()).ok_or(VerifyError::UnknownKey)
    })?;
    let claims: IdTokenClaims = serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
    if claims.iss != issuer {
        return Err(VerifyError::Invalid);
    }
    Ok(claims)
}

/// The payload of a compact JWS (bounded, three parts) whose header `check_header` accepts —
/// returning its `kid` — and whose signature verifies under that published key with RS256: the
/// algorithm is ours, never the token's.
fn signed_payload(
    ring: &KeyRing,
    token: &str,
    check_header: impl FnOnce(&[u8]) -> Result<String, VerifyError>,
) -> Result<Vec<u8>, VerifyError> {
    let (header, payload, signature, signing_input) = validation::split(token)?;
    let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| VerifyError::Malformed)?;
    let kid = check_header(&header)?;
    let key = ring.find(&kid).ok_or(VerifyError::UnknownKey)?;
    let signed = jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key.decoding, Algorithm::RS256)
        .unwrap_or(false);
    if !signed {
        return Err(VerifyError::Invalid);
    }
    URL_SAFE_NO_PAD.decode(payload).map_err(|_| VerifyError::Malformed)
}
