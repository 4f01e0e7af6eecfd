//! `OAuthError`: one variant per RFC 6749 §5.2 error code.

use std::borrow::Cow;

use portcullis_domain::error::Cause;
use portcullis_proto::{ErrorBody, ErrorCode};

type Text = Cow<'static, str>;

/// A token-endpoint failure, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(Text),
    /// Client authentication failed. `basic`: the client used HTTP Basic, so the answer
    /// carries `WWW-Authenticate` (RFC 6749 §5.2).
    #[error("invalid_client: {description}")]
    InvalidClient { description: Text, basic: bool },
    #[error("invalid_grant: {0}")]
    InvalidGrant(Text),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Text),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Text),
    #[error("invalid_scope: {0}")]
    InvalidScope(Text),
    /// The client authenticated but is not a resource server, which introspection and the
    /// revocation feed require: 403.
    #[error("unauthorized_client: not a resource server")]
    NotResourceServer,
    /// Past a limit (login attempts for a username or address, one-time codes for a
    /// destination, an address or a client): 429 with `Retry-After`.
    #[error("temporarily_unavailable: {description}")]
    TooManyAttempts { retry_after: u64, description: Text },
    /// The node cannot take this request now (the password checks are queued full): 503 with
    /// `Retry-After`.
    #[error("temporarily_unavailable: too busy")]
    Busy { retry_after: u64 },
    /// Something the request needs is down (the one-time-code sender): 503 with `Retry-After`.
    #[error("temporarily_unavailable: {description}")]
    Unavailable { retry_after: u64, description: Text },
    /// The server failed. The cause is logged once, at the edge, and never shown.
    #[error("server_error: {0}")]
    Server(Cause),
}

impl OAuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::InvalidClient { .. } => ErrorCode::InvalidClient,
            Self::InvalidGrant(_) => ErrorCode::InvalidGrant,
            Self::UnauthorizedClient(_) | Self::NotResourceServer => ErrorCode::UnauthorizedClient,
            Self::UnsupportedGrantType(_) => ErrorCode::UnsupportedGrantType,
            Self::InvalidScope(_) => ErrorCode::InvalidScope,
            Self::TooManyAttempts { .. } | Self::Busy { .. } | Self::Unavailable { .. } => {
                ErrorCode::TemporarilyUnavailable
            }
            Self::Server(_) => ErrorCode::ServerError,
        }
    }

    /// HTTP status: 401 for client authentication, 429 and 503 when it must wait, 500 for our own
    /// failures, else 400.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } => 401,
            Self::NotResourceServer => 403,
            Self::TooManyAttempts { .. } => 429,
            Self::Busy { .. } | Self::Unavailable { .. } => 503,
            Self::Server(_) => 500,
            _ => 400,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d) => d,
            Self::InvalidClient { description, .. } => description,
            Self::NotResourceServer => {
                "this client is not registered as a resource server (client create --resource-server)"
            }
            Self::TooManyAttempts { description, .. } | Self::Unavailable { description, .. } => description,
            Self::Busy { .. } => "the server is too busy checking passwords; retry after Retry-After",
            Self::Server(_) => "the server could not complete the request",
        }
    }

    /// The `WWW-Authenticate` value, when the client authenticated with HTTP Basic.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Self::InvalidClient { basic: true, .. } => Some(r#"Basic realm="portcullis", charset="UTF-8""#),
            _ => None,
        }
    }

    /// Seconds for `Retry-After`, when the client should wait.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts { retry_after, .. }
            | Self::Busy { retry_after }
            | Self::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code(), error_description: self.description().to_owned() }
    }

    pub fn invalid_request(d: impl Into<Text>) -> Self {
        Self::InvalidRequest(d.into())
    }

    pub fn invalid_client(d: impl Into<Text>, basic: bool) -> Self {
        Self::InvalidClient { description: d.into(), basic }
    }

    /// A failure of ours, while doing `what`, caused by `e`.
    pub fn server(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Server(Cause::context(what, e))
    }

    /// A broken invariant of ours, with no error behind it.
    pub fn broken(what: impl Into<String>) -> Self {
        Self::Server(Cause::msg(what))
    }

    /// Why the server failed, for the log; `None` for the client's errors.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Self::Server(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        assert_eq!(OAuthError::invalid_client("x", true).status(), 401);
        assert!(OAuthError::invalid_client("x", true).www_authenticate().is_some());
        assert!(OAuthError::invalid_client("x", false).www_authenticate().is_none());
        assert_eq!(OAuthError::InvalidScope("s".into()).status(), 400);
        assert_eq!(OAuthError::InvalidScope("s".into()).body().error, ErrorCode::InvalidScope);
        assert_eq!(OAuthError::broken("x").status(), 500);
        assert!(OAuthError::broken("x").cause().is_some() && OAuthError::InvalidScope("s".into()).cause().is_none());
    }
}
