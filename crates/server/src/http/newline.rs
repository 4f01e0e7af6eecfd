//! Every JSON body ends with a newline, as `curl` users and line-oriented tools expect
//! (serde_json writes none).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// JSON bodies are small (lists are paged); the OpenAPI document is the largest.
const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|ct| ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json")))
}

pub async fn end_json_with_newline(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if !is_json(&res) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return crate::http::error::ApiError::internal(portcullis_domain::error::Cause::context(
                "a JSON body could not be read to its end",
                e,
            ))
            .into_response();
        }
    };
    if bytes.ends_with(b"\n") {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut text = Vec::with_capacity(bytes.len() + 1);
    text.extend_from_slice(&bytes);
    text.push(b'\n');
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}
