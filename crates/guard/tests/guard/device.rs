//! Device binding through `Guard::check_headers`: X-Device-Id and User-Agent must give the
//! token's `dfp`, computed by portcullis-fingerprint as the issuer does.

use http::header::{AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use portcullis_fingerprint::Fingerprint;
use portcullis_guard::testing::FakeIssuer;
use portcullis_guard::{AuthError, DEVICE_ID_HEADER, InvalidToken, Presented, Revocation};

use crate::support::builder;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const FIREFOX_NEXT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

fn headers(token: &str, device: Option<&str>, ua: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
    if let Some(d) = device {
        h.insert(DEVICE_ID_HEADER, HeaderValue::from_str(d).expect("header"));
    }
    if let Some(ua) = ua {
        h.insert(USER_AGENT, HeaderValue::from_str(ua).expect("header"));
    }
    h
}

#[tokio::test]
async fn a_bound_token_works_only_from_its_device() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Off).device_binding(true).build().await.unwrap();
    let mut claims = issuer.claims("user-1", "read");
    claims.dfp = Some(Fingerprint::of_request("device-1", Some(FIREFOX)).into_string());
    let token = issuer.mint(&claims);

    let ok = guard.check_headers(&headers(&token, Some("device-1"), Some(FIREFOX)), &["read"]).await;
    assert_eq!(ok, Ok(claims.clone()));
    let updated = guard.check_headers(&headers(&token, Some("device-1"), Some(FIREFOX_NEXT)), &[]).await;
    assert!(updated.is_ok(), "a browser update keeps the fingerprint");

    let mismatch = AuthError::InvalidToken(InvalidToken::DeviceMismatch);
    let missing = AuthError::InvalidToken(InvalidToken::DeviceMissing);
    assert_eq!(
        guard.check_headers(&headers(&token, Some("device-2"), Some(FIREFOX)), &[]).await,
        Err(mismatch.clone())
    );
    assert_eq!(guard.check_headers(&headers(&token, Some("device-1"), Some(SAFARI_IPHONE)), &[]).await, Err(mismatch));
    assert_eq!(guard.check_headers(&headers(&token, None, Some(FIREFOX)), &[]).await, Err(missing.clone()));
    assert_eq!(guard.verify(&token).await, Err(missing), "a bare token cannot skip the binding");
}

#[tokio::test]
async fn binding_is_opt_in_and_spares_client_tokens() {
    let issuer = FakeIssuer::start().await;
    let mut claims = issuer.claims("user-1", "read");
    claims.dfp = Some(Fingerprint::of_request("device-1", Some(FIREFOX)).into_string());
    let bound = issuer.mint(&claims);

    let unbound_guard = builder(&issuer, Revocation::Off).build().await.unwrap();
    assert!(unbound_guard.check(Presented::token(&bound).with_device(Some("device-2"), None), &[]).await.is_ok());

    let guard = builder(&issuer, Revocation::Off).device_binding(true).build().await.unwrap();
    let mut client = issuer.claims("a-client", "read");
    client.sid = None;
    assert!(guard.verify(&issuer.mint(&client)).await.is_ok(), "a client token belongs to no device");
}
