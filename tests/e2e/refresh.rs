//! `grant_type=refresh_token`: rotation, device binding, reuse detection with its grace window,
//! sliding and absolute expiry, and the one-live-token invariant under concurrency.

use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::grant::GrantType::{ClientCredentials, Password, RefreshToken};
use portcullis_e2e::{ManualClock, TestClient, TestServer};
use serde_json::Value;

use crate::jwt::parts;

pub const CHROME_120: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
pub const CHROME_121: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36";
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

pub struct Fixture {
    pub s: TestServer,
    pub c: TestClient,
    /// A resource server: introspects and follows the feed.
    pub rs: TestClient,
}

pub async fn fixture(grace: Duration) -> Fixture {
    let s = TestServer::start_with(|c| c.refresh.reuse_grace = grace).await;
    let c = s.client(&[Password, RefreshToken], "read write").await;
    let rs = s.resource_server().await;
    s.user("ivy", "ivy's long password").await;
    Fixture { s, c, rs }
}

impl Fixture {
    /// Logs in from device `dev` with `ua`; returns the token response.
    pub async fn login(&self, dev: &str, ua: &str) -> Value {
        let res = self
            .s
            .post_form(
                "/oauth2/token",
                &[
                    ("grant_type", "password"),
                    ("username", "ivy"),
                    ("password", "ivy's long password"),
                    ("device_id", dev),
                ],
                Some(&self.c),
                &[("user-agent", ua)],
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    pub async fn refresh_raw(&self, token: &str, dev: &str, ua: &str) -> reqwest::Response {
        self.s
            .post_form(
                "/oauth2/token",
                &[("grant_type", "refresh_token"), ("refresh_token", token), ("device_id", dev)],
                Some(&self.c),
                &[("user-agent", ua)],
            )
            .await
    }

    /// Refreshes; returns (status, body).
    pub async fn refresh(&self, token: &str, dev: &str, ua: &str) -> (u16, Value) {
        let res = self.refresh_raw(token, dev, ua).await;
        let status = res.status().as_u16();
        (status, res.json().await.expect("json"))
    }

    pub async fn scalar(&self, sql: &str, sid: &str) -> i64 {
        portcullis_e2e::db::scalar(self.s.store.connection(), sql, vec![sid.into()]).await
    }

    /// Refresh tokens of the family that can still be used.
    pub async fn live_tokens(&self, sid: &str) -> i64 {
        self.scalar(
            "SELECT COUNT(*) FROM refresh_tokens t JOIN device_sessions s ON s.id = t.session_id \
             WHERE t.session_id = $1 AND t.used_at IS NULL AND t.superseded_at IS NULL AND s.revoked_at IS NULL",
            sid,
        )
        .await
    }

    pub async fn audits(&self, kind: &str) -> i64 {
        self.scalar("SELECT COUNT(*) FROM audit_events WHERE kind = $1", kind).await
    }
}

pub fn sid_of(body: &Value) -> String {
    parts(body["access_token"].as_str().expect("token")).1["sid"].as_str().expect("sid").to_owned()
}

fn rt(body: &Value) -> &str {
    body["refresh_token"].as_str().expect("refresh_token")
}

#[tokio::test]
async fn rotation_survives_a_browser_update_and_keeps_in_flight_access_tokens() {
    let f = fixture(Duration::from_secs(10)).await;
    let first = f.login("laptop", CHROME_120).await;
    let sid = sid_of(&first);
    // The browser updated itself between login and refresh: same families, same fingerprint.
    let (status, second) = f.refresh(rt(&first), "laptop", CHROME_121).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(rt(&second), rt(&first));
    assert_eq!(second["device_id"], "laptop");
    assert_eq!(second["scope"], "read write");
    assert_eq!(sid_of(&second), sid, "same device session");
    assert_eq!(f.live_tokens(&sid).await, 1);
    // The access token of the previous rotation still works until it expires.
    let old_at = first["access_token"].as_str().expect("at");
    assert_eq!(f.s.introspect(&f.rs, old_at).await["active"], true);
    let (status, third) = f.refresh(rt(&second), "laptop", CHROME_121).await;
    assert_eq!(status, 200);
    assert_eq!(f.live_tokens(&sid).await, 1);
    assert_eq!(f.audits("refreshed").await, 2);
    drop(third);
}

#[tokio::test]
async fn reuse_after_grace_revokes_the_family() {
    let f = fixture(Duration::ZERO).await;
    let first = f.login("phone", FIREFOX).await;
    let sid = sid_of(&first);
    let (_, second) = f.refresh(rt(&first), "phone", FIREFOX).await;
    // The first token again: a replay.
    let (status, body) = f.refresh(rt(&first), "phone", FIREFOX).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().expect("d").contains("revoked"));
    // The legitimate successor dies with the family, and so do the access tokens.
    let (status, body) = f.refresh(rt(&second), "phone", FIREFOX).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    for at in [&first, &second] {
        assert_eq!(f.s.introspect(&f.rs, at["access_token"].as_str().expect("at")).await["active"], false);
    }
    assert_eq!(f.live_tokens(&sid).await, 0);
    assert_eq!(f.audits("refresh_reuse_detected").await, 1);
}

#[tokio::test]
async fn a_retry_within_grace_rotates_again_and_the_earlier_successor_dies() {
    let f = fixture(Duration::from_secs(30)).await;
    let first = f.login("tablet", FIREFOX).await;
    let sid = sid_of(&first);
    let (s1, lost) = f.refresh(rt(&first), "tablet", FIREFOX).await;
    // The response was lost; the client retries with the same token: it never held `lost`.
    let (s2, retried) = f.refresh(rt(&first), "tablet", FIREFOX).await;
    assert_eq!((s1, s2), (200, 200));
    assert_ne!(rt(&lost), rt(&retried));
    assert_eq!(f.live_tokens(&sid).await, 1);
    let (status, next) = f.refresh(rt(&retried), "tablet", FIREFOX).await;
    assert_eq!(status, 200, "the retrying client goes on: {next}");
    let (status, _) = f.refresh(rt(&next), "tablet", FIREFOX).await;
    assert_eq!(status, 200);
    // A retry after the successor was itself used is reuse, even inside the window.
    let (status, _) = f.refresh(rt(&first), "tablet", FIREFOX).await;
    assert_eq!(status, 400);
    assert_eq!(f.live_tokens(&sid).await, 0);
    assert_eq!(f.audits("refresh_reuse_detected").await, 1);
}

/// A thief replays a used token inside the grace window and gets a successor; the owner's own
/// successor is superseded. When the owner presents it, that is reuse: the family ends, the
/// thief's token with it, and it is audited.
#[tokio::test]
async fn a_superseded_successor_is_reuse_and_ends_the_thiefs_grace_window_takeover() {
    let f = fixture(Duration::from_secs(30)).await;
    let first = f.login("tablet", FIREFOX).await;
    let sid = sid_of(&first);
    let (status, owners) = f.refresh(rt(&first), "tablet", FIREFOX).await;
    assert_eq!(status, 200);
    // The thief (same device id and browser: a copied token store) replays inside the window.
    let (status, thiefs) = f.refresh(rt(&first), "tablet", FIREFOX).await;
    assert_eq!(status, 200, "inside the window a replay looks like a retry");
    let (status, body) = f.refresh(rt(&owners), "tablet", FIREFOX).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(body["error_description"].as_str().expect("d").contains("revoked"), "{body}");
    assert_eq!(f.live_tokens(&sid).await, 0);
    assert_eq!(f.audits("refresh_reuse_detected").await, 1);
    let (status, _) = f.refresh(rt(&thiefs), "tablet", FIREFOX).await;
    assert_eq!(status, 400, "the thief's successor died with the family");
    for at in [&first, &owners, &thiefs] {
        assert_eq!(f.s.introspect(&f.rs, at["access_token"].as_str().expect("at")).await["active"], false);
    }
}

#[tokio::test]
async fn another_device_revokes_the_family() {
    let f = fixture(Duration::from_secs(10)).await;
    for (dev, ua) in [("stolen-elsewhere", CHROME_120), ("laptop", FIREFOX)] {
        let first = f.login("laptop", CHROME_120).await;
        let sid = sid_of(&first);
        let (status, body) = f.refresh(rt(&first), dev, ua).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{dev} {ua}");
        assert!(body["error_description"].as_str().expect("d").contains("another device"));
        // The rightful device is out too: the family is gone.
        let (status, _) = f.refresh(rt(&first), "laptop", CHROME_120).await;
        assert_eq!(status, 400);
        assert_eq!(f.live_tokens(&sid).await, 0);
    }
    assert_eq!(f.audits("fingerprint_mismatch").await, 2);
}

#[tokio::test]
async fn clients_without_a_browser_are_bound_by_device_id() {
    let f = fixture(Duration::from_secs(10)).await;
    let res =
        f.s.token_request(
            &[
                ("grant_type", "password"),
                ("username", "ivy"),
                ("password", "ivy's long password"),
                ("device_id", "cli-1"),
            ],
            Some(&f.c),
        )
        .await;
    let first: Value = res.json().await.expect("json");
    let refresh = |token: String, dev: &'static str| {
        let f = &f;
        async move {
            f.s.post_form(
                "/oauth2/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                Some(&f.c),
                &[("x-device-id", dev)],
            )
            .await
        }
    };
    let ok = refresh(rt(&first).to_owned(), "cli-1").await;
    assert_eq!(ok.status(), 200, "no User-Agent at all still refreshes");
    let next: Value = ok.json().await.expect("json");
    assert_eq!(refresh(rt(&next).to_owned(), "cli-2").await.status(), 400);
}

#[tokio::test]
async fn refresh_request_errors() {
    let f = fixture(Duration::from_secs(10)).await;
    let first = f.login("d", FIREFOX).await;
    let token = rt(&first);
    let rtg = ("grant_type", "refresh_token");
    let expect = |form: Vec<(&'static str, String)>, basic: Option<TestClient>, status: u16, code: &'static str| {
        let f = &f;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = f.s.token_request(&form, basic.as_ref()).await;
            assert_eq!(res.status().as_u16(), status, "{form:?}");
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["error"], code, "{form:?} {body}");
        }
    };
    let t = token.to_owned();
    let c = Some(f.c.clone());
    expect(vec![(rtg.0, rtg.1.into()), ("refresh_token", t.clone())], c.clone(), 400, "invalid_request").await;
    expect(vec![(rtg.0, rtg.1.into()), ("device_id", "d".into())], c.clone(), 400, "invalid_request").await;
    expect(
        vec![(rtg.0, rtg.1.into()), ("refresh_token", "pcr_unknown".into()), ("device_id", "d".into())],
        c.clone(),
        400,
        "invalid_grant",
    )
    .await;
    expect(
        vec![
            (rtg.0, rtg.1.into()),
            ("refresh_token", t.clone()),
            ("device_id", "d".into()),
            ("scope", "read admin".into()),
        ],
        c.clone(),
        400,
        "invalid_scope",
    )
    .await;
    expect(
        vec![(rtg.0, rtg.1.into()), ("refresh_token", t.clone()), ("device_id", "d".into())],
        None,
        401,
        "invalid_client",
    )
    .await;
    let other = f.s.client(&[Password, RefreshToken], "read write").await;
    expect(
        vec![(rtg.0, rtg.1.into()), ("refresh_token", t.clone()), ("device_id", "d".into())],
        Some(other),
        400,
        "invalid_grant",
    )
    .await;
    let no_refresh = f.s.client(&[Password], "read").await;
    expect(
        vec![(rtg.0, rtg.1.into()), ("refresh_token", t.clone()), ("device_id", "d".into())],
        Some(no_refresh),
        400,
        "unauthorized_client",
    )
    .await;
    // An access token is not a refresh token.
    let at = first["access_token"].as_str().expect("at").to_owned();
    expect(
        vec![(rtg.0, rtg.1.into()), ("refresh_token", at), ("device_id", "d".into())],
        c.clone(),
        400,
        "invalid_grant",
    )
    .await;
    // None of the refusals above consumed the token; narrowing the scope is allowed.
    let res =
        f.s.post_form(
            "/oauth2/token",
            &[rtg, ("refresh_token", token), ("scope", "read")],
            Some(&f.c),
            &[("x-device-id", "d"), ("user-agent", FIREFOX)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["scope"], "read");
}

#[tokio::test]
async fn idle_expiry_slides_and_the_absolute_cap_holds() {
    // The server's clock is the test's: time passes when the test says so, not by sleeping.
    let clock = Arc::new(ManualClock::from_system());
    let s = TestServer::start_with_clock_and(clock.clone(), |c| {
        c.refresh.idle_ttl = Duration::from_secs(2);
        c.refresh.absolute_ttl = Duration::from_secs(4);
    })
    .await;
    let c = s.client(&[Password, RefreshToken], "").await;
    s.user("jon", "jon's long password").await;
    let rs = s.resource_server().await;
    let f = Fixture { s, c, rs };
    let res =
        f.s.token_request(
            &[("grant_type", "password"), ("username", "jon"), ("password", "jon's long password"), ("device_id", "d")],
            Some(&f.c),
        )
        .await;
    let mut body: Value = res.json().await.expect("json");
    // Refresh every 1.2 s: past the first idle deadline (2 s), but each refresh slides it.
    for _ in 0..2 {
        clock.advance(chrono::Duration::milliseconds(1200));
        let (status, next) = f.refresh(rt(&body), "d", "").await;
        assert_eq!(status, 200, "{next}");
        body = next;
    }
    // Idle for longer than 2 s: the token is dead however young the session.
    clock.advance(chrono::Duration::milliseconds(2001));
    let (status, idle) = f.refresh(rt(&body), "d", "").await;
    assert_eq!((status, idle["error"].as_str()), (400, Some("invalid_grant")), "idle past 2 s: {idle}");
    // A second session: refreshed every 1.9 s, never idle, but past the absolute cap (4 s).
    let res =
        f.s.token_request(
            &[("grant_type", "password"), ("username", "jon"), ("password", "jon's long password"), ("device_id", "e")],
            Some(&f.c),
        )
        .await;
    let mut body: Value = res.json().await.expect("json");
    for _ in 0..2 {
        clock.advance(chrono::Duration::milliseconds(1900));
        let (status, next) = f.refresh(rt(&body), "e", "").await;
        assert_eq!(status, 200, "{next}");
        body = next;
    }
    clock.advance(chrono::Duration::milliseconds(1900));
    let (status, end) = f.refresh(rt(&body), "e", "").await;
    assert_eq!((status, end["error"].as_str()), (400, Some("invalid_grant")), "past the 4 s cap: {end}");
}

async fn burst(f: &Fixture, token: &str, n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (http, url, c, token) = (f.s.http.clone(), f.s.url("/oauth2/token"), f.c.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .basic_auth(&c.id, c.secret.as_deref())
                .header("user-agent", FIREFOX)
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str()), ("device_id", "race")])
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("join"));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_refreshes_leave_one_live_token() {
    let f = fixture(Duration::from_secs(30)).await;
    let first = f.login("race", FIREFOX).await;
    let statuses = burst(&f, rt(&first), 32).await;
    assert!(statuses.iter().all(|s| *s == 200), "within grace every racer is a retry: {statuses:?}");
    assert_eq!(f.live_tokens(&sid_of(&first)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reuse_without_grace_revokes_and_never_500s() {
    let f = fixture(Duration::ZERO).await;
    let first = f.login("race", FIREFOX).await;
    let statuses = burst(&f, rt(&first), 32).await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 200).count() >= 1);
    assert!(statuses.iter().filter(|s| **s == 400).count() >= 1);
    assert!(f.live_tokens(&sid_of(&first)).await <= 1);
    // At most one succeeded before the reuse was seen; after it, the family is gone.
    assert_eq!(f.live_tokens(&sid_of(&first)).await, 0);
}

/// Refreshes arriving together are rotated in shared batches: every family rotates once, a
/// replay among them revokes only its own family, and each successor works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_across_many_families_rotates_each_once() {
    let f = fixture(Duration::ZERO).await;
    let mut families = Vec::new();
    for i in 0..24 {
        let dev = format!("burst-{i}");
        let body = f.login(&dev, FIREFOX).await;
        families.push((dev, sid_of(&body), rt(&body).to_owned()));
    }
    let replayed = f.login("replayed", FIREFOX).await;
    let (status, _) = f.refresh(rt(&replayed), "replayed", FIREFOX).await;
    assert_eq!(status, 200);

    let mut tasks = Vec::new();
    for (dev, _, token) in &families {
        let (http, url, c) = (f.s.http.clone(), f.s.url("/oauth2/token"), f.c.clone());
        let (dev, token) = (dev.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .basic_auth(&c.id, c.secret.as_deref())
                .header("user-agent", FIREFOX)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("device_id", dev.as_str()),
                ])
                .send()
                .await
                .expect("answered");
            (res.status().as_u16(), res.json::<Value>().await.expect("json"))
        }));
    }
    let (status, body) = f.refresh(rt(&replayed), "replayed", FIREFOX).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let mut successors = std::collections::HashSet::new();
    for ((dev, sid, _), task) in families.iter().zip(tasks) {
        let (status, body) = task.await.expect("join");
        assert_eq!(status, 200, "{dev}: {body}");
        assert_eq!(&sid_of(&body), sid, "{dev} stays in its own family");
        assert_eq!(body["device_id"].as_str(), Some(dev.as_str()));
        assert!(successors.insert(rt(&body).to_owned()), "{dev} got a token another family got");
        assert_eq!(f.live_tokens(sid).await, 1, "{dev}");
        let (again, next) = f.refresh(rt(&body), dev, FIREFOX).await;
        assert_eq!(again, 200, "{dev}'s successor refreshes: {next}");
    }
    assert_eq!(f.live_tokens(&sid_of(&replayed)).await, 0);
    assert_eq!(f.audits("refresh_reuse_detected").await, 1);
    assert_eq!(f.audits("refreshed").await, 1 + 24 * 2);
}

#[tokio::test]
async fn type_confusion_is_refused() {
    let f = fixture(Duration::from_secs(10)).await;
    let body = f.login("d", FIREFOX).await;
    let res = f.s.http.get(f.s.url("/me")).bearer_auth(rt(&body)).send().await.expect("send");
    assert_eq!(res.status(), 401, "a refresh token is never a bearer token");
    assert!(res.headers()["www-authenticate"].to_str().expect("ascii").contains(r#"error="invalid_token""#));
    let res =
        f.s.http
            .get(f.s.url("/me"))
            .bearer_auth(body["access_token"].as_str().expect("at"))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.expect("json");
    assert_eq!(me["username"], "ivy");
    assert_eq!(me["device_id"], "d");
    // A client-credentials token is not a user's.
    let cc = f.s.client(&[ClientCredentials], "").await;
    let tok = f.s.client_token(&cc, None).await;
    let res =
        f.s.http.get(f.s.url("/me")).bearer_auth(tok["access_token"].as_str().expect("at")).send().await.expect("send");
    assert_eq!(res.status(), 403);
    let res = f.s.http.get(f.s.url("/me")).send().await.expect("send");
    assert_eq!(res.status(), 401);
}
