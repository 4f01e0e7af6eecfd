//! The hot path: a compact JWS split and decoded once, checked by the rules of
//! `portcullis_proto::validation` (the same the authorization server applies: RS256 pinned,
//! `at+jwt`, no `crit`, a `kid`; then `iss`, `aud`, `exp` and `nbf` with one leeway), its
//! signature checked with a pre-parsed aws-lc key.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_proto::AccessTokenClaims;
use portcullis_proto::validation::{self, MAX_HEADER_B64, Rejection};
pub use portcullis_proto::validation::{LEEWAY_SECS, MAX_TOKEN_BYTES};

use crate::error::InvalidToken;

/// Largest RSA signature accepted: RSA-8192, the top of `RSA_PKCS1_2048_8192_SHA256`.
const MAX_SIGNATURE_BYTES: usize = 1024;

impl From<Rejection> for InvalidToken {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Malformed => Self::Malformed,
            Rejection::TooLarge => Self::TooLarge,
            Rejection::Algorithm => Self::Algorithm,
            Rejection::Type => Self::Type,
            Rejection::MissingKeyId => Self::MissingKeyId,
            Rejection::Issuer => Self::Issuer,
            Rejection::Audience => Self::Audience,
            Rejection::Expired => Self::Expired,
            Rejection::NotYetValid => Self::NotYetValid,
        }
    }
}

/// A compact JWS whose header passed: RS256, `at+jwt`, a `kid`.
#[derive(Debug)]
pub(crate) struct Jws<'t> {
    pub kid: String,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t [u8],
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Jws<'t> {
    pub fn parse(token: &'t str) -> Result<Self, InvalidToken> {
        let (header, payload, signature, signing_input) = validation::split(token)?;
        let mut buf = [0u8; MAX_HEADER_B64 / 4 * 3];
        let n = URL_SAFE_NO_PAD.decode_slice(header, &mut buf).map_err(|_| InvalidToken::Malformed)?;
        let kid = validation::check_header(&buf[..n])?;
        Ok(Self { kid, signing_input: signing_input.as_bytes(), payload, signature })
    }

    /// Checks the signature with `key`, which is an RS256 key (`RSA_PKCS1_2048_8192_SHA256`).
    pub fn verify_signature(&self, key: &ParsedPublicKey) -> Result<(), InvalidToken> {
        if self.signature.len() > MAX_SIGNATURE_BYTES.div_ceil(3) * 4 {
            return Err(InvalidToken::Signature);
        }
        let mut sig = [0u8; MAX_SIGNATURE_BYTES.div_ceil(3) * 3];
        let n = URL_SAFE_NO_PAD.decode_slice(self.signature, &mut sig).map_err(|_| InvalidToken::Malformed)?;
        key.verify_sig(self.signing_input, &sig[..n]).map_err(|_| InvalidToken::Signature)
    }

    /// The claims, checked against `issuer`, `audience` and `now`; call only after
    /// [`Self::verify_signature`].
    pub fn claims(&self, issuer: &str, audience: &str, now: i64) -> Result<AccessTokenClaims, InvalidToken> {
        let mut buf = [0u8; MAX_TOKEN_BYTES / 4 * 3];
        let n = URL_SAFE_NO_PAD.decode_slice(self.payload, &mut buf).map_err(|_| InvalidToken::Malformed)?;
        Ok(validation::check_claims(&buf[..n], issuer, audience, now)?)
    }
}

/// Seconds since the epoch: the one place the guard reads the wall clock for token times.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str) -> String {
        format!("{}.{}.{}", b64(header), b64("{}"), b64("sig"))
    }

    #[test]
    fn the_shared_rules_decide_the_header() {
        let ok = token(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#);
        assert_eq!(Jws::parse(&ok).map(|j| j.kid), Ok("k1".into()));
        let none = token(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        assert_eq!(Jws::parse(&none).map(|j| j.kid), Err(InvalidToken::Algorithm));
        let crit = token(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#);
        assert_eq!(Jws::parse(&crit).map(|j| j.kid), Err(InvalidToken::Malformed));
        let h = b64(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#);
        let huge = format!("{h}.{}.sig", "A".repeat(MAX_TOKEN_BYTES));
        assert_eq!(Jws::parse(&huge).map(|j| j.kid), Err(InvalidToken::TooLarge));
        assert_eq!(Jws::parse(&format!("{h}=.e30.sig")).map(|j| j.kid), Err(InvalidToken::Malformed));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text: an answer, never a panic, and never a JWS without a `kid`.
        #[test]
        fn parse_never_panics(token in any::<String>()) {
            if let Ok(jws) = Jws::parse(&token) {
                prop_assert!(!jws.kid.is_empty());
            }
        }

        /// A token of the right shape whose parts are any base64url: the decoders are bounded,
        /// so an oversized or garbled part is refused, never a panic or an out-of-bounds write.
        #[test]
        fn base64_parts_of_any_length(h in "[A-Za-z0-9_-]{1,1500}", p in "[A-Za-z0-9_-]{1,400}", s in "[A-Za-z0-9_-]{0,1500}") {
            let token = format!("{h}.{p}.{s}");
            if let Ok(jws) = Jws::parse(&token) {
                let _ = jws.claims("https://issuer", "aud", 0);
            }
        }
    }
}
