//! The issuer's signing keys: the JWKS fetched, parsed once into aws-lc RS256 keys, refreshed as
//! its `Cache-Control: max-age` says, refetched once (single-flight, rate-limited) when a token
//! names an unknown `kid`, and kept while the issuer is unreachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::CACHE_CONTROL;
use portcullis_proto::{Jwk, JwkSet};

use crate::client::read_json;
use crate::error::FetchError;

/// How long keys are kept before a refresh when the JWKS response carries no `max-age`.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// Floor and ceiling on the refresh interval, whatever `max-age` says.
pub const MIN_JWKS_MAX_AGE: Duration = Duration::from_secs(1);
pub const MAX_JWKS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// At most one refetch for unknown `kid`s in this interval: a storm of tokens with made-up `kid`s
/// costs the issuer one request per interval, not one per token.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// RSA-2048, the smallest modulus RS256 keys may have (RFC 7518 §3.3).
const MIN_MODULUS_BYTES: usize = 256;
/// First and longest wait before retrying a failed periodic refresh.
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// One published key, usable only for RS256 (PKCS#1 v1.5, SHA-256, 2048 to 8192 bits).
pub(crate) struct VerifyingKey {
    pub kid: String,
    pub key: ParsedPublicKey,
}

/// The keys of one JWKS fetch.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// The usable keys of `jwks`: RSA, RS256 (or no `alg`), `use` sig (or none). Others are skipped.
    pub fn from_jwks(jwks: &JwkSet) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| match parse_key(jwk) {
                Some(key) => Some(key),
                None => {
                    tracing::warn!(kid = %jwk.kid, kty = %jwk.kty, alg = %jwk.alg, "JWKS key skipped: not an RS256 signing key");
                    None
                }
            })
            .collect();
        Self { keys }
    }

    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_key(jwk: &Jwk) -> Option<VerifyingKey> {
    let usable = jwk.kty == "RSA"
        && (jwk.alg.is_empty() || jwk.alg == "RS256")
        && (jwk.use_.is_empty() || jwk.use_ == "sig")
        && !jwk.kid.is_empty();
    if !usable {
        return None;
    }
    let n = URL_SAFE_NO_PAD.decode(&jwk.n).ok()?;
    let e = URL_SAFE_NO_PAD.decode(&jwk.e).ok()?;
    let components = RsaPublicKeyComponents { n: strip_zeros(&n), e: strip_zeros(&e) };
    // Checked by aws-lc at each verification too; refusing here keeps the key out of the set.
    if components.n.len() < MIN_MODULUS_BYTES {
        return None;
    }
    let key = components.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256).ok()?;
    Some(VerifyingKey { kid: jwk.kid.clone(), key })
}

/// Big-endian integers without leading zero bytes, as aws-lc wants them.
fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// `max-age` of a `Cache-Control` value; `Some(0)` for `no-cache`/`no-store`; clamped.
pub(crate) fn max_age(cache_control: Option<&str>) -> Duration {
    let mut age = None;
    for directive in cache_control.unwrap_or("").split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            age = Some(0);
        } else if let Some(v) = lower.strip_prefix("max-age=")
            && let Ok(secs) = v.trim_matches('"').parse::<u64>()
        {
            age = Some(age.map_or(secs, |a: u64| a.min(secs)));
        }
    }
    age.map_or(DEFAULT_JWKS_MAX_AGE, Duration::from_secs).clamp(MIN_JWKS_MAX_AGE, MAX_JWKS_MAX_AGE)
}

/// The key cache shared by the verifiers and the refresh task.
pub(crate) struct Jwks {
    uri: String,
    http: reqwest::Client,
    timeout: Duration,
    current: ArcSwap<KeySet>,
    /// Serialises unknown-`kid` refetches and remembers when the last one ran.
    unknown_kid: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl Jwks {
    pub fn new(uri: String, http: reqwest::Client, timeout: Duration) -> Self {
        Self {
            uri,
            http,
            timeout,
            current: ArcSwap::from_pointee(KeySet::default()),
            unknown_kid: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The keys now in force.
    pub fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.current.load()
    }

    /// Fetches the JWKS and, unless it holds no usable key, makes it current. Returns its max-age.
    pub async fn fetch(&self) -> Result<(Duration, usize), FetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let response = self.http.get(&self.uri).timeout(self.timeout).send().await?;
        let age = max_age(response.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()));
        let jwks: JwkSet = read_json(response).await?;
        let set = KeySet::from_jwks(&jwks);
        let n = set.len();
        if set.is_empty() {
            tracing::warn!(uri = %self.uri, "the JWKS holds no usable key; keeping the keys already known");
        } else {
            self.current.store(Arc::new(set));
        }
        Ok((age, n))
    }

    /// Called when a token names `kid` and no current key has it: refetches the JWKS unless one
    /// refetch ran in the last [`UNKNOWN_KID_REFETCH_INTERVAL`]. Concurrent callers wait for the
    /// one refetch in flight. True when `kid` is known afterwards.
    pub async fn refetch_for(&self, kid: &str) -> bool {
        let mut last = self.unknown_kid.lock().await;
        if self.current().find(kid).is_some() {
            return true;
        }
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(_) => self.current().find(kid).is_some(),
            Err(error) => {
                tracing::warn!(uri = %self.uri, %error, "JWKS refetch for an unknown kid failed; keeping the keys already known");
                false
            }
        }
    }

    /// Refreshes the keys every max-age, for as long as the task lives. A failed refresh keeps
    /// the keys held and is retried sooner, with backoff, but never later than max-age.
    pub async fn refresh_forever(self: Arc<Self>, mut max_age: Duration) {
        let mut retry = RETRY_MIN;
        let mut wait = max_age;
        loop {
            tokio::time::sleep(wait).await;
            match self.fetch().await {
                Ok((age, keys)) => {
                    tracing::debug!(keys, max_age_secs = age.as_secs(), "JWKS refreshed");
                    max_age = age;
                    wait = age;
                    retry = RETRY_MIN;
                }
                Err(error) => {
                    wait = retry.min(max_age);
                    tracing::warn!(uri = %self.uri, %error, retry_in_secs = wait.as_secs(), "JWKS refresh failed; keeping the keys already known");
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// JWKS requests made so far (initial, periodic and unknown-`kid`).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_and_clamped() {
        assert_eq!(max_age(Some("public, max-age=300")), Duration::from_secs(300));
        assert_eq!(max_age(Some("Max-Age=60")), Duration::from_secs(60));
        assert_eq!(max_age(None), DEFAULT_JWKS_MAX_AGE);
        assert_eq!(max_age(Some("public")), DEFAULT_JWKS_MAX_AGE);
        assert_eq!(max_age(Some("no-store")), MIN_JWKS_MAX_AGE);
        assert_eq!(max_age(Some("max-age=0")), MIN_JWKS_MAX_AGE);
        assert_eq!(max_age(Some("max-age=99999999")), MAX_JWKS_MAX_AGE);
        assert_eq!(max_age(Some("max-age=abc")), DEFAULT_JWKS_MAX_AGE);
    }

    #[test]
    fn only_rs256_signing_keys_are_kept() {
        let good = Jwk::rs256("k1".into(), URL_SAFE_NO_PAD.encode([0xC5u8; 256]), "AQAB".into());
        let mut hs = good.clone();
        hs.alg = "HS256".into();
        hs.kid = "k2".into();
        let mut enc = good.clone();
        enc.use_ = "enc".into();
        enc.kid = "k3".into();
        let mut short = good.clone();
        short.n = URL_SAFE_NO_PAD.encode([0xC5u8; 1]);
        short.kid = "k4".into();
        let set = KeySet::from_jwks(&JwkSet { keys: vec![good, hs, enc, short] });
        assert!(set.find("k1").is_some());
        assert!(set.find("k2").is_none() && set.find("k3").is_none());
        assert!(set.find("k4").is_none(), "a modulus under 2048 bits is refused");
        assert_eq!(set.len(), 1);
    }
}
