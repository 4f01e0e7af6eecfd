//! Introspection mode: asks the issuer's RFC 7662 endpoint whether a (locally verified) token is
//! still active, and remembers the answer for a short, bounded while.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION};
use portcullis_proto::{AccessTokenClaims, IntrospectionResponse};

use crate::client::read_json;
use crate::error::FetchError;

/// Most answers remembered; when full, expired answers go, and if none has, all of them.
pub const INTROSPECTION_CACHE_ENTRIES: usize = 10_000;

pub(crate) struct Introspector {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub authorization: HeaderValue,
    pub timeout: Duration,
    pub ttl: Duration,
    /// `jti` → (active, remembered until). Keyed by `jti` because the token's signature has been
    /// verified before we get here: the `jti` is the issuer's, not the caller's choice.
    cache: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Introspector {
    pub fn new(
        http: reqwest::Client,
        endpoint: String,
        authorization: HeaderValue,
        timeout: Duration,
        ttl: Duration,
    ) -> Self {
        Self { http, endpoint, authorization, timeout, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// Whether the issuer still considers the token active.
    pub async fn is_active(&self, token: &str, claims: &AccessTokenClaims) -> Result<bool, FetchError> {
        let now = Instant::now();
        let cached = self.lock().get(&claims.jti).copied();
        if let Some((active, until)) = cached
            && now < until
        {
            return Ok(active);
        }
        let response = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await?;
        let answer: IntrospectionResponse = read_json(response).await?;
        // An active answer for another token would be a confused issuer: treat it as inactive.
        let active = answer.active && answer.jti.as_deref().is_none_or(|j| j == claims.jti);
        if !self.ttl.is_zero() {
            self.remember(&claims.jti, active, now + self.ttl);
        }
        Ok(active)
    }

    fn remember(&self, jti: &str, active: bool, until: Instant) {
        let mut cache = self.lock();
        if cache.len() >= INTROSPECTION_CACHE_ENTRIES && !cache.contains_key(jti) {
            let now = Instant::now();
            cache.retain(|_, (_, u)| *u > now);
            if cache.len() >= INTROSPECTION_CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(jti.to_owned(), (active, until));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, Instant)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_bounded() {
        let i = Introspector::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/introspect".into(),
            HeaderValue::from_static("Basic x"),
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        let until = Instant::now() + Duration::from_secs(60);
        for n in 0..INTROSPECTION_CACHE_ENTRIES + 5 {
            i.remember(&n.to_string(), true, until);
            assert!(i.cached() <= INTROSPECTION_CACHE_ENTRIES);
        }
        assert!(i.cached() >= 1);
    }
}
