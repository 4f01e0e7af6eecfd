//! Talking to the issuer: the client credentials, their HTTP Basic header, and bounded JSON reads.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use serde::de::DeserializeOwned;

use crate::error::FetchError;

/// Largest metadata, JWKS or introspection document read from the issuer.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A confidential client of the issuer: what the guard authenticates with at the revocation feed
/// and the introspection endpoint. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct ClientCredentials {
    pub id: String,
    secret: String,
}

impl ClientCredentials {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { id: id.into(), secret: secret.into() }
    }

    /// `Authorization: Basic …` as RFC 6749 §2.3.1 wants it: id and secret form-encoded first.
    /// Marked sensitive, so HTTP libraries that log headers leave it out.
    pub(crate) fn basic_header(&self) -> HeaderValue {
        let pair = format!("{}:{}", form_encode(&self.id), form_encode(&self.secret));
        let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The body of a successful response, at most `limit` bytes.
pub(crate) async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, FetchError> {
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON document of at most [`MAX_DOCUMENT_BYTES`].
pub(crate) async fn read_json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, FetchError> {
    let body = read_bounded(response, MAX_DOCUMENT_BYTES).await?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_form_encodes_then_base64s() {
        let creds = ClientCredentials::new("pc_abc", "s3cr:t é");
        let value = creds.basic_header();
        assert!(value.is_sensitive());
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap(), b"pc_abc:s3cr%3At+%C3%A9");
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", ClientCredentials::new("pc_abc", "topsecret"));
        assert!(shown.contains("pc_abc") && !shown.contains("topsecret"));
    }
}
