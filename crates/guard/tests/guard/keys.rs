//! The JWKS cache: rotation while running, max-age, the unknown-kid refetch, the issuer down.

use std::time::Duration;

use portcullis_guard::testing::{FakeIssuer, TestKey};
use portcullis_guard::{AuthError, BuildError, Guard, InvalidToken, Revocation};

use crate::support::{builder, following, within};

#[tokio::test]
async fn a_new_key_is_fetched_when_a_token_names_it() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Off).build().await.unwrap();
    let (old_token, _) = issuer.token("user-1", "read");
    assert!(guard.verify(&old_token).await.is_ok());
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.rotate_to(TestKey::pooled(1));
    let (new_token, claims) = issuer.token("user-1", "read");
    assert_eq!(guard.verify(&new_token).await, Ok(claims));
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch for the new kid");
    assert!(guard.verify(&old_token).await.is_ok(), "the old key is still published");
    assert!(guard.verify(&new_token).await.is_ok());
    assert_eq!(issuer.jwks_fetches(), 2, "known keys need no fetch");
}

#[tokio::test]
async fn rotation_and_retirement_follow_max_age() {
    let issuer = FakeIssuer::start().await;
    issuer.set_jwks_max_age(1);
    let guard = following(&issuer).await;
    let (old_token, _) = issuer.token("user-1", "read");
    assert!(guard.verify(&old_token).await.is_ok());

    // The new key appears in the JWKS; the periodic refresh picks it up without any token asking.
    let next = TestKey::pooled(1);
    issuer.rotate_to(next.clone());
    issuer.retire(&TestKey::pooled(0).kid);
    let refreshed = within(Duration::from_secs(4), || async { guard.jwks_fetches() >= 2 }).await;
    assert!(refreshed.is_some(), "a max-age of 1 s is honoured");
    let (new_token, _) = issuer.token("user-1", "read");
    assert!(guard.verify(&new_token).await.is_ok());
    let old_refused = within(Duration::from_secs(4), || async {
        guard.verify(&old_token).await == Err(InvalidToken::UnknownKey.into())
    })
    .await;
    assert!(old_refused.is_some(), "a retired key stops verifying once the JWKS is refreshed");
}

#[tokio::test]
async fn a_long_max_age_means_no_refetch() {
    let issuer = FakeIssuer::start().await;
    issuer.set_jwks_max_age(300);
    let guard = builder(&issuer, Revocation::Off).build().await.unwrap();
    let short = FakeIssuer::start().await;
    short.set_jwks_max_age(1);
    let eager = builder(&short, Revocation::Off).build().await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(issuer.jwks_fetches(), 1);
    assert_eq!(guard.jwks_fetches(), 1);
    assert!(short.jwks_fetches() >= 3, "max-age=1: {} fetches in 3.5 s", short.jwks_fetches());
    drop(eager);
}

#[tokio::test]
async fn a_storm_of_unknown_kids_costs_one_fetch() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Off).build().await.unwrap();
    let foreign = TestKey::pooled(2);
    let claims = issuer.claims("user-1", "read");
    let tokens: Vec<String> = (0..50).map(|n| foreign.with_kid(&format!("made-up-{n}")).sign(&claims)).collect();
    let checks = tokens.iter().map(|t| guard.verify(t));
    for outcome in futures::future::join_all(checks).await {
        assert_eq!(outcome, Err(InvalidToken::UnknownKey.into()));
    }
    assert_eq!(issuer.jwks_fetches(), 2, "the initial fetch and one refetch");

    // Within the rate limit even a real new key waits: the refetch interval is 10 s.
    issuer.rotate_to(TestKey::pooled(1));
    let (token, _) = issuer.token("user-1", "read");
    assert_eq!(guard.verify(&token).await, Err(InvalidToken::UnknownKey.into()));
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_issuer_is_down() {
    let issuer = FakeIssuer::start().await;
    issuer.set_jwks_max_age(1);
    let guard = following(&issuer).await;
    let (token, claims) = issuer.token("user-1", "read");
    issuer.set_down(true);
    // Several refreshes fail meanwhile; the keys already held stay.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(guard.verify(&token).await, Ok(claims));
    assert!(!guard.feed_status().unwrap().borrow().connected);

    // A token of a key the guard never saw cannot be checked while the issuer is down.
    issuer.rotate_to(TestKey::pooled(1));
    let (unknown, _) = issuer.token("user-1", "read");
    assert_eq!(guard.verify(&unknown).await, Err(AuthError::InvalidToken(InvalidToken::UnknownKey)));

    // Back up: the feed reconnects and revocations flow again.
    issuer.set_down(false);
    let (victim, victim_claims) = (token.clone(), guard.verify(&token).await.unwrap());
    issuer.revoke_session(&victim_claims.sub, victim_claims.sid.as_deref().unwrap());
    let revoked =
        within(Duration::from_secs(5), || async { guard.verify(&victim).await == Err(InvalidToken::Revoked.into()) })
            .await;
    assert!(revoked.is_some());
}

#[tokio::test]
async fn build_fails_when_the_issuer_cannot_be_reached() {
    let issuer = FakeIssuer::start().await;
    issuer.set_down(true);
    let err = builder(&issuer, Revocation::Off).build().await.unwrap_err();
    assert!(matches!(err, BuildError::Discovery { .. }), "{err}");
    let err = Guard::builder("not a url").build().await.unwrap_err();
    assert!(matches!(err, BuildError::IssuerUrl(_)), "{err}");
    let issuer = FakeIssuer::start().await;
    let err = Guard::builder(issuer.url()).build().await.unwrap_err();
    assert!(matches!(err, BuildError::MissingCredentials(_)), "{err}");
}
