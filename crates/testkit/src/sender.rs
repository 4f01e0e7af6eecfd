//! `Recorder`: a one-time-code sender that keeps what it was given, and can be made to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis_domain::otp::{Channel, OtpMessage, SendError, Sender};

/// Every message sent, as (destination key, code). Clones share them.
#[derive(Clone, Default)]
pub struct Recorder {
    sent: Arc<Mutex<Vec<(String, String)>>>,
    failing: Arc<AtomicBool>,
}

impl Recorder {
    /// The messages so far, oldest first.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The latest code sent to the destination with `key`.
    pub fn last_code(&self, key: &str) -> Option<String> {
        self.sent().into_iter().rev().find(|(k, _)| k == key).map(|(_, c)| c)
    }

    /// From now on every send fails (`true`) or succeeds.
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Sender for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn sends(&self, _channel: Channel) -> bool {
        true
    }

    async fn send(&self, message: &OtpMessage) -> Result<(), SendError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SendError::failed(std::io::Error::other("the recorder was told to fail")));
        }
        let entry = (message.destination.key(), message.code.expose().to_owned());
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
        Ok(())
    }
}
