//! `AccessTokenMinter`: RFC 9068 JWT access tokens, signed RS256 by the active key.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header};
use portcullis_proto::{ACCESS_TOKEN_TYP, AccessTokenClaims};

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
}

/// A signed token and the claims in it. `Debug` leaves the token out.
pub struct Minted {
    pub token: String,
    pub claims: AccessTokenClaims,
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
        Ok(Minted { token, claims })
    }
}
