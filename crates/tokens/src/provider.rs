//! A jsonwebtoken crypto provider that signs RS256 with a cached, parsed aws-lc key.
//!
//! jsonwebtoken's stock aws-lc provider parses the DER private key on every `encode`, which
//! costs more than the RSA operation itself. This provider parses each key once and reuses
//! the `RsaKeyPair`; verification is delegated to the stock aws-lc provider.

use std::sync::{Arc, LazyLock, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, aws_lc};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

type Cache = RwLock<Vec<(Vec<u8>, Arc<RsaKeyPair>)>>;

/// Parsed key pairs by their DER bytes. A handful of entries at most (one per signing key).
static CACHE: LazyLock<Cache> = LazyLock::new(|| RwLock::new(Vec::new()));

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: new_signer,
    verifier_factory,
    key_utils: aws_lc::DEFAULT_PROVIDER.key_utils.clone(),
});

/// Installs the provider process-wide. Idempotent; call before the first `encode`.
pub fn install() {
    // Err means a provider is installed already: ours, from an earlier call.
    let _ = PROVIDER.install_default();
}

fn verifier_factory(alg: &Algorithm, key: &DecodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *alg != Algorithm::RS256 {
        return Err(Error::from(ErrorKind::InvalidAlgorithm));
    }
    (aws_lc::DEFAULT_PROVIDER.verifier_factory)(alg, key)
}

/// The parsed key pair for `der` (PKCS#1), parsing it on first use.
pub fn key_pair(der: &[u8]) -> Result<Arc<RsaKeyPair>, aws_lc_rs::error::KeyRejected> {
    if let Some(found) = read_cache().iter().find(|(d, _)| d == der).map(|(_, k)| k.clone()) {
        return Ok(found);
    }
    let parsed = Arc::new(RsaKeyPair::from_der(der)?);
    let mut cache = CACHE.write().unwrap_or_else(|e| e.into_inner());
    if !cache.iter().any(|(d, _)| d == der) {
        cache.push((der.to_vec(), parsed.clone()));
    }
    Ok(parsed)
}

fn read_cache() -> std::sync::RwLockReadGuard<'static, Vec<(Vec<u8>, Arc<RsaKeyPair>)>> {
    CACHE.read().unwrap_or_else(|e| e.into_inner())
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *alg != Algorithm::RS256 {
        return Err(Error::from(ErrorKind::InvalidAlgorithm));
    }
    let pair = key_pair(key.as_bytes()).map_err(|_| Error::from(ErrorKind::InvalidRsaKey(String::new())))?;
    Ok(Box::new(CachedRs256Signer(pair)))
}

struct CachedRs256Signer(Arc<RsaKeyPair>);

impl signature::Signer<Vec<u8>> for CachedRs256Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut sig = vec![0; self.0.public_modulus_len()];
        self.0.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).map_err(signature::Error::from_source)?;
        Ok(sig)
    }
}

impl JwtSigner for CachedRs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}
