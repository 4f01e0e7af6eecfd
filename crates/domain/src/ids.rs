//! Identifiers, parsed once at the edge so the rest of the code can trust them.

use std::fmt;

use rand::RngCore;

/// An identifier failed to parse; the message says why, for an `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {why}")]
pub struct InvalidId {
    pub what: &'static str,
    pub why: &'static str,
}

/// Characters allowed in ids that clients choose or see: RFC 3986 "unreserved".
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn parse_token(what: &'static str, s: &str, max: usize) -> Result<String, InvalidId> {
    if s.is_empty() {
        return Err(InvalidId { what, why: "is empty" });
    }
    if s.len() > max {
        return Err(InvalidId { what, why: "is too long" });
    }
    if !s.chars().all(is_unreserved) {
        return Err(InvalidId { what, why: "may contain only letters, digits, '-', '.', '_' and '~'" });
    }
    Ok(s.to_owned())
}

/// 128 random bits as 22 base64url characters.
pub fn random_id() -> String {
    use base64::Engine;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                parse_token($what, s, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A client id: made by the server (`ClientId::generate`), presented by clients.
    ClientId, "client_id", 128
);
id_type!(
    /// A user id: a UUID made by the server.
    UserId, "user_id", 64
);
id_type!(
    /// A device id: chosen by the client or made by the server; part of the fingerprint.
    DeviceId, "device_id", 128
);
id_type!(
    /// A device session (refresh-token family) id: the `sid` claim.
    SessionId, "sid", 64
);

impl ClientId {
    pub fn generate() -> Self {
        Self(format!("pc_{}", random_id()))
    }
}

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl DeviceId {
    pub fn generate() -> Self {
        Self(random_id())
    }
}

impl SessionId {
    pub fn generate() -> Self {
        Self(random_id())
    }
}

/// A login name: 1 to 64 characters, no control characters, no surrounding spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        const WHAT: &str = "username";
        if s.is_empty() {
            return Err(InvalidId { what: WHAT, why: "is empty" });
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(InvalidId { what: WHAT, why: "is longer than 64 characters" });
        }
        if s.trim() != s || s.chars().any(char::is_control) {
            return Err(InvalidId { what: WHAT, why: "may not contain control characters or surrounding spaces" });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_parse() {
        assert!(ClientId::parse(ClientId::generate().as_str()).is_ok());
        assert!(DeviceId::parse(DeviceId::generate().as_str()).is_ok());
        assert!(UserId::parse(UserId::generate().as_str()).is_ok());
        assert_ne!(DeviceId::generate(), DeviceId::generate());
    }

    #[test]
    fn rejects_bad_device_ids() {
        assert!(DeviceId::parse("").is_err());
        assert!(DeviceId::parse("a b").is_err());
        assert!(DeviceId::parse("a/b").is_err());
        assert!(DeviceId::parse(&"x".repeat(129)).is_err());
        assert!(DeviceId::parse(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("Zoë Smith").is_ok());
        assert!(Username::parse(" alice").is_err());
        assert!(Username::parse("a\nb").is_err());
        assert!(Username::parse(&"é".repeat(65)).is_err());
    }

    proptest! {
        #[test]
        fn device_id_parse_accepts_exactly_unreserved(s in "\\PC{0,140}") {
            let ok = !s.is_empty() && s.len() <= 128 && s.chars().all(is_unreserved);
            prop_assert_eq!(DeviceId::parse(&s).is_ok(), ok);
        }
    }
}
