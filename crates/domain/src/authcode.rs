//! Authorization codes (RFC 6749 §4.1) and PKCE (RFC 7636, S256 only): what is stored for a
//! code, the code verifier and challenge types, and the S256 check.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{ClientId, DeviceId, SessionId, UserId};
use crate::secret::SecretHash;

/// Prefix of every authorization code (lets secret scanners recognise one).
pub const CODE_PREFIX: &str = "pcc_";

/// How long a code may be exchanged after it was issued: long enough for a redirect and one
/// token request, short enough that a leaked code is useless soon (RFC 6749 §4.1.2: "maximum
/// lifetime of 10 minutes RECOMMENDED"; Hydra and Keycloak use about a minute).
pub fn code_ttl() -> Duration {
    Duration::seconds(60)
}

/// Why a PKCE parameter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge_method must be S256 (plain is not accepted)")]
    UnsupportedMethod,
    #[error("code_challenge must be the 43-character base64url SHA-256 of the code verifier")]
    BadChallenge,
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    BadVerifier,
}

/// An S256 code challenge: base64url (no padding) of a SHA-256 digest, 43 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` with its `code_challenge_method`. A missing method means `plain`
    /// (RFC 7636 §4.3), which is refused like an explicit one.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::UnsupportedMethod);
        }
        let ok = challenge.len() == 43
            && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD.decode(challenge).is_ok_and(|d| d.len() == 32);
        if ok { Ok(Self(challenge.to_owned())) } else { Err(PkceError::BadChallenge) }
    }

    /// The challenge as stored (it is not a secret: it travelled in the browser's URL).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6 with S256, compared in constant time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// A PKCE code verifier (a secret: `Debug` never shows it).
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(s: &str) -> Result<Self, PkceError> {
        let ok = (43..=128).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if ok { Ok(Self(s.to_owned())) } else { Err(PkceError::BadVerifier) }
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

/// An issued authorization code, as stored: the code itself only as its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: SecretHash,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub redirect_uri: String,
    /// The granted scope, canonical spelling.
    pub scope: String,
    pub challenge: Option<CodeChallenge>,
    /// The browser's device id (its device cookie), the default for the session.
    pub device_id: Option<DeviceId>,
    /// When the user proved their password to the browser login the code came from: a cut-off
    /// since refuses the exchange (and OpenID Connect's `auth_time`).
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The authorization request's OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
}

/// What redeeming a code found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// No such code.
    Unknown,
    /// First use: the code is now spent.
    Redeemed(AuthCode),
    /// The code was already used: the session issued from it (if any yet) must be revoked.
    Replayed { user_id: UserId, session: Option<SessionId> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        assert!(challenge.verify(&verifier));
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert!(!challenge.verify(&other));
    }

    #[test]
    fn plain_and_malformed_are_refused() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(CodeChallenge::parse(c, Some("plain")), Err(PkceError::UnsupportedMethod));
        assert_eq!(CodeChallenge::parse(c, None), Err(PkceError::UnsupportedMethod));
        assert_eq!(CodeChallenge::parse("short", Some("S256")), Err(PkceError::BadChallenge));
        assert_eq!(CodeVerifier::parse("short"), Err(PkceError::BadVerifier));
        assert_eq!(CodeVerifier::parse(&"a".repeat(129)), Err(PkceError::BadVerifier));
        assert_eq!(CodeVerifier::parse(&format!("{}!", "a".repeat(43))), Err(PkceError::BadVerifier));
        assert!(!format!("{:?}", CodeVerifier::parse(&"s".repeat(50)).unwrap()).contains("sss"));
    }
}
