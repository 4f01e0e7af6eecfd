//! `Bearer`: the extractor of every endpoint that takes an access token (RFC 6750).
//!
//! Only our own live access tokens pass: a refresh token, a forged or expired JWT, or a token
//! of an ended session is answered 401 with `WWW-Authenticate: Bearer error="invalid_token"`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_oauth::TokenRejected;
use portcullis_proto::{AccessTokenClaims, ErrorCode};

use super::error::ApiError;
use crate::app::App;

/// The claims of the request's live access token.
#[derive(Debug, Clone)]
pub struct Bearer(pub AccessTokenClaims);

/// Why the bearer token was refused, as RFC 6750 §3 wants it told.
pub struct BearerRejection {
    status: StatusCode,
    code: ErrorCode,
    description: String,
}

impl BearerRejection {
    pub fn invalid(description: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, code: ErrorCode::InvalidToken, description: description.into() }
    }

    pub fn insufficient_scope(description: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, code: ErrorCode::InsufficientScope, description: description.into() }
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let challenge = format!(
            r#"Bearer realm="portcullis", error="{}", error_description="{}""#,
            self.code.as_str(),
            self.description.replace('"', "'")
        );
        let mut res = ApiError::new(self.status, self.code, self.description).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

impl FromRequestParts<App> for Bearer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(BearerRejection::invalid("send one Authorization: Bearer header").into_response());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                BearerRejection::invalid("the Authorization header must be: Bearer <access token>").into_response()
            })?;
        match app.tokens().live_claims(token).await {
            Ok(claims) => Ok(Bearer(claims)),
            Err(TokenRejected::Unavailable(cause)) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable,
                    "the token could not be checked; try again",
                );
                e.cause = Some(cause);
                Err(e.into_response())
            }
            Err(e) => Err(BearerRejection::invalid(e.to_string()).into_response()),
        }
    }
}

impl Bearer {
    /// The user token's subject and session, or 403 for a client-credentials token.
    pub fn user(&self) -> Result<(&str, &str), BearerRejection> {
        match &self.0.sid {
            Some(sid) => Ok((&self.0.sub, sid)),
            None => Err(BearerRejection::insufficient_scope("this endpoint needs a user's access token")),
        }
    }
}
