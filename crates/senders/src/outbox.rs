//! The outbox: every message appended as one JSON line to a file only the server's user can
//! read (mode 0600, its folder made if missing). For development: the code is read from the
//! file, as an app would read the SMS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use portcullis_domain::otp::{Channel, OtpMessage, SendError, Sender};
use tokio::sync::Mutex;

use crate::body::Body;

#[derive(Clone, Debug)]
pub struct Outbox {
    path: PathBuf,
    /// One writer at a time, so lines never interleave.
    lock: Arc<Mutex<()>>,
}

impl Outbox {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), lock: Arc::default() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // A file made before, or by someone else: narrowed all the same.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(line)?;
    file.flush()
}

#[async_trait]
impl Sender for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn sends(&self, _channel: Channel) -> bool {
        true
    }

    async fn send(&self, message: &OtpMessage) -> Result<(), SendError> {
        let mut line = Body::from(message).to_json();
        line.push(b'\n');
        let _one_writer = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || append(&path, &line))
            .await
            .map_err(SendError::failed)?
            .map_err(SendError::failed)
    }
}

#[cfg(test)]
mod tests {
    use portcullis_domain::otp::{Destination, Phone};
    use portcullis_domain::secret::Secret;

    use super::*;

    #[tokio::test]
    async fn lines_are_appended_to_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("data/otp-outbox.jsonl"));
        for code in ["123456", "654321"] {
            let message = OtpMessage {
                destination: Destination::Phone(Phone::parse("+8613800138000").unwrap()),
                code: Secret::new(code),
                expires_in: 300,
            };
            outbox.send(&message).await.unwrap();
        }
        let text = std::fs::read_to_string(outbox.path()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(
            lines[1],
            serde_json::json!({"channel": "sms", "to": "+8613800138000", "code": "654321", "expires_in": 300})
        );
        assert_eq!(lines.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(outbox.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
