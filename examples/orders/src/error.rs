//! `ApiError`: the service's own refusals, as `{"error", "error_description"}`. Token refusals
//! come from the guard (`portcullis_guard::AuthError`) in the same shape.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl ApiError {
    pub fn invalid(description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "invalid_request", description: description.into() }
    }

    pub fn not_found() -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "not_found", description: "no such order".into() }
    }

    pub fn conflict(description: impl Into<String>) -> Self {
        Self { status: StatusCode::CONFLICT, code: "conflict", description: description.into() }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self { status: rejection.status(), code: "invalid_request", description: rejection.body_text() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "error_description": self.description});
        (self.status, Json(body)).into_response()
    }
}
