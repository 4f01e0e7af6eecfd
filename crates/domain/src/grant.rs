//! The grant types a client may be allowed to use.

use std::fmt;
use std::str::FromStr;

/// An OAuth 2.0 grant type Portcullis knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    Password,
    ClientCredentials,
    RefreshToken,
    AuthorizationCode,
    /// A one-time code sent to a phone or an email address (contract §6).
    Otp,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::Otp,
    ];

    /// The OTP grant's `grant_type` on the wire: an extension grant is named by a URI (RFC 6749 §4.5).
    pub const OTP_URN: &'static str = "urn:portcullis:params:oauth:grant-type:otp";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
            Self::Otp => "otp",
        }
    }

    /// As a token request's `grant_type` names it (and the discovery metadata lists it): the
    /// stored name, but for the OTP grant's URI.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Otp => Self::OTP_URN,
            other => other.as_str(),
        }
    }

    /// The grant a token request's `grant_type` names.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.wire_name() == s)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grant type is not one Portcullis knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant type")]
pub struct UnknownGrantType;

impl FromStr for GrantType {
    type Err = UnknownGrantType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or(UnknownGrantType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        assert!("implicit".parse::<GrantType>().is_err());
        assert!("Password".parse::<GrantType>().is_err());
        for g in GrantType::ALL {
            assert_eq!(GrantType::from_wire(g.wire_name()), Some(g));
        }
        assert_eq!(GrantType::from_wire("urn:portcullis:params:oauth:grant-type:otp"), Some(GrantType::Otp));
        assert_eq!(GrantType::from_wire("otp"), None);
    }
}
