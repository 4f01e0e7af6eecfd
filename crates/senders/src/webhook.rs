//! The webhook: the message's JSON `POST`ed to the operator's gateway, which sends the SMS or
//! the email. Signed so the gateway can tell it came from this server:
//! `X-Portcullis-Signature: sha256=<hex HMAC-SHA256 of the exact body under the secret>`.
//!
//! A try that fails for a reason that may pass (no connection, a timeout, a 5xx, a 429) is
//! tried again after a backoff; a 4xx other than 429 is the gateway refusing this message, and
//! is not. Redirects are not followed: the body holds a code.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use portcullis_domain::otp::{Channel, OtpMessage, SendError, Sender};
use sha2::Sha256;

use crate::body::Body;

pub const SIGNATURE_HEADER: &str = "X-Portcullis-Signature";

/// `sha256=<hex>` of `body` under `secret`, as the header carries it.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How hard the webhook tries.
#[derive(Clone, Copy, Debug)]
pub struct WebhookOptions {
    /// Each try's limit, connection included.
    pub timeout: Duration,
    /// Tries in all (at least 1).
    pub tries: u32,
    /// The wait before the second try; doubled before each one after.
    pub backoff: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(3), tries: 3, backoff: Duration::from_millis(200) }
    }
}

pub struct Webhook {
    url: reqwest::Url,
    secret: Vec<u8>,
    http: reqwest::Client,
    options: WebhookOptions,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &redacted(&self.url)).field("secret", &"<redacted>").finish()
    }
}

/// The URL's scheme, host and port only: what logs and `Debug` may show of a gateway URL, whose
/// user info, path (`/bot<token>/…`) or query (`?token=…`) may carry a credential.
fn redacted(url: &reqwest::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}/…", url.scheme(), url.host_str().unwrap_or(""))
}

/// The longest one send may take: every try's timeout and the backoffs between them (saturating,
/// so absurd settings read as "forever" rather than overflow).
pub fn worst_case(options: &WebhookOptions) -> Duration {
    let tries = options.tries.max(1);
    // backoff + 2·backoff + … + 2^(tries-2)·backoff = (2^(tries-1) - 1)·backoff
    let backoffs =
        2u32.checked_pow(tries - 1).and_then(|p| options.backoff.checked_mul(p - 1)).unwrap_or(Duration::MAX);
    options.timeout.saturating_mul(tries).saturating_add(backoffs)
}

impl Webhook {
    /// A webhook to `url` (http or https), signing with `secret`.
    pub fn new(url: &str, secret: impl Into<Vec<u8>>, options: WebhookOptions) -> Result<Self, SendError> {
        let url = reqwest::Url::parse(url).map_err(SendError::failed)?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(SendError::failed(std::io::Error::other("the webhook URL must be http or https")));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SendError::failed)?;
        Ok(Self { url, secret: secret.into(), http, options })
    }

    async fn try_once(&self, body: &[u8], signed: &str) -> Result<(), (bool, String)> {
        let sent = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => {
                let status = res.status();
                let again = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                Err((again, format!("the webhook answered {status}")))
            }
            // The error's chain names the cause, never the body; the URL (which may carry a
            // token in its query) is taken out.
            Err(e) => Err((true, format!("the webhook could not be reached: {}", chain(&e.without_url())))),
        }
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[async_trait]
impl Sender for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn sends(&self, _channel: Channel) -> bool {
        true
    }

    async fn send(&self, message: &OtpMessage) -> Result<(), SendError> {
        let body = Body::from(message).to_json();
        let signed = signature(&self.secret, &body);
        let mut wait = self.options.backoff;
        let mut last = String::new();
        for attempt in 1..=self.options.tries.max(1) {
            match self.try_once(&body, &signed).await {
                Ok(()) => return Ok(()),
                Err((again, why)) => {
                    tracing::warn!(attempt, reason = %why, "the one-time-code webhook failed");
                    last = why;
                    if !again {
                        break;
                    }
                }
            }
            if attempt < self.options.tries {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(SendError::failed(std::io::Error::other(last)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_logs_show_no_credential_of_the_url() {
        let hook = Webhook::new(
            "https://user:pw@sms.example:8443/bot-s3cret/send?token=s3cret#x",
            "k".repeat(32),
            WebhookOptions::default(),
        )
        .unwrap();
        let shown = format!("{hook:?}");
        assert!(shown.contains("https://sms.example:8443/"), "{shown}");
        for secret in ["s3cret", "pw", "user", "kkkk", "send"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }

    #[test]
    fn the_worst_case_sums_timeouts_and_backoffs() {
        let o = WebhookOptions { timeout: Duration::from_secs(3), tries: 3, backoff: Duration::from_millis(200) };
        assert_eq!(worst_case(&o), Duration::from_millis(9_600));
        assert_eq!(worst_case(&WebhookOptions { tries: 0, ..o }), Duration::from_secs(3));
        assert_eq!(worst_case(&WebhookOptions { tries: u32::MAX, ..o }), Duration::MAX, "saturates");
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
