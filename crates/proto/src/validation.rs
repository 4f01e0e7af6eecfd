//! The rules a Portcullis access token must pass, in one place: the authorization server
//! (`portcullis_tokens::verify_access_token`) and the guard crate both apply exactly these,
//! each with its own signature check. Pure functions over parsed values: no I/O, no crypto.

use std::borrow::Cow;

use serde::Deserialize;

use crate::{ACCESS_TOKEN_TYP, AccessTokenClaims};

/// Longest token accepted, in bytes. Portcullis tokens are well under 2 KiB; the bound keeps a
/// caller from making a verifier decode and parse megabytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Longest base64url JOSE header accepted (ours is about 100 characters).
pub const MAX_HEADER_B64: usize = 1024;

/// Clock difference tolerated on `nbf`, in seconds. It protects against small skew between the
/// clock of the node that minted a token and the clock of the one checking it: without it a
/// token minted on a node whose clock runs a little ahead is "not valid yet" elsewhere. `exp`
/// gets none: a token is never accepted after its expiry by the checker's clock (skew the other
/// way only makes a client refresh a little early).
pub const LEEWAY_SECS: i64 = 30;

/// Why a token fails the rules. The text is safe to show a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not three base64url parts, an unreadable header or payload, or a `crit` header.
    Malformed,
    TooLarge,
    /// `alg` is not exactly `RS256`.
    Algorithm,
    /// `typ` is not `at+jwt` (RFC 9068 §2.1).
    Type,
    MissingKeyId,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
}

/// The JOSE header, borrowed from the decoded bytes where it can be.
#[derive(Debug, Deserialize)]
pub struct JoseHeader<'a> {
    #[serde(borrow)]
    pub alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub kid: Option<Cow<'a, str>>,
    /// Critical extensions: we understand none, so any makes the token invalid (RFC 7515 §4.1.11).
    #[serde(default)]
    pub crit: Option<serde::de::IgnoredAny>,
}

/// The parts of a compact JWS: `(header, payload, signature)` in base64url, and the signing
/// input (`header.payload`). Bounded in size; exactly three parts.
pub fn split(token: &str) -> Result<(&str, &str, &str, &str), Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::TooLarge);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(Rejection::Malformed)?;
    if header.len() > MAX_HEADER_B64 || payload.contains('.') || header.is_empty() || payload.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok((header, payload, signature, signing_input))
}

/// Parses a decoded JOSE header and checks it: `alg` exactly `RS256` (never chosen by the token:
/// `none`, HS256 and the rest fail), `typ` `at+jwt`, no `crit`, a `kid`. Returns the `kid`.
/// Duplicate members (`{"alg":"RS256","alg":"none"}`) are malformed.
pub fn check_header(json: &[u8]) -> Result<String, Rejection> {
    let header: JoseHeader<'_> = serde_json::from_slice(json).map_err(|_| Rejection::Malformed)?;
    if header.alg != "RS256" {
        return Err(Rejection::Algorithm);
    }
    if !header.typ.as_deref().is_some_and(is_access_token_type) {
        return Err(Rejection::Type);
    }
    if header.crit.is_some() {
        return Err(Rejection::Malformed);
    }
    header.kid.map(Cow::into_owned).ok_or(Rejection::MissingKeyId)
}

/// `at+jwt`, or its full media type, compared case-insensitively (RFC 9068 §2.1, RFC 7515 §4.1.9).
pub fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
        || typ.get(..12).is_some_and(|p| p.eq_ignore_ascii_case("application/"))
            && typ[12..].eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

/// Parses decoded claims (every claim of [`AccessTokenClaims`] required) and checks `iss`,
/// `aud`, `exp` and `nbf` (with [`LEEWAY_SECS`] on `nbf`) at `now` (seconds since the epoch).
pub fn check_claims(json: &[u8], issuer: &str, audience: &str, now: i64) -> Result<AccessTokenClaims, Rejection> {
    let claims: AccessTokenClaims = serde_json::from_slice(json).map_err(|_| Rejection::Malformed)?;
    check_claim_values(&claims, issuer, audience, now)?;
    Ok(claims)
}

/// [`check_claims`] on claims already parsed.
pub fn check_claim_values(claims: &AccessTokenClaims, issuer: &str, audience: &str, now: i64) -> Result<(), Rejection> {
    if claims.iss != issuer {
        return Err(Rejection::Issuer);
    }
    if claims.aud != audience {
        return Err(Rejection::Audience);
    }
    if now >= claims.exp {
        return Err(Rejection::Expired);
    }
    if now.saturating_add(LEEWAY_SECS) < claims.nbf {
        return Err(Rejection::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_must_be_rs256_at_jwt_with_kid_and_no_crit() {
        assert_eq!(check_header(br#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#), Ok("k1".into()));
        assert_eq!(check_header(br#"{"alg":"RS256","typ":"application/AT+JWT","kid":"k1"}"#), Ok("k1".into()));
        for (header, why) in [
            (r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#, Rejection::Algorithm),
            (r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#, Rejection::Algorithm),
            (r#"{"alg":"rs256","typ":"at+jwt","kid":"k1"}"#, Rejection::Algorithm),
            (r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#, Rejection::Type),
            (r#"{"alg":"RS256","kid":"k1"}"#, Rejection::Type),
            (r#"{"alg":"RS256","typ":"at+jwt"}"#, Rejection::MissingKeyId),
            (r#"{"alg":"RS256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#, Rejection::Malformed),
            (r#"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"k1"}"#, Rejection::Malformed),
            ("not json", Rejection::Malformed),
        ] {
            assert_eq!(check_header(header.as_bytes()), Err(why), "{header}");
        }
    }

    #[test]
    fn shape_and_size_are_bounded() {
        assert!(split("a.b.c").is_ok());
        for bad in ["", "a.b", "a.b.c.d", "..", ".b.c"] {
            assert!(split(bad).is_err(), "{bad}");
        }
        assert_eq!(split(&"A".repeat(MAX_TOKEN_BYTES + 1)), Err(Rejection::TooLarge));
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
        let check = |c: AccessTokenClaims, iss: &str, aud: &str| check_claim_values(&c, iss, aud, now);
        assert_eq!(check(claims(now + 1, now), "http://i", "api"), Ok(()));
        assert_eq!(check(claims(now, now - 900), "http://i", "api"), Err(Rejection::Expired), "no leeway past exp");
        assert_eq!(check(claims(now + 900, now + LEEWAY_SECS), "http://i", "api"), Ok(()));
        assert_eq!(check(claims(now + 900, now + LEEWAY_SECS + 1), "http://i", "api"), Err(Rejection::NotYetValid));
        assert_eq!(check(claims(now + 1, now), "http://j", "api"), Err(Rejection::Issuer));
        assert_eq!(check(claims(now + 1, now), "http://i", "apix"), Err(Rejection::Audience));
        assert_eq!(check_claims(br#"{"iss":"http://i"}"#, "http://i", "api", now), Err(Rejection::Malformed));
    }
}

/// Properties over untrusted bytes: whatever arrives, the checks answer without panicking, and
/// what they accept has the shape they promise.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn split_accepts_exactly_three_bounded_parts(token in "[A-Za-z0-9_.=-]{0,200}") {
            match split(&token) {
                Ok((h, p, s, input)) => {
                    prop_assert_eq!(token.matches('.').count(), 2);
                    prop_assert!(!h.is_empty() && !p.is_empty() && h.len() <= MAX_HEADER_B64);
                    prop_assert_eq!(format!("{h}.{p}"), input);
                    prop_assert_eq!(format!("{input}.{s}"), token);
                }
                Err(r) => prop_assert_eq!(r, Rejection::Malformed),
            }
        }

        #[test]
        fn split_never_panics_on_any_text(token in any::<String>()) {
            let _ = split(&token);
        }

        #[test]
        fn check_header_never_panics_and_pins_rs256(json in any::<Vec<u8>>()) {
            if let Ok(kid) = check_header(&json) {
                // Only a header that says RS256 gets through, whatever else it holds.
                let text = String::from_utf8_lossy(&json);
                prop_assert!(text.contains("RS256") && !kid.is_empty());
            }
        }

        #[test]
        fn headers_with_another_alg_fail(alg in "[A-Za-z0-9]{0,8}", kid in "[a-z0-9]{1,8}") {
            prop_assume!(alg != "RS256");
            let json = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#);
            prop_assert_eq!(check_header(json.as_bytes()), Err(Rejection::Algorithm));
        }

        #[test]
        fn check_claims_never_panics(json in any::<Vec<u8>>(), now in any::<i64>()) {
            let _ = check_claims(&json, "https://issuer", "aud", now);
        }
    }
}
