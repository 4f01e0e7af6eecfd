//! One RSA key per test process, written into each test's keys folder (generating a fresh
//! key for every test would dominate the suite's time; first-start generation has its own test).

use std::path::Path;
use std::sync::OnceLock;

use portcullis_tokens::keyfile::KeyFile;

static KEY: OnceLock<KeyFile> = OnceLock::new();

/// The shared test key. Insecure by design: it exists only in temporary folders.
pub fn test_key() -> &'static KeyFile {
    KEY.get_or_init(|| KeyFile::generate().expect("RSA key generation"))
}

/// Writes the shared test key into `dir`, where the server adopts it on first start.
pub fn seed(dir: &Path) {
    test_key().write(dir).expect("write test key");
}
