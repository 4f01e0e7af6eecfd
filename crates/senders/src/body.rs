//! The one JSON object every sender delivers.

use portcullis_domain::otp::OtpMessage;
use serde::Serialize;

/// `{"channel": "sms"|"email", "to": "...", "code": "...", "expires_in": <seconds>}`. `Debug`
/// leaves the code out.
#[derive(Serialize)]
pub struct Body<'a> {
    pub channel: &'static str,
    pub to: &'a str,
    pub code: &'a str,
    pub expires_in: u64,
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body").field("channel", &self.channel).field("to", &self.to).finish_non_exhaustive()
    }
}

impl<'a> From<&'a OtpMessage> for Body<'a> {
    fn from(m: &'a OtpMessage) -> Self {
        Self {
            channel: m.destination.channel().as_str(),
            to: m.destination.address(),
            code: m.code.expose(),
            expires_in: m.expires_in,
        }
    }
}

impl Body<'_> {
    /// The serialized object, as the outbox and the webhook send it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a body of strings and a number serializes")
    }
}
