//! Device binding (opt-in): a user token's `dfp` must be the fingerprint of the presenting
//! request, computed by `portcullis_fingerprint` exactly as the issuer computed it at login.

use portcullis_fingerprint::Fingerprint;
use portcullis_proto::AccessTokenClaims;

use crate::error::InvalidToken;

/// The request header carrying the device id the client logged in with.
pub const DEVICE_ID_HEADER: &str = "x-device-id";

/// Longest device id hashed; the issuer's own ids are far shorter.
const MAX_DEVICE_ID_BYTES: usize = 256;

/// Checks the token's `dfp` against the request's device id and User-Agent.
///
/// A token without `dfp` (a client-credentials token, which belongs to no device) passes. The
/// User-Agent is passed on as it is, absent or not, because the issuer fingerprints an absent
/// one too (as the family "Other"): refusing it here would lock out clients that send none.
pub(crate) fn check(
    claims: &AccessTokenClaims,
    device_id: Option<&str>,
    user_agent: Option<&str>,
) -> Result<(), InvalidToken> {
    let Some(expected) = claims.dfp.as_deref() else {
        return Ok(());
    };
    let device_id = device_id.filter(|d| !d.is_empty()).ok_or(InvalidToken::DeviceMissing)?;
    if device_id.len() > MAX_DEVICE_ID_BYTES {
        return Err(InvalidToken::DeviceMismatch);
    }
    if Fingerprint::of_request(device_id, user_agent).as_str() == expected {
        Ok(())
    } else {
        Err(InvalidToken::DeviceMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const FIREFOX_NEXT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0";
    const CHROME: &str =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

    fn claims(dfp: Option<String>) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://i".into(),
            sub: "u".into(),
            aud: "api".into(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "read".into(),
            sid: Some("s".into()),
            dfp,
        }
    }

    #[test]
    fn the_same_device_and_browser_family_pass() {
        let c = claims(Some(Fingerprint::of_request("dev-1", Some(FIREFOX)).into_string()));
        assert_eq!(check(&c, Some("dev-1"), Some(FIREFOX)), Ok(()));
        // A browser update changes the version, not the family.
        assert_eq!(check(&c, Some("dev-1"), Some(FIREFOX_NEXT)), Ok(()));
    }

    #[test]
    fn another_device_or_browser_fails() {
        let c = claims(Some(Fingerprint::of_request("dev-1", Some(FIREFOX)).into_string()));
        assert_eq!(check(&c, Some("dev-2"), Some(FIREFOX)), Err(InvalidToken::DeviceMismatch));
        assert_eq!(check(&c, Some("dev-1"), Some(CHROME)), Err(InvalidToken::DeviceMismatch));
        assert_eq!(check(&c, None, Some(FIREFOX)), Err(InvalidToken::DeviceMissing));
        assert_eq!(check(&c, Some(""), Some(FIREFOX)), Err(InvalidToken::DeviceMissing));
        assert_eq!(check(&c, Some(&"d".repeat(300)), Some(FIREFOX)), Err(InvalidToken::DeviceMismatch));
    }

    #[test]
    fn unbound_tokens_pass() {
        assert_eq!(check(&claims(None), None, None), Ok(()));
    }
}
