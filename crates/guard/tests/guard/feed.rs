//! The revocation feed: kicks, token revocations and bans reach the guard within a second; a
//! follower resumes with Last-Event-ID without missing events; start-up fails closed.

use std::time::Duration;

use portcullis_guard::testing::{CLIENT_ID, FakeIssuer};
use portcullis_guard::{AuthError, FeedStartup, Guard, InvalidToken, Revocation, WhenBlind};

use crate::support::{builder, following, within};

const ONE_SECOND: Duration = Duration::from_secs(1);

async fn revoked_within(guard: &Guard, token: &str, limit: Duration) -> Option<Duration> {
    within(limit, || async { guard.verify(token).await == Err(InvalidToken::Revoked.into()) }).await
}

#[tokio::test]
async fn a_kick_reaches_the_guard_within_a_second() {
    let issuer = FakeIssuer::start().await;
    let guard = following(&issuer).await;
    let (kicked, c) = issuer.token("user-1", "read");
    let (other_device, _) = issuer.token("user-1", "read");
    assert!(guard.verify(&kicked).await.is_ok());

    issuer.revoke_session("user-1", c.sid.as_deref().unwrap());
    let took = revoked_within(&guard, &kicked, ONE_SECOND).await;
    assert!(took.is_some(), "the kick was not applied within 1 s");
    assert!(guard.verify(&other_device).await.is_ok(), "only that session is revoked");
}

#[tokio::test]
async fn a_ban_and_a_password_change_reach_the_guard_within_a_second() {
    let issuer = FakeIssuer::start().await;
    let guard = following(&issuer).await;
    let (phone, phone_claims) = issuer.token("user-1", "read");
    let (laptop, laptop_claims) = issuer.token("user-1", "read");
    let (someone_else, _) = issuer.token("user-2", "read");

    // A password change from the laptop: every other session of the user goes.
    issuer.revoke_user("user-1", phone_claims.iat, laptop_claims.sid.as_deref());
    assert!(revoked_within(&guard, &phone, ONE_SECOND).await.is_some());
    assert!(guard.verify(&laptop).await.is_ok());

    // A ban: every token of the user issued up to now goes, the laptop's too.
    issuer.revoke_user("user-1", laptop_claims.iat, None);
    assert!(revoked_within(&guard, &laptop, ONE_SECOND).await.is_some());
    assert!(guard.verify(&someone_else).await.is_ok());

    // A token minted after the ban (iat > not_before) is not affected.
    let mut later = issuer.claims("user-1", "read");
    later.iat = laptop_claims.iat + 1;
    later.nbf = later.iat;
    assert!(guard.verify(&issuer.mint(&later)).await.is_ok());
}

#[tokio::test]
async fn a_client_token_is_revoked_by_jti() {
    let issuer = FakeIssuer::start().await;
    let guard = following(&issuer).await;
    let mut claims = issuer.claims("a-client", "read");
    claims.sid = None;
    let token = issuer.mint(&claims);
    assert!(guard.verify(&token).await.is_ok());
    issuer.revoke_token(&claims.jti);
    assert!(revoked_within(&guard, &token, ONE_SECOND).await.is_some());
}

#[tokio::test]
async fn the_backlog_is_applied_before_caught_up() {
    let issuer = FakeIssuer::start().await;
    let tokens: Vec<_> = (0..200).map(|n| issuer.token(&format!("user-{n}"), "read")).collect();
    for (_, c) in &tokens {
        issuer.revoke_session(&c.sub, c.sid.as_deref().unwrap());
    }
    let guard = following(&issuer).await;
    assert_eq!(guard.revocations_held(), 200);
    for (t, _) in &tokens {
        assert_eq!(guard.verify(t).await, Err(InvalidToken::Revoked.into()));
    }
    let status = guard.feed_status().unwrap().borrow().clone();
    assert!(status.caught_up && status.connected);
    assert_eq!(status.last_event_id.as_deref(), Some("200"));
    assert_eq!(status.events_applied, 200);
}

#[tokio::test]
async fn after_a_disconnect_the_guard_resumes_with_last_event_id_and_misses_nothing() {
    let issuer = FakeIssuer::start().await;
    let guard = following(&issuer).await;
    let (a, ca) = issuer.token("user-1", "read");
    let (b, cb) = issuer.token("user-2", "read");
    let (c, _) = issuer.token("user-3", "read");
    issuer.revoke_session("user-1", ca.sid.as_deref().unwrap());
    assert!(revoked_within(&guard, &a, ONE_SECOND).await.is_some());

    // The issuer goes away; meanwhile user-2 is kicked.
    issuer.set_down(true);
    let mut status = guard.feed_status().unwrap();
    tokio::time::timeout(Duration::from_secs(2), status.wait_for(|s| !s.connected)).await.unwrap().unwrap();
    issuer.revoke_session("user-2", cb.sid.as_deref().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(guard.verify(&b).await.is_ok(), "the guard cannot know yet");

    issuer.set_down(false);
    assert!(revoked_within(&guard, &b, Duration::from_secs(5)).await.is_some(), "the missed event arrives");
    assert!(guard.verify(&c).await.is_ok());
    let connections = issuer.feed_connections();
    assert_eq!(connections.first(), Some(&None), "the first connection asks for the whole backlog");
    assert_eq!(connections.last(), Some(&Some("1".to_owned())), "the reconnection resumes after event 1");
    assert!(guard.verify(&a).await.is_err(), "what was known before the disconnect is kept");
}

#[tokio::test]
async fn a_silent_feed_is_reconnected() {
    let issuer = FakeIssuer::start().await;
    let guard =
        builder(&issuer, Revocation::Feed).feed_silence_timeout(Duration::from_millis(400)).build().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), guard.caught_up()).await.unwrap();
    // Our fake sends keep-alives only every 5 s: the guard drops the quiet stream and comes back.
    issuer.set_feed_silent(true);
    let reconnects = within(Duration::from_secs(5), || async { issuer.feed_connections().len() >= 3 }).await;
    assert!(reconnects.is_some(), "connections: {:?}", issuer.feed_connections());

    issuer.set_feed_silent(false);
    let (token, c) = issuer.token("user-1", "read");
    issuer.revoke_session("user-1", c.sid.as_deref().unwrap());
    assert!(revoked_within(&guard, &token, Duration::from_secs(5)).await.is_some());
}

#[tokio::test]
async fn tokens_are_refused_until_the_feed_catches_up_when_failing_closed() {
    let issuer = FakeIssuer::start().await;
    issuer.set_feed_silent(true);
    let guard = builder(&issuer, Revocation::Feed).feed_startup(FeedStartup::FailClosed).build().await.unwrap();
    let (token, claims) = issuer.token("user-1", "read");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(guard.verify(&token).await, Err(AuthError::Unavailable));
    // A forged token is still told apart from an unavailable check.
    assert_eq!(guard.verify("a.b.c").await, Err(InvalidToken::Malformed.into()));

    issuer.set_feed_silent(false);
    issuer.drop_feed_connections();
    tokio::time::timeout(Duration::from_secs(5), guard.caught_up()).await.unwrap();
    assert_eq!(guard.verify(&token).await, Ok(claims));
}

#[tokio::test]
async fn failing_closed_for_a_while_then_open() {
    let issuer = FakeIssuer::start().await;
    issuer.set_feed_silent(true);
    let guard = builder(&issuer, Revocation::Feed)
        .feed_startup(FeedStartup::FailClosedFor(Duration::from_millis(500)))
        .build()
        .await
        .unwrap();
    let (token, _) = issuer.token("user-1", "read");
    assert_eq!(guard.verify(&token).await, Err(AuthError::Unavailable));
    let opened = within(Duration::from_secs(3), || async { guard.verify(&token).await.is_ok() }).await;
    assert!(opened.is_some_and(|t| t >= Duration::from_millis(300)), "{opened:?}");
    assert!(!guard.feed_status().unwrap().borrow().caught_up);

    let open = FakeIssuer::start().await;
    open.set_feed_silent(true);
    let guard = builder(&open, Revocation::Feed).feed_startup(FeedStartup::FailOpen).build().await.unwrap();
    assert!(guard.verify(&open.token("user-1", "read").0).await.is_ok());
}

#[tokio::test]
async fn wrong_feed_credentials_never_catch_up() {
    let issuer = FakeIssuer::start().await;
    let guard = Guard::builder(issuer.url())
        .client_credentials(CLIENT_ID, "wrong")
        .feed_startup(FeedStartup::FailClosed)
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = guard.feed_status().unwrap().borrow().clone();
    assert!(!status.caught_up && status.connections == 0);
    assert!(issuer.feed_connections().is_empty(), "refused before a stream is opened");
    assert_eq!(guard.verify(&issuer.token("user-1", "read").0).await, Err(AuthError::Unavailable));
}

#[tokio::test]
async fn a_silent_feed_makes_the_guard_blind_and_it_fails_closed() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Feed)
        .feed_silence_timeout(Duration::from_millis(200))
        .feed_staleness(Duration::from_millis(600))
        .build()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), guard.caught_up()).await.unwrap();
    let (token, claims) = issuer.token("user-1", "read");
    assert_eq!(guard.verify(&token).await, Ok(claims.clone()));
    // Streams are answered but never speak: reconnecting is not hearing.
    issuer.set_feed_silent(true);
    issuer.drop_feed_connections();
    let blind = within(Duration::from_secs(3), || async { guard.health().blind }).await;
    assert!(blind.is_some(), "{:?}", guard.health());
    assert_eq!(guard.verify(&token).await, Err(AuthError::Unavailable), "blind: refused");
    assert!(!guard.health().is_healthy());
    issuer.set_feed_silent(false);
    issuer.drop_feed_connections();
    let back = within(Duration::from_secs(5), || async { guard.verify(&token).await.is_ok() }).await;
    assert!(back.is_some(), "the guard sees again when its feed speaks");
    assert!(guard.health().is_healthy());
}

#[tokio::test]
async fn a_blind_guard_may_ask_introspection_instead() {
    let issuer = FakeIssuer::start().await;
    let guard = builder(&issuer, Revocation::Feed)
        .feed_silence_timeout(Duration::from_millis(200))
        .feed_staleness(Duration::from_millis(600))
        .when_blind(WhenBlind::Introspect { cache_ttl: Duration::ZERO })
        .build()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), guard.caught_up()).await.unwrap();
    issuer.set_feed_silent(true);
    issuer.drop_feed_connections();
    within(Duration::from_secs(3), || async { guard.health().blind }).await.expect("blind");
    let (token, claims) = issuer.token("user-1", "read");
    let asked = issuer.introspections();
    assert_eq!(guard.verify(&token).await, Ok(claims.clone()), "introspection vouches for it");
    assert!(issuer.introspections() > asked, "the guard asked the issuer");
    // A kick the silent feed never delivered is caught by introspection.
    issuer.revoke_session("user-1", claims.sid.as_deref().unwrap());
    assert_eq!(guard.verify(&token).await, Err(InvalidToken::Revoked.into()));
}
