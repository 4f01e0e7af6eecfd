//! Introspection mode: the issuer is asked, answers are cached for the TTL, failures fail closed.

use std::time::Duration;

use portcullis_guard::testing::{CLIENT_ID, FakeIssuer};
use portcullis_guard::{AuthError, BuildError, Guard, InvalidToken, Revocation};

use crate::support::builder;

#[tokio::test]
async fn answers_are_cached_for_the_ttl() {
    let issuer = FakeIssuer::start().await;
    let ttl = Duration::from_millis(400);
    let guard = builder(&issuer, Revocation::Introspection { cache_ttl: ttl }).build().await.unwrap();
    let (token, claims) = issuer.token("user-1", "read");
    assert_eq!(guard.verify(&token).await, Ok(claims.clone()));
    assert_eq!(guard.verify(&token).await, Ok(claims.clone()));
    assert_eq!(issuer.introspections(), 1, "the second check is answered from the cache");

    issuer.revoke_session("user-1", claims.sid.as_deref().unwrap());
    assert!(guard.verify(&token).await.is_ok(), "a revocation goes unnoticed for up to the TTL");
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    assert_eq!(guard.verify(&token).await, Err(InvalidToken::Revoked.into()));
    assert_eq!(issuer.introspections(), 2);
}

#[tokio::test]
async fn only_verified_tokens_are_introspected() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Introspection { cache_ttl: Duration::ZERO }).build().await.unwrap();
    let mut claims = issuer.claims("user-1", "read");
    claims.aud = "elsewhere".into();
    assert_eq!(guard.verify(&issuer.mint(&claims)).await, Err(InvalidToken::Audience.into()));
    assert_eq!(issuer.introspections(), 0);
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_closed() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Introspection { cache_ttl: Duration::ZERO }).build().await.unwrap();
    let (token, _) = issuer.token("user-1", "read");
    assert!(guard.verify(&token).await.is_ok());
    issuer.set_down(true);
    assert_eq!(guard.verify(&token).await, Err(AuthError::Unavailable));

    issuer.set_down(false);
    let wrong = Guard::builder(issuer.url())
        .client_credentials(CLIENT_ID, "wrong")
        .revocation(Revocation::Introspection { cache_ttl: Duration::ZERO })
        .build()
        .await
        .unwrap();
    assert_eq!(wrong.verify(&token).await, Err(AuthError::Unavailable));
}

#[tokio::test]
async fn introspection_needs_credentials() {
    let issuer = FakeIssuer::start().await;
    let err = Guard::builder(issuer.url())
        .revocation(Revocation::Introspection { cache_ttl: Duration::from_secs(1) })
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::MissingCredentials("introspection")), "{err}");
}
