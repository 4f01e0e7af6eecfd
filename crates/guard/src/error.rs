//! Why a request was refused ([`AuthError`], with its RFC 6750 status and challenge) and why a
//! [`Guard`](crate::Guard) could not be built ([`BuildError`]).

use http::StatusCode;
use portcullis_proto::{ErrorBody, ErrorCode};

/// Why a request's access token was not accepted. The `Display` text is safe to show the client:
/// it never contains the token or any secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials of an accepted scheme: 401 with a bare `WWW-Authenticate: Bearer`
    /// (RFC 6750 §3.1 sends no error code when the request has no authentication at all).
    #[error("an access token is required")]
    Missing,
    /// A bad, expired, revoked or foreign token: 401 `invalid_token`.
    #[error(transparent)]
    InvalidToken(#[from] InvalidToken),
    /// A valid token without every scope the resource needs: 403 `insufficient_scope`.
    #[error("the access token lacks a scope this resource needs ({required})")]
    InsufficientScope {
        /// The scopes the resource needs, space-separated.
        required: String,
    },
    /// The guard cannot tell whether the token was revoked (the feed has not caught up yet and
    /// the configured start-up policy fails closed, or the introspection endpoint failed):
    /// 503 `temporarily_unavailable`. The client should retry, not log in again.
    #[error("the access token cannot be checked right now; try again")]
    Unavailable,
}

/// The precise reason behind [`AuthError::InvalidToken`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("the Authorization header is malformed")]
    MalformedHeader,
    /// RFC 6750 §2: a client must not send the token more than one way.
    #[error("the access token was sent more than one way (header, query, form body)")]
    SeveralMethods,
    #[error("the access token is too large")]
    TooLarge,
    #[error("the access token is not a well-formed JWS")]
    Malformed,
    #[error("the access token is not signed with RS256")]
    Algorithm,
    #[error("the access token is not of type at+jwt")]
    Type,
    #[error("the access token names no key")]
    MissingKeyId,
    #[error("the access token was not signed by a current key of the issuer")]
    UnknownKey,
    #[error("the access token signature is invalid")]
    Signature,
    #[error("the access token was issued by another issuer")]
    Issuer,
    #[error("the access token is meant for another audience")]
    Audience,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token has been revoked")]
    Revoked,
    #[error("the access token is bound to a device; send X-Device-Id")]
    DeviceMissing,
    #[error("the access token was issued to another device")]
    DeviceMismatch,
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 / RFC 6749 error code of the JSON body.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Missing | Self::InvalidToken(_) => ErrorCode::InvalidToken,
            Self::InsufficientScope { .. } => ErrorCode::InsufficientScope,
            Self::Unavailable => ErrorCode::TemporarilyUnavailable,
        }
    }

    /// `{"error", "error_description"}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.error_code(), error_description: self.to_string() }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3), or `None` for a 503.
    pub fn www_authenticate(&self) -> Option<String> {
        // Descriptions are our own constant texts: no quote or backslash to escape.
        match self {
            Self::Missing => Some("Bearer".to_owned()),
            Self::InvalidToken(why) => Some(format!(r#"Bearer error="invalid_token", error_description="{why}""#)),
            Self::InsufficientScope { required } => Some(format!(
                r#"Bearer error="insufficient_scope", error_description="{}", scope="{required}""#,
                "the access token lacks a scope this resource needs"
            )),
            Self::Unavailable => None,
        }
    }
}

/// Why [`GuardBuilder::build`](crate::GuardBuilder::build) failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the issuer {0:?} is not an absolute http(s) URL")]
    IssuerUrl(String),
    #[error("authorization-server metadata from {url}: {source}")]
    Discovery { url: String, source: FetchError },
    #[error("the metadata names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("JWKS from {url}: {source}")]
    Jwks { url: String, source: FetchError },
    #[error("the JWKS at {0} holds no RS256 signing key")]
    NoKeys(String),
    #[error("the issuer publishes no revocation_feed_endpoint; choose Revocation::Introspection or Revocation::Off")]
    NoFeed,
    #[error("{0} needs client credentials: call GuardBuilder::client_credentials")]
    MissingCredentials(&'static str),
    #[error("the HTTP client could not be built: {0}")]
    Http(#[source] reqwest::Error),
}

/// Why an HTTP exchange with the issuer failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the issuer answered {0}")]
    Status(StatusCode),
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the response is not the JSON expected: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_carry_no_error_code_in_the_challenge() {
        assert_eq!(AuthError::Missing.www_authenticate().as_deref(), Some("Bearer"));
        assert_eq!(AuthError::Missing.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn invalid_and_insufficient_are_told_apart() {
        let invalid = AuthError::from(InvalidToken::Expired);
        assert_eq!(invalid.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            invalid.www_authenticate().as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="the access token has expired""#)
        );
        let scope = AuthError::InsufficientScope { required: "read write".into() };
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert_eq!(scope.body().error, ErrorCode::InsufficientScope);
        assert!(scope.www_authenticate().is_some_and(|c| c.contains(r#"scope="read write""#)));
    }

    #[test]
    fn no_description_needs_escaping() {
        let all = [
            InvalidToken::MalformedHeader,
            InvalidToken::TooLarge,
            InvalidToken::Malformed,
            InvalidToken::Algorithm,
            InvalidToken::Type,
            InvalidToken::MissingKeyId,
            InvalidToken::UnknownKey,
            InvalidToken::Signature,
            InvalidToken::Issuer,
            InvalidToken::Audience,
            InvalidToken::Expired,
            InvalidToken::NotYetValid,
            InvalidToken::Revoked,
            InvalidToken::DeviceMissing,
            InvalidToken::DeviceMismatch,
        ];
        for why in all {
            assert!(!why.to_string().contains(['"', '\\']), "{why}");
        }
    }
}
