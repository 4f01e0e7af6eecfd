//! One-time codes: where a code goes (a phone number or an email address), the code itself,
//! the rules of its life (a TTL, one use, a few wrong tries), and the limits on sending them.
//!
//! A code is 6 digits from the operating system's CSPRNG. It is stored only as an HMAC under
//! the pepper (`SecretHasher`), like every other secret; with a million possible codes that
//! hash alone would be guessed offline, which is why the pepper is not in the database.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::error::BoxError;
use crate::ids::InvalidId;
use crate::secret::Secret;

/// How a code travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// As the outbox line and the webhook body name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phone number in E.164 form (`+8613800138000`), checked against the numbering plan of its
/// country.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// The longest input looked at: E.164 is at most 15 digits, and a person may type spaces,
    /// dashes and parentheses between them.
    pub const MAX_INPUT: usize = 32;

    /// Parses an international number (`+` and the country code first); spaces, dashes, dots
    /// and parentheses between the digits are allowed and dropped. A number that cannot exist
    /// in its country's plan is refused.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        const WHAT: &str = "phone";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InvalidId { what: WHAT, why: "is empty" });
        }
        if raw.chars().count() > Self::MAX_INPUT {
            return Err(InvalidId { what: WHAT, why: "is longer than 32 characters" });
        }
        if !raw.starts_with('+') {
            return Err(InvalidId {
                what: WHAT,
                why: "must be in international form: + and the country code first (E.164)",
            });
        }
        if !raw[1..].chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')) {
            return Err(InvalidId { what: WHAT, why: "may hold only digits after the +" });
        }
        let number =
            phonenumber::parse(None, raw).map_err(|_| InvalidId { what: WHAT, why: "is not a phone number" })?;
        if !phonenumber::is_valid(&number) {
            return Err(InvalidId { what: WHAT, why: "is not a valid number in its country's numbering plan" });
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// A number as stored (already in E.164 form).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, normalised: surrounding spaces dropped and lower-cased, so that one
/// mailbox is one account however it is typed (as Keycloak does).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        const WHAT: &str = "email";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InvalidId { what: WHAT, why: "is empty" });
        }
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidId { what: WHAT, why: "is longer than 254 bytes" });
        }
        let options =
            email_address::Options::default().without_display_text().without_domain_literal().with_required_tld();
        let parsed = email_address::EmailAddress::parse_with_options(raw, options)
            .map_err(|_| InvalidId { what: WHAT, why: "is not an email address" })?;
        let (local, domain) = (parsed.local_part(), parsed.domain());
        // A mailbox on the internet: a dotted domain, and no quoted local part.
        if !domain.contains('.') || local.starts_with('"') || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidId { what: WHAT, why: "is not an email address" });
        }
        Ok(Self(parsed.as_str().to_lowercase()))
    }

    /// An address as stored (already normalised).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a code goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    Phone(Phone),
    Email(Email),
}

impl Destination {
    pub fn channel(&self) -> Channel {
        match self {
            Self::Phone(_) => Channel::Sms,
            Self::Email(_) => Channel::Email,
        }
    }

    /// The address itself: the number or the mailbox.
    pub fn address(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Email(e) => e.as_str(),
        }
    }

    /// The key a code and the limits are kept under: `sms:+86…` or `email:…`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.channel(), self.address())
    }
}

/// A code on its way to its destination.
#[derive(Debug)]
pub struct OtpMessage {
    pub destination: Destination,
    pub code: Secret,
    /// Seconds the code works for.
    pub expires_in: u64,
}

/// A sender did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// This sender has no way to reach the channel (SMTP and a phone number).
    #[error("the {sender} sender cannot send {channel} codes")]
    Unsupported { sender: &'static str, channel: Channel },
    /// The delivery failed; the source says why (for logs: it never holds the code).
    #[error("the code could not be sent")]
    Failed(#[source] BoxError),
}

impl SendError {
    pub fn failed(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Failed(Box::new(e))
    }
}

/// Delivers codes: the outbox, a webhook or SMTP (`portcullis-senders`).
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    /// As `otp.sender` names it.
    fn name(&self) -> &'static str;
    /// Whether it can reach destinations of `channel` at all.
    fn sends(&self, channel: Channel) -> bool;
    async fn send(&self, message: &OtpMessage) -> Result<(), SendError>;
}

/// A fresh code: 6 digits, each of the million equally likely.
pub fn generate_code() -> Secret {
    let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
    Secret::new(format!("{n:06}"))
}

/// Whether `s` has a code's shape (6 ASCII digits). Checked before anything is looked up.
pub fn is_code_shaped(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The rules of codes and their limits (`[otp]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtpPolicy {
    /// How long a code works.
    pub code_ttl: Duration,
    /// Wrong tries after which a code is dead, even for the right digits.
    pub max_attempts: u32,
    /// How soon a destination may be sent another code.
    pub resend_after: Duration,
    /// Codes sent to one destination per hour.
    pub sends_per_destination: u32,
    /// Codes sent on behalf of one client address per hour (SMS pumping from one source).
    pub sends_per_address: u32,
    /// Codes sent for one client per hour (SMS pumping through one app).
    pub sends_per_client: u32,
    /// Grant attempts (right or wrong) per destination and client per hour, over all its codes.
    pub verifications_per_destination: u32,
    /// Grant attempts from one client address per hour, over every destination (guesses spread
    /// over many destinations, each under its own limit).
    pub verifications_per_address: u32,
    /// Whether the login page offers "sign in with a code".
    pub browser_login: bool,
}

impl Default for OtpPolicy {
    fn default() -> Self {
        Self {
            code_ttl: Duration::minutes(5),
            max_attempts: 5,
            resend_after: Duration::seconds(60),
            sends_per_destination: 5,
            sends_per_address: 20,
            sends_per_client: 1000,
            verifications_per_destination: 15,
            verifications_per_address: 60,
            browser_login: true,
        }
    }
}

/// A stored code, as the grant reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCode {
    pub client_id: String,
    pub expires_at: DateTime<Utc>,
    /// Tries so far, this one included when read by [`crate::ports::OtpRepo::try_code`].
    pub attempts: u32,
    pub used_at: Option<DateTime<Utc>>,
}

/// Why a code did not log anyone in. Each is `invalid_grant`, with its own description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    /// No code for this destination and client (none was sent, it was replaced, or it was sent
    /// for another client): worded as [`CodeRefusal::Wrong`], so a try cannot tell whether the
    /// destination has an account.
    #[error("wrong code")]
    None,
    #[error("the code has expired; ask for a new one")]
    Expired,
    #[error("the code was already used; ask for a new one")]
    Used,
    #[error("too many wrong codes; this code no longer works, ask for a new one")]
    Dead,
    #[error("wrong code")]
    Wrong,
}

/// Judges a try of a code, before its digits are compared: the stored row as the try found it
/// (its attempt counted). `None` when the digits may be compared.
pub fn check(
    stored: Option<&StoredCode>,
    client_id: &str,
    now: DateTime<Utc>,
    policy: &OtpPolicy,
) -> Option<CodeRefusal> {
    let Some(code) = stored else { return Some(CodeRefusal::None) };
    if code.used_at.is_some() {
        return Some(CodeRefusal::Used);
    }
    if code.expires_at <= now {
        return Some(CodeRefusal::Expired);
    }
    if code.attempts > policy.max_attempts {
        return Some(CodeRefusal::Dead);
    }
    if code.client_id != client_id {
        return Some(CodeRefusal::None);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_e164_and_checked_against_the_plan() {
        assert_eq!(Phone::parse("+8613800138000").unwrap().as_str(), "+8613800138000");
        assert_eq!(Phone::parse(" +44 20 7946 0958 ").unwrap().as_str(), "+442079460958");
        assert_eq!(Phone::parse("+1 (415) 555-2671").unwrap().as_str(), "+14155552671");
        for bad in
            ["", "13800138000", "+86 138", "+999123456789", "+86abc13800138000", "+4420794609581234567890123456789"]
        {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::parse(" Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        for bad in
            ["", "alice", "alice@", "@example.com", "alice@localhost", "Alice <alice@example.com>", "a b@example.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = generate_code();
            assert!(is_code_shaped(c.expose()), "{}", c.expose());
        }
        assert!(!is_code_shaped("12345"));
        assert!(!is_code_shaped("12345a"));
        assert!(!is_code_shaped("١٢٣٤٥٦"));
    }

    #[test]
    fn a_try_is_judged_before_the_digits() {
        let policy = OtpPolicy::default();
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().with_timezone(&Utc);
        let live =
            StoredCode { client_id: "pc_a".into(), expires_at: now + Duration::minutes(5), attempts: 1, used_at: None };
        assert_eq!(check(Some(&live), "pc_a", now, &policy), None);
        assert_eq!(check(None, "pc_a", now, &policy), Some(CodeRefusal::None));
        assert_eq!(check(Some(&live), "pc_b", now, &policy), Some(CodeRefusal::None));
        assert_eq!(CodeRefusal::None.to_string(), CodeRefusal::Wrong.to_string(), "no oracle");
        let expired = StoredCode { expires_at: now, ..live.clone() };
        assert_eq!(check(Some(&expired), "pc_a", now, &policy), Some(CodeRefusal::Expired));
        let used = StoredCode { used_at: Some(now), ..live.clone() };
        assert_eq!(check(Some(&used), "pc_a", now, &policy), Some(CodeRefusal::Used));
        // The fifth try may still compare; the sixth (five wrong before it) may not.
        let fifth = StoredCode { attempts: 5, ..live.clone() };
        assert_eq!(check(Some(&fifth), "pc_a", now, &policy), None);
        let sixth = StoredCode { attempts: 6, ..live };
        assert_eq!(check(Some(&sixth), "pc_a", now, &policy), Some(CodeRefusal::Dead));
    }
}
