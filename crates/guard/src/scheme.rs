//! Finding the access token in a request: one `Authorization` header whose scheme is one the
//! guard accepts (`Bearer`, and others such as `JWT` only when opted in).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::{AuthError, InvalidToken};

/// Where else than the `Authorization` header a token may come (RFC 6750 §2.2, §2.3), each off
/// unless a resource server opts in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenPlaces {
    /// `?access_token=…` (for `EventSource` and WebSocket, which cannot set a header).
    pub query: bool,
    /// `access_token=…` in a form-encoded body (read by `GuardLayer` only).
    pub form_body: bool,
}

/// The `access_token` parameter of a query or a form body: `None` when there is none; two of
/// them, or an empty one, is malformed.
pub fn access_token_param(encoded: &str) -> Result<Option<String>, AuthError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(encoded).map_err(|_| AuthError::from(InvalidToken::MalformedHeader))?;
    let mut found = pairs.into_iter().filter(|(k, _)| k == "access_token").map(|(_, v)| v);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(token), None) if !token.is_empty() && !token.contains([' ', '\t']) => Ok(Some(token)),
        _ => Err(InvalidToken::MalformedHeader.into()),
    }
}

/// The authentication schemes accepted in `Authorization`, compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSchemes(Vec<String>);

impl Default for AuthSchemes {
    /// Only `Bearer` (RFC 6750).
    fn default() -> Self {
        Self(vec!["Bearer".to_owned()])
    }
}

impl AuthSchemes {
    pub fn accept(&mut self, scheme: &str) {
        if !self.0.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            self.0.push(scheme.to_owned());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The token of the request's `Authorization` header.
    ///
    /// No header, or one of a scheme not accepted, is [`AuthError::Missing`] (the request carries
    /// no credentials we understand); two headers, or an empty or spaced token, are malformed.
    pub fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, AuthError> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(AuthError::Missing);
        };
        if values.next().is_some() {
            return Err(InvalidToken::MalformedHeader.into());
        }
        let value = value.to_str().map_err(|_| InvalidToken::MalformedHeader)?;
        let (scheme, rest) = value.trim_start().split_once(' ').unwrap_or((value.trim(), ""));
        if !self.0.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return Err(AuthError::Missing);
        }
        let token = rest.trim_matches(' ');
        if token.is_empty() || token.contains([' ', '\t']) {
            return Err(InvalidToken::MalformedHeader.into());
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_access_token_parameter_is_found_once_and_decoded() {
        assert_eq!(access_token_param("a=1&access_token=x.y%2Ez"), Ok(Some("x.y.z".to_owned())));
        assert_eq!(access_token_param("a=1"), Ok(None));
        assert_eq!(access_token_param(""), Ok(None));
        assert!(access_token_param("access_token=a&access_token=b").is_err(), "two are malformed");
        assert!(access_token_param("access_token=").is_err());
        assert!(access_token_param("access_token=a%20b").is_err());
    }

    #[test]
    fn bearer_only_by_default() {
        let s = AuthSchemes::default();
        assert_eq!(s.token(&headers(&["Bearer abc.def.ghi"])), Ok("abc.def.ghi"));
        assert_eq!(s.token(&headers(&["bearer   abc "])), Ok("abc"));
        assert_eq!(s.token(&headers(&["JWT abc"])), Err(AuthError::Missing));
        assert_eq!(s.token(&headers(&["Basic dXNlcjpwdw=="])), Err(AuthError::Missing));
        assert_eq!(s.token(&headers(&[])), Err(AuthError::Missing));
    }

    #[test]
    fn other_schemes_on_opt_in() {
        let mut s = AuthSchemes::default();
        s.accept("JWT");
        assert_eq!(s.token(&headers(&["JWT abc"])), Ok("abc"));
        assert_eq!(s.token(&headers(&["Bearer abc"])), Ok("abc"));
    }

    #[test]
    fn malformed_headers() {
        let s = AuthSchemes::default();
        let bad = AuthError::InvalidToken(InvalidToken::MalformedHeader);
        assert_eq!(s.token(&headers(&["Bearer"])), Err(bad.clone()));
        assert_eq!(s.token(&headers(&["Bearer "])), Err(bad.clone()));
        assert_eq!(s.token(&headers(&["Bearer a b"])), Err(bad.clone()));
        assert_eq!(s.token(&headers(&["Bearer a", "Bearer b"])), Err(bad));
    }
}
