//! The two error shapes at the edge: `OAuthError` (RFC 6749 §5.2, with `WWW-Authenticate`
//! when the client used Basic) and `ApiError` for everything else. Both are JSON with `error`
//! and `error_description`; a 5xx never says more than that something went wrong. This is the
//! edge where an internal failure's cause is logged, once, with its whole source chain.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_domain::error::Cause;
use portcullis_oauth::OAuthError;
use portcullis_proto::{ErrorBody, ErrorCode};

/// `OAuthError` as a response.
pub struct OAuthErrorResponse(pub OAuthError);

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        if let Some(cause) = self.0.cause() {
            log_cause(cause);
        }
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(self.0.body())).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = self.0.www_authenticate() {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(secs) = self.0.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// A non-OAuth API error.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub description: String,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
    /// Why the server failed (5xx only): logged when the response is made, never sent.
    pub cause: Option<Cause>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into(), retry_after: None, cause: None }
    }
}

/// The one log line of an internal failure.
fn log_cause(cause: &Cause) {
    tracing::error!(cause = %cause.chain(), "request failed inside the server");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            log_cause(cause);
        }
        let mut res =
            (self.status, Json(ErrorBody { error: self.code, error_description: self.description })).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such endpoint")
}

impl From<crate::ops::OpError> for ApiError {
    fn from(e: crate::ops::OpError) -> Self {
        use crate::ops::OpError;
        match e {
            OpError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, m),
            OpError::Conflict(what) => {
                Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, format!("{what} already exists"))
            }
            OpError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no such {what}")),
            OpError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, ErrorCode::AccessDenied, m),
            OpError::Busy(m) => {
                let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::TemporarilyUnavailable, m);
                e.retry_after = Some(1);
                e
            }
            OpError::Store(e) => Self::internal(Cause::new(e)),
            OpError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<portcullis_oauth::ControlError> for ApiError {
    fn from(e: portcullis_oauth::ControlError) -> Self {
        use portcullis_oauth::ControlError as E;
        match e {
            E::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, m),
            E::NotFound(what) => Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no such {what}")),
            E::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, ErrorCode::AccessDenied, m),
            E::Throttled { retry_after } => {
                Self::throttled(retry_after, "too many wrong passwords; wait and try again (see Retry-After)")
            }
            E::Busy { retry_after } => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable,
                    "the server is too busy checking passwords; retry after Retry-After",
                );
                e.retry_after = Some(retry_after);
                e
            }
            E::Store(e) => Self::internal(Cause::new(e)),
            E::Internal(cause) => Self::internal(cause),
        }
    }
}

impl ApiError {
    /// 429 with `Retry-After`.
    pub fn throttled(retry_after: u64, description: &str) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::TemporarilyUnavailable,
            description: description.to_owned(),
            retry_after: Some(retry_after),
            cause: None,
        }
    }

    /// 500 `server_error`; `cause` goes to the log only.
    pub fn internal(cause: Cause) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::ServerError, "something went wrong");
        e.cause = Some(cause);
        e
    }
}

/// A JSON body, or 400 `invalid_request` saying what is wrong with it.
/// A JSON body that must be an object (serde would also read a struct from an array of its
/// fields in order, which no schema of ours allows).
pub fn json_object<T: serde::de::DeserializeOwned>(
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    let object = json_body(body)?;
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, format!("the JSON body: {e}")))
}

pub fn json_body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, e.body_text()))
}
