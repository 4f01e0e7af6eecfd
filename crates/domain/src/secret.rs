//! Random secrets, and the keyed hash under which they are stored.
//!
//! Client secrets and refresh tokens are 256 random bits, so a keyed fast hash is as strong
//! as a slow one for them: nobody can guess 2^256 inputs. HMAC-SHA-256 under a server-side
//! pepper also means a leaked database alone cannot even confirm a guess.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Bytes of randomness in every secret Portcullis makes.
pub const SECRET_BYTES: usize = 32;

/// A secret value (client secret, refresh token, password). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// `prefix` followed by 256 random bits in base64url; the prefix lets secret scanners
    /// recognise a leaked Portcullis credential.
    pub fn generate(prefix: &str) -> Self {
        let mut b = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A secret as stored: base64url(HMAC-SHA-256(pepper, secret)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes and verifies secrets under the deployment's pepper.
#[derive(Clone)]
pub struct SecretHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(<pepper redacted>)")
    }
}

impl SecretHasher {
    /// A hasher keyed by `pepper` (at least 32 bytes).
    pub fn new(pepper: &[u8]) -> Self {
        assert!(pepper.len() >= 32, "the secret pepper must hold at least 256 bits");
        Self { mac: Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes any key length") }
    }

    /// A fresh random pepper.
    pub fn generate_pepper() -> [u8; 32] {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        b
    }

    fn mac(&self, secret: &[u8]) -> Hmac<Sha256> {
        let mut m = self.mac.clone();
        m.update(secret);
        m
    }

    pub fn hash(&self, secret: &str) -> SecretHash {
        SecretHash(URL_SAFE_NO_PAD.encode(self.mac(secret.as_bytes()).finalize().into_bytes()))
    }

    /// Constant-time check of `secret` against a stored hash.
    pub fn verify(&self, secret: &[u8], stored: &SecretHash) -> bool {
        let Ok(expected) = URL_SAFE_NO_PAD.decode(stored.as_str()) else {
            return false;
        };
        // `verify_slice` compares in constant time (subtle).
        self.mac(secret).verify_slice(&expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_random_and_redacted() {
        let a = Secret::generate("pcs_");
        let b = Secret::generate("pcs_");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 4 + 43);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn verify_matches_only_the_secret() {
        let h = SecretHasher::new(&[7u8; 32]);
        let s = Secret::generate("x");
        let stored = h.hash(s.expose());
        assert!(h.verify(s.expose().as_bytes(), &stored));
        assert!(!h.verify(b"wrong", &stored));
        assert!(!h.verify(s.expose().as_bytes(), &SecretHash::from_stored("!!".into())));
        // Another pepper, another hash.
        assert_ne!(SecretHasher::new(&[8u8; 32]).hash(s.expose()), stored);
    }
}
