//! Forged, tampered and out-of-date tokens are refused, each for its own reason.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_guard::testing::{FakeIssuer, TestKey};
use portcullis_guard::{AuthError, Guard, InvalidToken, LEEWAY_SECS, MAX_TOKEN_BYTES, Revocation};

use crate::support::builder;

async fn setup() -> (FakeIssuer, Guard) {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Off).build().await.expect("guard");
    (issuer, guard)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn refused(guard: &Guard, token: &str) -> InvalidToken {
    match guard.verify(token).await {
        Err(AuthError::InvalidToken(why)) => why,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[tokio::test]
async fn a_genuine_token_passes() {
    let (issuer, guard) = setup().await;
    let (token, claims) = issuer.token("user-1", "read write");
    assert_eq!(guard.verify(&token).await, Ok(claims));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (issuer, guard) = setup().await;
    let claims = issuer.claims("user-1", "read");
    let kid = issuer.signing_key().kid;
    let header = format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#);
    let payload = serde_json::to_vec(&claims).unwrap();
    for token in [format!("{}.{}.", b64(&header), b64(&payload)), format!("{}.{}", b64(&header), b64(&payload))] {
        assert!(matches!(refused(&guard, &token).await, InvalidToken::Algorithm | InvalidToken::Malformed));
    }
    assert_eq!(refused(&guard, &format!("{}.{}.", b64(&header), b64(&payload))).await, InvalidToken::Algorithm);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let (issuer, guard) = setup().await;
    let key = issuer.signing_key();
    let claims = issuer.claims("user-1", "read");
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    for secret in [key.public_key_pem.as_bytes(), &key.public_key_der] {
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(refused(&guard, &token).await, InvalidToken::Algorithm);
    }
}

#[tokio::test]
async fn other_rsa_algorithms_are_refused() {
    let (issuer, guard) = setup().await;
    let key = issuer.signing_key();
    let claims = issuer.claims("user-1", "read");
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        assert_eq!(refused(&guard, &key.sign_with(&header, &claims)).await, InvalidToken::Algorithm, "{alg:?}");
    }
}

#[tokio::test]
async fn a_foreign_key_under_the_issuers_kid_is_refused() {
    let (issuer, guard) = setup().await;
    let foreign = TestKey::pooled(2).with_kid(&issuer.signing_key().kid);
    let token = foreign.sign(&issuer.claims("user-1", "read"));
    assert_eq!(refused(&guard, &token).await, InvalidToken::Signature);
}

#[tokio::test]
async fn tampered_claims_or_signature_are_refused() {
    let (issuer, guard) = setup().await;
    let (token, mut claims) = issuer.token("user-1", "read");
    let parts: Vec<&str> = token.split('.').collect();
    claims.scope = "read write admin".into();
    let tampered = format!("{}.{}.{}", parts[0], b64(serde_json::to_vec(&claims).unwrap()), parts[2]);
    assert_eq!(refused(&guard, &tampered).await, InvalidToken::Signature);

    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    assert_eq!(refused(&guard, &flipped).await, InvalidToken::Signature);
    assert_eq!(refused(&guard, &format!("{}.{}.", parts[0], parts[1])).await, InvalidToken::Signature);
}

#[tokio::test]
async fn wrong_issuer_audience_or_type_is_refused() {
    let (issuer, guard) = setup().await;
    let key = issuer.signing_key();

    let mut claims = issuer.claims("user-1", "read");
    claims.iss = "http://evil.example".into();
    assert_eq!(refused(&guard, &key.sign(&claims)).await, InvalidToken::Issuer);

    let mut claims = issuer.claims("user-1", "read");
    claims.aud = "another-api".into();
    assert_eq!(refused(&guard, &key.sign(&claims)).await, InvalidToken::Audience);

    let claims = issuer.claims("user-1", "read");
    for typ in [Some("JWT"), None] {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = typ.map(Into::into);
        header.kid = Some(key.kid.clone());
        assert_eq!(refused(&guard, &key.sign_with(&header, &claims)).await, InvalidToken::Type, "{typ:?}");
    }

    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    assert_eq!(refused(&guard, &key.sign_with(&header, &claims)).await, InvalidToken::MissingKeyId);
}

#[tokio::test]
async fn expiry_has_no_leeway_and_not_before_has_one() {
    let (issuer, guard) = setup().await;
    let fresh = issuer.claims("user-1", "read");
    let now = fresh.iat;

    let mut c = fresh.clone();
    c.exp = now - LEEWAY_SECS - 60;
    assert_eq!(refused(&guard, &issuer.mint(&c)).await, InvalidToken::Expired);

    let mut c = fresh.clone();
    c.exp = now - 1;
    assert_eq!(refused(&guard, &issuer.mint(&c)).await, InvalidToken::Expired, "never accepted past exp");

    let mut c = fresh.clone();
    c.nbf = now + LEEWAY_SECS + 60;
    assert_eq!(refused(&guard, &issuer.mint(&c)).await, InvalidToken::NotYetValid);

    let mut c = fresh;
    c.nbf = now + LEEWAY_SECS / 2;
    assert!(guard.verify(&issuer.mint(&c)).await.is_ok(), "not valid yet, within the leeway");
}

#[tokio::test]
async fn malformed_and_oversized_tokens_are_refused() {
    let (issuer, guard) = setup().await;
    for junk in ["", "abc", "a.b.c", "a.b.c.d", "....."] {
        assert_eq!(refused(&guard, junk).await, InvalidToken::Malformed, "{junk:?}");
    }
    let mut claims = issuer.claims("user-1", "read");
    claims.scope = "x".repeat(MAX_TOKEN_BYTES);
    assert_eq!(refused(&guard, &issuer.mint(&claims)).await, InvalidToken::TooLarge);
}
