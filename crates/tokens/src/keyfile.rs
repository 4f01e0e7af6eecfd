//! RSA key files in `keys/`: generation, PEM, the public JWK and its RFC 7638 thumbprint.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_proto::Jwk;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

/// Bits of every key Portcullis makes.
pub const KEY_BITS: usize = 2048;

/// A private key read from (or about to be written to) `keys/<kid>.pem`.
pub struct KeyFile {
    pub kid: String,
    /// PKCS#1 DER of the private key.
    pub der: Vec<u8>,
    pub jwk: Jwk,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile").field("kid", &self.kid).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is not a PKCS#1 RSA private key PEM")]
    Malformed { path: PathBuf },
    #[error("key file {path} holds key {actual}, not {expected}")]
    KidMismatch { path: PathBuf, expected: String, actual: String },
    #[error("RSA key generation failed: {0}")]
    Generate(String),
}

/// RFC 7638 thumbprint of an RSA public key (`kid`).
pub fn thumbprint(n_b64: &str, e_b64: &str) -> String {
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn public_jwk(public: &RsaPublicKey) -> Jwk {
    let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
    Jwk::rs256(thumbprint(&n, &e), n, e)
}

impl KeyFile {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<Self, KeyFileError> {
        let private =
            RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS).map_err(|e| KeyFileError::Generate(e.to_string()))?;
        Self::from_private(&private)
    }

    fn from_private(private: &RsaPrivateKey) -> Result<Self, KeyFileError> {
        let der = private.to_pkcs1_der().map_err(|e| KeyFileError::Generate(e.to_string()))?;
        let jwk = public_jwk(&private.to_public_key());
        Ok(Self { kid: jwk.kid.clone(), der: der.as_bytes().to_vec(), jwk })
    }

    pub fn path_in(dir: &Path, kid: &str) -> PathBuf {
        dir.join(format!("{kid}.pem"))
    }

    /// Reads `dir/<kid>.pem` and checks that it holds that key.
    pub fn read(dir: &Path, kid: &str) -> Result<Self, KeyFileError> {
        let path = Self::path_in(dir, kid);
        let file = Self::read_path(&path)?;
        if file.kid != kid {
            return Err(KeyFileError::KidMismatch { path, expected: kid.into(), actual: file.kid });
        }
        Ok(file)
    }

    pub fn read_path(path: &Path) -> Result<Self, KeyFileError> {
        let pem = fs::read_to_string(path).map_err(|source| KeyFileError::Io { path: path.into(), source })?;
        let private = RsaPrivateKey::from_pkcs1_pem(&pem).map_err(|_| KeyFileError::Malformed { path: path.into() })?;
        Self::from_private(&private)
    }

    /// Writes `dir/<kid>.pem`, readable by the owner only, without ever exposing a partial
    /// file: write to a temporary name, then rename.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, KeyFileError> {
        let path = Self::path_in(dir, &self.kid);
        let io = |source| KeyFileError::Io { path: path.clone(), source };
        private_dir(dir).map_err(io)?;
        let private =
            RsaPrivateKey::from_pkcs1_der(&self.der).map_err(|_| KeyFileError::Malformed { path: path.clone() })?;
        let pem = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| KeyFileError::Generate(e.to_string()))?;
        let tmp = dir.join(format!(".{}.pem.tmp", self.kid));
        let mut f = private_file(&tmp).map_err(io)?;
        f.write_all(pem.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // `mode` applies only to a file it creates: a leftover one keeps its own, so set it.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

/// Creates `dir` (and missing parents) for secrets: the folder itself owner-only (0700), as
/// `ssh` keeps `~/.ssh`. An existing folder that others may enter is made owner-only too.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), "the keys folder was open to others; making it owner-only (0700)");
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            }
        }
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn write_then_read_round_trips_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyFile::generate().unwrap();
        let path = key.write(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let back = KeyFile::read(dir.path(), &key.kid).unwrap();
        assert_eq!(back.jwk, key.jwk);
        assert_eq!(back.der, key.der);
        assert!(!format!("{back:?}").contains("der"));
        fs::write(KeyFile::path_in(dir.path(), "other"), fs::read(&path).unwrap()).unwrap();
        assert!(matches!(KeyFile::read(dir.path(), "other"), Err(KeyFileError::KidMismatch { .. })));
    }
}
