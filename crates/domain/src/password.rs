//! Password hashing with argon2id.
//!
//! Hashing is deliberately slow (tens of milliseconds): callers must run it on a blocking
//! thread, never on an async worker.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted for a new account or a password change.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted anywhere, in characters.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// The bytes `MAX_PASSWORD_LEN` characters can take: the bound on argon2's input and on what is read.
pub const MAX_PASSWORD_BYTES: usize = 4 * MAX_PASSWORD_LEN;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_LEN} characters")]
    TooLong,
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str) -> Result<(), PasswordPolicyError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordPolicyError::TooShort);
    }
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Err(PasswordPolicyError::TooLong);
    }
    Ok(())
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// OWASP's first argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// argon2id hashing and verification.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// Hash of a random password, verified against when the user does not exist so that
    /// unknown and known usernames take the same time.
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

/// The cost parameters are outside what argon2 accepts.
#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct InvalidCost(String);

impl PasswordHasher {
    pub fn new(cost: PasswordCost) -> Result<Self, InvalidCost> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| InvalidCost(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut me = Self { argon, dummy: String::new() };
        me.dummy = me.hash(crate::secret::Secret::generate("").expose());
        Ok(me)
    }

    /// A PHC string (`$argon2id$v=19$...`) with a fresh salt.
    pub fn hash(&self, password: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 hashing with valid parameters cannot fail")
            .to_string()
    }

    /// True when `password` matches `phc`; a malformed stored hash never matches.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self.argon.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the time of one verification and answers false (unknown user).
    pub fn verify_dummy(&self, password: &str) -> bool {
        let _ = self.verify(password, &self.dummy);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(PasswordCost { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = cheap();
        let a = h.hash("correct horse");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, h.hash("correct horse"));
        assert!(h.verify("correct horse", &a));
        assert!(!h.verify("wrong horse", &a));
        assert!(!h.verify("correct horse", "not a hash"));
        assert!(!h.verify_dummy("anything"));
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy("short"), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy(&"x".repeat(1025)), Err(PasswordPolicyError::TooLong));
        assert!(check_policy("long enough").is_ok());
    }
}
