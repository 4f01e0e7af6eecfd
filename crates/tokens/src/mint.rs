//! `AccessTokenMinter`: RFC 9068 JWT access tokens, signed RS256 by the active key, and with
//! them, when the scope has `openid`, the OpenID Connect ID token (same key, same instant).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header};
use portcullis_proto::{ACCESS_TOKEN_TYP, AccessTokenClaims, ID_TOKEN_TYP, IdTokenClaims, ProfileClaims};
use sha2::{Digest, Sha256};

use crate::keyring::KeyRing;

/// What varies between two access tokens.
#[derive(Clone, Copy, Debug)]
pub struct MintInput<'a> {
    /// The user id, or the client id for client credentials.
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    /// Device session (user tokens only).
    pub sid: Option<&'a str>,
    /// Device fingerprint hash (user tokens only).
    pub dfp: Option<&'a str>,
    /// What the ID token to mint with it says (an OpenID Connect login only).
    pub id_token: Option<&'a IdTokenInput>,
}

/// What an ID token says beyond what its access token says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdTokenInput {
    /// When the user last proved who they are, in seconds since the epoch.
    pub auth_time: i64,
    pub nonce: Option<String>,
    pub profile: ProfileClaims,
}

/// A signed token and the claims in it, and the ID token minted with it if one was asked for.
/// `Debug` leaves the tokens out.
pub struct Minted {
    pub token: String,
    pub claims: AccessTokenClaims,
    pub id_token: Option<String>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted").field("claims", &self.claims).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("no signing key is active")]
    NoKey,
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Mints access tokens for one issuer and audience.
#[derive(Clone, Debug)]
pub struct AccessTokenMinter {
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

impl AccessTokenMinter {
    pub fn mint(&self, ring: &KeyRing, input: MintInput<'_>, now: DateTime<Utc>) -> Result<Minted, MintError> {
        let key = ring.signing_key(now).ok_or(MintError::NoKey)?;
        let iat = now.timestamp();
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: input.sub.to_owned(),
            aud: self.audience.clone(),
            exp: iat + self.ttl.num_seconds(),
            iat,
            nbf: iat,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            client_id: input.client_id.to_owned(),
            scope: input.scope.to_owned(),
            sid: input.sid.map(str::to_owned),
            dfp: input.dfp.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.record.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
        let id_token = match input.id_token {
            Some(id) => {
                let id_claims = IdTokenClaims {
                    iss: claims.iss.clone(),
                    sub: claims.sub.clone(),
                    aud: claims.client_id.clone(),
                    azp: claims.client_id.clone(),
                    exp: claims.exp,
                    iat,
                    auth_time: id.auth_time,
                    nonce: id.nonce.clone(),
                    sid: claims.sid.clone(),
                    at_hash: Some(at_hash(&token)),
                    profile: id.profile.clone(),
                };
                header.typ = Some(ID_TOKEN_TYP.to_owned());
                Some(jsonwebtoken::encode(&header, &id_claims, &key.encoding)?)
            }
            None => None,
        };
        Ok(Minted { token, claims, id_token })
    }
}

/// OpenID Connect Core §3.1.3.6: base64url of the left half of the SHA-256 of the access token
/// (RS256 hashes with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::at_hash;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 …; its left 16 bytes, base64url.
        assert_eq!(at_hash("abc"), "ungWv48Bz-pBQUDeXa4iIw");
    }
}
