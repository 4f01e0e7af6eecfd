//! Helpers shared by the tests.

use std::future::Future;
use std::time::{Duration, Instant};

use portcullis_guard::testing::{CLIENT_ID, CLIENT_SECRET, FakeIssuer};
use portcullis_guard::{Guard, GuardBuilder, Revocation};

/// A builder for `issuer` with the fake's client credentials and the given revocation mode.
pub fn builder(issuer: &FakeIssuer, revocation: Revocation) -> GuardBuilder {
    Guard::builder(issuer.url()).client_credentials(CLIENT_ID, CLIENT_SECRET).revocation(revocation)
}

/// A guard that follows the fake's feed and has caught up.
pub async fn following(issuer: &FakeIssuer) -> Guard {
    let guard = builder(issuer, Revocation::Feed).build().await.expect("guard");
    tokio::time::timeout(Duration::from_secs(5), guard.caught_up()).await.expect("the feed catches up");
    guard
}

/// Polls `check` until it is true or `limit` passes; returns how long it took.
pub async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}
