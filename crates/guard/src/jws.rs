//! The hot path: a compact JWS split and decoded once, its header pinned to RS256 `at+jwt`,
//! its signature checked with a pre-parsed aws-lc key, its claims checked against the issuer,
//! the audience and the clock.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_proto::{ACCESS_TOKEN_TYP, AccessTokenClaims};
use serde::Deserialize;

use crate::error::InvalidToken;

/// Longest token accepted, in bytes. Portcullis tokens are well under 2 KiB; the bound keeps an
/// attacker from making the guard decode and parse megabytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock difference tolerated on `exp` and `nbf`, in seconds. It protects against small skew
/// between the clock of the issuer that minted the token and the clock of this resource server:
/// without it a token minted on a node whose clock runs a little ahead is "not valid yet" here.
/// It lengthens an access token's life by at most this much; revocation is not affected.
pub const LEEWAY_SECS: i64 = 30;

/// Longest base64url header accepted (ours is about 100 characters).
const MAX_HEADER_B64: usize = 1024;
/// Largest RSA signature accepted: RSA-8192, the top of `RSA_PKCS1_2048_8192_SHA256`.
const MAX_SIGNATURE_BYTES: usize = 1024;

/// The JOSE header, borrowed from the decoded bytes where it can be.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    /// Critical extensions: we understand none, so any makes the token invalid (RFC 7515 §4.1.11).
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
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
        if token.len() > MAX_TOKEN_BYTES {
            return Err(InvalidToken::TooLarge);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(InvalidToken::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(InvalidToken::Malformed)?;
        if header.len() > MAX_HEADER_B64 || payload.contains('.') {
            return Err(InvalidToken::Malformed);
        }
        let mut buf = [0u8; MAX_HEADER_B64 / 4 * 3];
        let n = URL_SAFE_NO_PAD.decode_slice(header, &mut buf).map_err(|_| InvalidToken::Malformed)?;
        let header: Header<'_> = serde_json::from_slice(&buf[..n]).map_err(|_| InvalidToken::Malformed)?;
        // The algorithm is pinned by us, never chosen by the token: `none`, HS256 and the rest fail.
        if header.alg != "RS256" {
            return Err(InvalidToken::Algorithm);
        }
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(InvalidToken::Type);
        }
        if header.crit.is_some() {
            return Err(InvalidToken::Malformed);
        }
        let kid = header.kid.ok_or(InvalidToken::MissingKeyId)?.into_owned();
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

    /// The claims; call only after [`Self::verify_signature`].
    pub fn claims(&self) -> Result<AccessTokenClaims, InvalidToken> {
        let mut buf = [0u8; MAX_TOKEN_BYTES / 4 * 3];
        let n = URL_SAFE_NO_PAD.decode_slice(self.payload, &mut buf).map_err(|_| InvalidToken::Malformed)?;
        serde_json::from_slice(&buf[..n]).map_err(|_| InvalidToken::Malformed)
    }
}

/// `at+jwt`, or its full media type, compared case-insensitively (RFC 9068 §2.1, RFC 7515 §4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
        || typ.get(..12).is_some_and(|p| p.eq_ignore_ascii_case("application/"))
            && typ[12..].eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

/// Checks `iss`, `aud`, `exp` and `nbf` (with [`LEEWAY_SECS`]) at `now` (seconds since the epoch).
pub(crate) fn check_claims(
    claims: &AccessTokenClaims,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<(), InvalidToken> {
    if claims.iss != issuer {
        return Err(InvalidToken::Issuer);
    }
    if claims.aud != audience {
        return Err(InvalidToken::Audience);
    }
    if now >= claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(InvalidToken::Expired);
    }
    if now.saturating_add(LEEWAY_SECS) < claims.nbf {
        return Err(InvalidToken::NotYetValid);
    }
    Ok(())
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
    fn header_must_be_rs256_at_jwt_with_kid() {
        let ok = token(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#);
        assert_eq!(Jws::parse(&ok).map(|j| j.kid), Ok("k1".into()));
        let full_media_type = token(r#"{"alg":"RS256","typ":"application/AT+JWT","kid":"k1"}"#);
        assert!(Jws::parse(&full_media_type).is_ok());
        for (header, why) in [
            (r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#, InvalidToken::Algorithm),
            (r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#, InvalidToken::Algorithm),
            (r#"{"alg":"rs256","typ":"at+jwt","kid":"k1"}"#, InvalidToken::Algorithm),
            (r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#, InvalidToken::Type),
            (r#"{"alg":"RS256","kid":"k1"}"#, InvalidToken::Type),
            (r#"{"alg":"RS256","typ":"at+jwt"}"#, InvalidToken::MissingKeyId),
            (r#"{"alg":"RS256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#, InvalidToken::Malformed),
            (r#"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"k1"}"#, InvalidToken::Malformed),
        ] {
            assert_eq!(Jws::parse(&token(header)).map(|j| j.kid), Err(why), "{header}");
        }
    }

    #[test]
    fn shape_and_size_are_bounded() {
        let h = b64(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#);
        for bad in [String::new(), "a.b".into(), format!("{h}.e30.sig.x"), format!("{h}=.e30.sig"), "..".into()] {
            assert!(Jws::parse(&bad).is_err(), "{bad}");
        }
        let huge = format!("{h}.{}.sig", "A".repeat(MAX_TOKEN_BYTES));
        assert_eq!(Jws::parse(&huge).map(|j| j.kid), Err(InvalidToken::TooLarge));
    }

    fn claims(exp: i64, nbf: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://i".into(),
            sub: "u".into(),
            aud: "api".into(),
            exp,
            iat: nbf,
            nbf,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "read".into(),
            sid: None,
            dfp: None,
        }
    }

    #[test]
    fn times_are_checked_with_the_leeway() {
        let now = 1_000_000;
        assert_eq!(check_claims(&claims(now + 1, now), "http://i", "api", now), Ok(()));
        assert_eq!(check_claims(&claims(now - LEEWAY_SECS + 1, now - 900), "http://i", "api", now), Ok(()));
        assert_eq!(
            check_claims(&claims(now - LEEWAY_SECS, now - 900), "http://i", "api", now),
            Err(InvalidToken::Expired)
        );
        assert_eq!(check_claims(&claims(now + 900, now + LEEWAY_SECS), "http://i", "api", now), Ok(()));
        assert_eq!(
            check_claims(&claims(now + 900, now + LEEWAY_SECS + 1), "http://i", "api", now),
            Err(InvalidToken::NotYetValid)
        );
        assert_eq!(check_claims(&claims(now + 1, now), "http://j", "api", now), Err(InvalidToken::Issuer));
        assert_eq!(check_claims(&claims(now + 1, now), "http://i", "apix", now), Err(InvalidToken::Audience));
    }
}
