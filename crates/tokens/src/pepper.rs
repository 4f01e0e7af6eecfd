//! The deployment's secret pepper for `SecretHasher`, kept in `keys/pepper` (mode 0600).
//!
//! Every node must hold the same pepper (they share `keys/`, as they share signing keys):
//! client secrets and refresh tokens are stored as HMACs under it.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_domain::secret::SecretHasher;

pub const PEPPER_FILE: &str = "pepper";

#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    #[error("pepper file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("pepper file {0} is malformed (expected 32+ bytes, base64url)")]
    Malformed(String),
}

/// Reads the pepper, which must exist.
pub fn load(dir: &Path) -> Result<SecretHasher, PepperError> {
    let path = dir.join(PEPPER_FILE);
    let shown = path.display().to_string();
    let text = fs::read_to_string(&path).map_err(|e| PepperError::Io(shown.clone(), e))?;
    parse(&text, shown)
}

fn parse(text: &str, shown: String) -> Result<SecretHasher, PepperError> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| PepperError::Malformed(shown.clone()))?;
    if bytes.len() < 32 {
        return Err(PepperError::Malformed(shown));
    }
    Ok(SecretHasher::new(&bytes))
}

/// Reads the pepper, creating it on first use.
pub fn load_or_create(dir: &Path) -> Result<SecretHasher, PepperError> {
    let path = dir.join(PEPPER_FILE);
    let shown = path.display().to_string();
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text, shown),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = SecretHasher::generate_pepper();
            crate::keyfile::private_dir(dir).map_err(|e| PepperError::Io(shown.clone(), e))?;
            write_new(&path, &URL_SAFE_NO_PAD.encode(bytes)).map_err(|e| PepperError::Io(shown.clone(), e))?;
            // Another process may have won the race: read back whatever is there now.
            load_or_create(dir)
        }
        Err(e) => Err(PepperError::Io(shown, e)),
    }
}

/// Writes a complete file under a unique temporary name, then links it into place: readers
/// never see a partial pepper, and of two racing processes exactly one wins.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    let linked = fs::hard_link(&tmp, path);
    fs::remove_file(&tmp)?;
    match linked {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.hash("x"), b.hash("x"));
        fs::write(dir.path().join(PEPPER_FILE), "short").unwrap();
        assert!(matches!(load_or_create(dir.path()), Err(PepperError::Malformed(_))));
    }
}
