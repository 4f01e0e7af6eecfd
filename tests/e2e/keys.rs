//! Key rotation on a running server: the new key is published first, signs after the
//! activation delay, and the old one stays published for the tokens it signed.

use std::time::Duration;

use portcullis_domain::grant::GrantType::ClientCredentials;
use portcullis_e2e::TestServer;
use portcullis_e2e::keys::test_key;
use serde_json::Value;

use crate::jwt::{parts, verify_with_jwks};

async fn kids(s: &TestServer) -> Vec<String> {
    let (_, _, jwks) = s.get_json("/.well-known/jwks.json").await;
    jwks["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().expect("kid").to_owned()).collect()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rotation_publishes_first_then_signs_without_restart() {
    let s = TestServer::start_with(|c| {
        c.keys.jwks_max_age = Duration::from_secs(1);
        c.keys.activation_delay = Duration::from_secs(2);
    })
    .await;
    let c = s.client(&[ClientCredentials], "").await;
    let old = test_key().kid.clone();
    let before = s.client_token(&c, None).await["access_token"].as_str().expect("token").to_owned();

    // As `portcullis keys rotate` does, from outside the serving path. The activation time is
    // taken inside `rotate_key`, so the clock for the delay starts before the call, not after it.
    let rotated_at = std::time::Instant::now();
    let record = portcullis_server::ops::rotate_key(
        s.app.key_manager(),
        &s.store,
        &portcullis_domain::clock::SystemClock,
        "test",
    )
    .await
    .expect("rotate");
    let new = record.kid.clone();
    assert_ne!(new, old);

    // Published within a reload interval, while the old key still signs.
    wait_for("the new key in the JWKS", async || kids(&s).await.contains(&new)).await;
    let during: Value = s.client_token(&c, None).await;
    if rotated_at.elapsed() < Duration::from_millis(1800) {
        assert_eq!(
            parts(during["access_token"].as_str().expect("t")).0["kid"],
            old,
            "new key signed before its activation"
        );
    }

    // After the delay, the new key signs; the old stays published for live tokens.
    wait_for("the new key to sign", async || {
        let t = s.client_token(&c, None).await;
        parts(t["access_token"].as_str().expect("t")).0["kid"] == new.as_str()
    })
    .await;
    assert!(rotated_at.elapsed() >= Duration::from_secs(2), "activated before the delay");
    let published = kids(&s).await;
    assert!(published.contains(&old) && published.contains(&new), "{published:?}");
    verify_with_jwks(&s, &before).await;
    let introspector = s.resource_server().await;
    assert_eq!(s.introspect(&introspector, &before).await["active"], true, "tokens of the retired key stay valid");
}
