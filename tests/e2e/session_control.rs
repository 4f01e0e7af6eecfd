//! Session control under attack (docs/security.md, "Session control"): a flood of sessions
//! that outnumbers any list, logins racing a ban, cut-offs in the same second, a deleted
//! client's tokens, the password-change oracle, and a consent that was never given.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use portcullis_domain::grant::GrantType::{AuthorizationCode, ClientCredentials, Password, RefreshToken};
use portcullis_e2e::authflow::{FormBrowser, pkce_pair, query_of};
use portcullis_e2e::feed::FeedFollower;
use portcullis_e2e::{ManualClock, TestClient, TestServer};
use portcullis_guard::{AuthError, Guard, InvalidToken};
use serde_json::{Value, json};

use crate::jwt::parts;

const PW: &str = "ivy's long password";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A server whose login limits a flood of honest logins from one address does not reach.
fn unthrottled(c: &mut portcullis_server::Config) {
    c.login.max_attempts_per_ip = 1_000_000;
    c.login.max_attempts_per_user = 1_000_000;
}

async fn server() -> TestServer {
    TestServer::start_with(unthrottled).await
}

/// A server whose clock starts at a whole second and moves only when the test ticks it (a
/// millisecond a step): everything the test does happens within that one second, as the worst
/// case of a real clock would have it.
async fn server_in_one_second() -> TestServer {
    let now = portcullis_domain::clock::Clock::now(&portcullis_domain::clock::SystemClock);
    let second = chrono::DateTime::from_timestamp(now.timestamp(), 0).expect("a whole second");
    TestServer::start_with_clock_and(Arc::new(ManualClock::new(second)), unthrottled).await
}

/// One step later on the server's clock.
fn tick(s: &TestServer) {
    s.manual_clock().advance(chrono::Duration::milliseconds(1));
}

fn at(body: &Value) -> &str {
    body["access_token"].as_str().expect("access_token")
}

fn rt(body: &Value) -> &str {
    body["refresh_token"].as_str().expect("refresh_token")
}

fn iat(body: &Value) -> i64 {
    parts(at(body)).1["iat"].as_i64().expect("iat")
}

async fn login(s: &TestServer, c: &TestClient, device: &str) -> Value {
    s.login(c, "ivy", PW, &[("device_id", device)]).await
}

/// `n` sessions of ivy, on devices `{prefix}0000`…, sixteen logins at a time.
async fn open_sessions(s: &TestServer, c: &TestClient, n: usize, prefix: &str) -> Vec<Value> {
    futures::stream::iter(0..n)
        .map(|i| async move { login(s, c, &format!("{prefix}{i:04}")).await })
        .buffered(16)
        .collect()
        .await
}

async fn refresh(s: &TestServer, c: &TestClient, body: &Value) -> (u16, Value) {
    let device = body["device_id"].as_str().expect("device_id");
    let res = s
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt(body)), ("device_id", device)], Some(c))
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn me_status(s: &TestServer, token: &str) -> u16 {
    s.http.get(s.url("/me")).bearer_auth(token).send().await.expect("send").status().as_u16()
}

async fn live_sessions(s: &TestServer, user: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM device_sessions WHERE user_id = $1 AND revoked_at IS NULL";
    portcullis_e2e::db::scalar(s.store.connection(), sql, vec![user.to_owned().into()]).await
}

async fn admin(s: &TestServer, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> u16 {
    let mut req = s.http.request(method, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("send").status().as_u16()
}

/// Every device of `user`, paging 200 at a time through the admin API.
async fn all_devices(s: &TestServer, token: &str, user: &str) -> Vec<Value> {
    let mut devices = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = s.url(&format!("/admin/users/{user}/devices?limit=200"));
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = s.http.get(url).bearer_auth(token).send().await.expect("send").json().await.expect("json");
        devices.extend(page["devices"].as_array().expect("devices").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return devices,
        }
    }
}

/// The dead access token is refused everywhere a token is checked, and its refresh token too.
async fn assert_dead(s: &TestServer, c: &TestClient, rs: &TestClient, body: &Value, why: &str) {
    assert_eq!(s.introspect(rs, at(body)).await["active"], false, "{why}: introspection");
    assert_eq!(me_status(s, at(body)).await, 401, "{why}: /me");
    let (status, err) = refresh(s, c, body).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")), "{why}: refresh {err}");
}

/// More sessions than any list the server used to read (1,000): a kick-all, a password change
/// and a ban each end every one of them, and the device list pages over all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sessions_cannot_outlast_kick_all_password_change_or_ban() {
    const N: usize = 1_010;
    let s = server().await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    let user = s.user("ivy", PW).await;
    let ops = s.admin_token().await;

    let flood = open_sessions(&s, &c, N, "k").await;
    assert_eq!(live_sessions(&s, &user).await, N as i64);
    let devices = all_devices(&s, &ops, &user).await;
    assert_eq!(devices.len(), N, "the device list pages over every session");
    assert!(devices.iter().all(|d| d["active"] == true));
    let path = format!("/admin/users/{user}/devices");
    assert_eq!(admin(&s, reqwest::Method::DELETE, &path, &ops, None).await, 204);
    assert_eq!(live_sessions(&s, &user).await, 0, "kick-all ended every session");
    for body in [&flood[0], &flood[N / 2], &flood[N - 1]] {
        assert_dead(&s, &c, &rs, body, "kick-all").await;
    }
    assert!(all_devices(&s, &ops, &user).await.iter().all(|d| d["active"] == false));

    let flood = open_sessions(&s, &c, N, "p").await;
    let keeper = &flood[N - 1];
    let change = json!({"current_password": PW, "new_password": "ivy's new long password"});
    let res = s.http.post(s.url("/me/password")).bearer_auth(at(keeper)).json(&change).send().await.expect("send");
    assert_eq!(res.status(), 204);
    assert_eq!(live_sessions(&s, &user).await, 1, "only the session the password was changed from lives");
    for body in [&flood[0], &flood[N / 2], &flood[N - 2]] {
        assert_dead(&s, &c, &rs, body, "password change").await;
    }
    assert_eq!(refresh(&s, &c, keeper).await.0, 200, "the caller's own session lives on");

    let flood: Vec<Value> = futures::stream::iter(0..N)
        .map(|i| {
            let (s, c) = (&s, &c);
            async move { s.login(c, "ivy", "ivy's new long password", &[("device_id", &format!("b{i:04}"))]).await }
        })
        .buffered(16)
        .collect()
        .await;
    let ban = json!({"reason": "fraud"});
    assert_eq!(admin(&s, reqwest::Method::POST, &format!("/admin/users/{user}/ban"), &ops, Some(ban)).await, 200);
    assert_eq!(live_sessions(&s, &user).await, 0, "the ban ended every session");
    for body in [&flood[0], &flood[N / 2], &flood[N - 1]] {
        assert_dead(&s, &c, &rs, body, "ban").await;
    }
}

/// Logins in flight while an admin bans the user: whatever they were answered, no session
/// outlives the ban, and no token they got is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_racing_a_ban_leave_no_live_session() {
    let s = Arc::new(server().await);
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    let user = s.user("ivy", PW).await;
    let ops = s.admin_token().await;
    let stop = Arc::new(AtomicBool::new(false));
    let racers: Vec<_> = (0..24)
        .map(|r| {
            let (s, c, stop) = (Arc::clone(&s), c.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let form = [
                        ("grant_type", "password"),
                        ("username", "ivy"),
                        ("password", PW),
                        ("device_id", &format!("r{r}-{i}")),
                    ];
                    let res = s.token_request(&form, Some(&c)).await;
                    if res.status() == 200 {
                        got.push(res.json::<Value>().await.expect("json"));
                    }
                    i += 1;
                }
                got
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ban = json!({"reason": "raced"});
    assert_eq!(admin(&s, reqwest::Method::POST, &format!("/admin/users/{user}/ban"), &ops, Some(ban)).await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut issued = Vec::new();
    for r in racers {
        issued.extend(r.await.expect("racer"));
    }
    assert!(issued.len() > 10, "the logins ran before the ban: {}", issued.len());
    assert_eq!(live_sessions(&s, &user).await, 0, "no session outlived the ban");
    for body in &issued {
        assert_eq!(s.introspect(&rs, at(body)).await["active"], false);
        assert_eq!(refresh(&s, &c, body).await.0, 400);
    }
}

/// The outcome of a login that raced a cut-off, made by hand: a session stored after the
/// ending ran. Its next refresh meets the cut-off on the user and ends it.
#[tokio::test]
async fn a_session_that_slipped_past_a_cut_off_is_ended_at_its_next_refresh() {
    let s = server().await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    let user = s.user("ivy", PW).await;
    let ops = s.admin_token().await;
    let resurrect = |sid: String| {
        let db = s.store.connection();
        async move {
            let sql = "UPDATE device_sessions SET revoked_at = NULL, revoked_reason = NULL WHERE id = $1";
            let backend = sea_orm::ConnectionTrait::get_database_backend(db);
            let stmt = sea_orm::Statement::from_sql_and_values(backend, sql, [sid.into()]);
            sea_orm::ConnectionTrait::execute_raw(db, stmt).await.expect("update");
        }
    };

    // Kick-all, then the session is "stored late": still refused, and revoked for good.
    let early = login(&s, &c, "laptop").await;
    assert_eq!(admin(&s, reqwest::Method::DELETE, &format!("/admin/users/{user}/devices"), &ops, None).await, 204);
    resurrect(crate::refresh::sid_of(&early)).await;
    assert_eq!(live_sessions(&s, &user).await, 1);
    let (status, body) = refresh(&s, &c, &early).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(live_sessions(&s, &user).await, 0);
    assert_eq!(s.introspect(&rs, at(&early)).await["active"], false);

    // Banned: the same, whatever the session's age.
    let fresh = login(&s, &c, "phone").await;
    let ban = json!({"reason": "fraud"});
    assert_eq!(admin(&s, reqwest::Method::POST, &format!("/admin/users/{user}/ban"), &ops, Some(ban)).await, 200);
    resurrect(crate::refresh::sid_of(&fresh)).await;
    assert_eq!(refresh(&s, &c, &fresh).await.0, 400);
    assert_eq!(live_sessions(&s, &user).await, 0);
    let audits = "SELECT COUNT(*) FROM audit_events WHERE kind = 'session_revoked' AND detail LIKE $1";
    let db = s.store.connection();
    assert_eq!(portcullis_e2e::db::scalar(db, audits, vec!["cut_off sid=%".into()]).await, 1);
    let sid = crate::refresh::sid_of(&fresh);
    assert_eq!(
        portcullis_e2e::db::scalar(db, audits, vec![format!("banned sid={sid}").into()]).await,
        2,
        "ended by the ban, and again (for good) at the refresh that met it"
    );
}

/// A code issued before a cut-off cannot be exchanged after it: the user authenticated before.
#[tokio::test]
async fn a_code_from_before_a_cut_off_is_refused() {
    let s = server().await;
    let app = s.app_client(&[AuthorizationCode, RefreshToken], "read", &[REDIRECT], true).await;
    let pw = s.client(&[Password], "read").await;
    s.user("ivy", PW).await;
    let (verifier, challenge) = pkce_pair();
    let url = s.url(&format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=read&state=s1\
         &code_challenge={challenge}&code_challenge_method=S256",
        app.id
    ));
    let mut browser = FormBrowser::new();
    let back = browser.authorize(&s.base, &url, "ivy", PW).await;
    let code = query_of(&back)["code"].clone();
    // The password changes before the app exchanges the code.
    let other = login(&s, &pw, "elsewhere").await;
    let change = json!({"current_password": PW, "new_password": "ivy's new long password"});
    let res = s.http.post(s.url("/me/password")).bearer_auth(at(&other)).json(&change).send().await.expect("send");
    assert_eq!(res.status(), 204);
    let res = s
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &app.id),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// A guard of `s` following the feed, caught up.
async fn guard(s: &TestServer) -> Guard {
    let rs = s.resource_server().await;
    let g = Guard::builder(&s.base)
        .client_credentials(&rs.id, rs.secret.as_deref().expect("secret"))
        .build()
        .await
        .expect("guard");
    tokio::time::timeout(Duration::from_secs(10), g.caught_up()).await.expect("caught up");
    g
}

/// The guard has heard of `token`'s revocation (within a second).
async fn guard_refuses(g: &Guard, token: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match g.verify(token).await {
            Err(AuthError::InvalidToken(InvalidToken::Revoked)) => return true,
            _ if Instant::now() > deadline => return false,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A token minted in the same second as a ban, before it, is dead; a login after the unban, in
/// that same second too, is live — at the server, at introspection, on the feed, in the guard.
#[tokio::test]
async fn a_cut_off_is_exact_within_its_second() {
    let s = server_in_one_second().await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    let user = s.user("ivy", PW).await;
    let ops = s.admin_token().await;
    let g = guard(&s).await;
    let mut feed =
        FeedFollower::connect(&s.url("/oauth2/revocation-feed"), &rs.id, rs.secret.as_deref().expect("secret"), None)
            .await;
    feed.backlog().await;
    let before = login(&s, &c, "before").await;
    tick(&s);
    let ban = json!({"reason": "same second"});
    assert_eq!(admin(&s, reqwest::Method::POST, &format!("/admin/users/{user}/ban"), &ops, Some(ban)).await, 200);
    tick(&s);
    assert_eq!(admin(&s, reqwest::Method::POST, &format!("/admin/users/{user}/unban"), &ops, None).await, 200);
    tick(&s);
    let after = login(&s, &c, "after").await;
    let (event, _) = feed.next_revocation(Duration::from_secs(3)).await.expect("the ban on the feed");
    let cut = event.not_before.expect("a user-wide cut-off");
    assert_eq!(iat(&before), cut, "the clock stood still: the login and the ban share a second");
    assert_eq!(iat(&after), cut + 1, "minted after the cut-off, from its next second");
    assert_eq!(s.introspect(&rs, at(&before)).await["active"], false);
    assert_eq!(s.introspect(&rs, at(&after)).await["active"], true, "the login after the unban is live");
    assert_eq!(me_status(&s, at(&after)).await, 200);
    assert_eq!(refresh(&s, &c, &after).await.0, 200);
    assert!(guard_refuses(&g, at(&before)).await, "the guard refuses the token from before");
    g.verify(at(&after)).await.expect("the guard accepts the token from after");
}

/// A login on another device right after a password change, in the same second, is live; a
/// session from before it is dead, and the changer's own session lives on.
#[tokio::test]
async fn a_login_right_after_a_password_change_is_live() {
    let s = server_in_one_second().await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    s.user("ivy", PW).await;
    let g = guard(&s).await;
    let mut feed =
        FeedFollower::connect(&s.url("/oauth2/revocation-feed"), &rs.id, rs.secret.as_deref().expect("secret"), None)
            .await;
    feed.backlog().await;
    let mine = s.login(&c, "ivy", PW, &[("device_id", "mine")]).await;
    tick(&s);
    let stolen = s.login(&c, "ivy", PW, &[("device_id", "stolen")]).await;
    tick(&s);
    let new_password = "ivy's second password";
    let change = json!({"current_password": PW, "new_password": new_password});
    let res = s.http.post(s.url("/me/password")).bearer_auth(at(&mine)).json(&change).send().await.expect("send");
    assert_eq!(res.status(), 204);
    tick(&s);
    let next = s.login(&c, "ivy", new_password, &[("device_id", "next")]).await;
    let (event, _) = feed.next_revocation(Duration::from_secs(3)).await.expect("the change on the feed");
    let cut = event.not_before.expect("a user-wide cut-off");
    assert_eq!(iat(&stolen), cut, "the clock stood still: the login and the change share a second");
    assert_eq!(iat(&next), cut + 1, "minted after the cut-off, from its next second");
    assert_eq!(s.introspect(&rs, at(&stolen)).await["active"], false, "the session from before is dead");
    assert_eq!(s.introspect(&rs, at(&mine)).await["active"], true, "the changer keeps their session");
    assert_eq!(s.introspect(&rs, at(&next)).await["active"], true, "the login after it is live");
    assert_eq!(me_status(&s, at(&next)).await, 200);
    assert!(guard_refuses(&g, at(&stolen)).await);
    g.verify(at(&next)).await.expect("the guard accepts the login after the change");
    g.verify(at(&mine)).await.expect("and the changer's token");
}

/// Deleting a client ends its sessions and revokes every token it was issued, everywhere; a
/// deleted admin client's token opens nothing.
#[tokio::test]
async fn a_deleted_client_keeps_no_right() {
    let s = server().await;
    let app = s.client(&[Password, RefreshToken, ClientCredentials], "read").await;
    let rs = s.resource_server().await;
    s.user("ivy", PW).await;
    let g = guard(&s).await;
    let user_token = login(&s, &app, "laptop").await;
    let client_token = s.client_token(&app, Some("read")).await;
    let ops = s.admin_token().await;
    let doomed_admin = s.client(&[ClientCredentials], "admin").await;
    let doomed_token = s.client_token(&doomed_admin, Some("admin")).await;
    assert_eq!(admin(&s, reqwest::Method::GET, "/admin/users", at(&doomed_token), None).await, 200);

    let mut feed =
        FeedFollower::connect(&s.url("/oauth2/revocation-feed"), &rs.id, rs.secret.as_deref().expect("secret"), None)
            .await;
    feed.backlog().await;
    assert_eq!(admin(&s, reqwest::Method::DELETE, &format!("/admin/clients/{}", app.id), &ops, None).await, 204);
    for token in [at(&user_token), at(&client_token)] {
        assert_eq!(s.introspect(&rs, token).await["active"], false);
        assert!(guard_refuses(&g, token).await, "the guard hears of the deletion");
    }
    assert_eq!(me_status(&s, at(&user_token)).await, 401);
    let (status, _) = refresh(&s, &app, &user_token).await;
    assert_eq!(status, 401, "the client can no longer authenticate");
    let (event, _) = feed.next_revocation(Duration::from_secs(3)).await.expect("the deletion on the feed");
    assert_eq!(event.subject.application.and_then(|a| a.id), Some(app.id.clone()));
    assert_eq!(event.reason_admin["en"], "client_deleted");
    let sessions = "SELECT COUNT(*) FROM device_sessions WHERE client_id = $1 AND revoked_at IS NULL";
    let db = s.store.connection();
    assert_eq!(portcullis_e2e::db::scalar(db, sessions, vec![app.id.clone().into()]).await, 0);

    assert_eq!(
        admin(&s, reqwest::Method::DELETE, &format!("/admin/clients/{}", doomed_admin.id), &ops, None).await,
        204
    );
    assert_eq!(admin(&s, reqwest::Method::GET, "/admin/users", at(&doomed_token), None).await, 401);
    let new_client = json!({"name": "backdoor", "grants": ["client_credentials"], "scope": "admin"});
    let status = admin(&s, reqwest::Method::POST, "/admin/clients", at(&doomed_token), Some(new_client)).await;
    assert_eq!(status, 401, "a deleted admin client cannot register another");
}

/// `POST /me/password` is counted by the login throttle: past the per-user limit it answers
/// 429 with `Retry-After`, and every wrong guess is audited.
#[tokio::test]
async fn the_password_change_is_no_password_oracle() {
    let s = TestServer::start_with(|c| c.login.max_attempts_per_user = 5).await;
    let c = s.client(&[Password], "read").await;
    let user = s.user("ivy", PW).await;
    let token = login(&s, &c, "laptop").await;
    let guess = |n: usize| json!({"current_password": format!("guess number {n}"), "new_password": "whatever long"});
    for n in 0..4 {
        let res = s.http.post(s.url("/me/password")).bearer_auth(at(&token)).json(&guess(n)).send().await;
        assert_eq!(res.expect("send").status(), 403, "guess {n}");
    }
    let res = s.http.post(s.url("/me/password")).bearer_auth(at(&token)).json(&guess(5)).send().await;
    let res = res.expect("send");
    assert_eq!(res.status(), 403, "the fifth is still checked");
    let mut throttled = None;
    for n in 6..10 {
        let res = s.http.post(s.url("/me/password")).bearer_auth(at(&token)).json(&guess(n)).send().await;
        let res = res.expect("send");
        if res.status() == 429 {
            throttled = Some(res);
            break;
        }
    }
    let res = throttled.expect("429 past the per-user limit");
    let retry: u64 = res.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry > 0);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    // The same counter guards the password grant.
    let res = s.token_request(&[("grant_type", "password"), ("username", "ivy"), ("password", PW)], Some(&c)).await;
    assert_eq!(res.status(), 429);
    let failed =
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_failed' AND user_id = $1 AND detail = 'wrong_password'";
    let n = portcullis_e2e::db::scalar(s.store.connection(), failed, vec![user.into()]).await;
    assert_eq!(n, 5, "each checked guess is audited");
}

/// Withdrawing a consent that was never given ends nothing: a password-grant session of that
/// client (no consent needed) lives on.
#[tokio::test]
async fn withdrawing_a_consent_that_never_was_ends_nothing() {
    let s = server().await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    s.user("ivy", PW).await;
    let body = login(&s, &c, "laptop").await;
    let res = s.http.delete(s.url(&format!("/me/consents/{}", c.id))).bearer_auth(at(&body)).send().await;
    assert_eq!(res.expect("send").status(), 404);
    assert_eq!(s.introspect(&rs, at(&body)).await["active"], true);
    assert_eq!(refresh(&s, &c, &body).await.0, 200);
}

/// One device with more sessions than a chunk of endings and a page of the syncer: a kick ends
/// them all, and every one of their tokens is inactive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_thousands_of_sessions_is_kicked_whole() {
    const N: usize = 1_200;
    let s = server().await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    let user = s.user("ivy", PW).await;
    let ops = s.admin_token().await;
    let sessions: Vec<Value> = futures::stream::iter(0..N)
        .map(|_| async { login(&s, &c, "the-shared-phone").await })
        .buffered(16)
        .collect()
        .await;
    assert_eq!(live_sessions(&s, &user).await, N as i64);
    let path = format!("/admin/users/{user}/devices/the-shared-phone");
    assert_eq!(admin(&s, reqwest::Method::DELETE, &path, &ops, None).await, 204);
    assert_eq!(live_sessions(&s, &user).await, 0);
    for body in [&sessions[0], &sessions[N / 2], &sessions[N - 1]] {
        assert_eq!(s.introspect(&rs, at(body)).await["active"], false, "inactive at once");
    }
    let events = "SELECT COUNT(*) FROM revocation_events WHERE kind = 'session' AND user_id = $1";
    let n = portcullis_e2e::db::scalar(s.store.connection(), events, vec![user.into()]).await;
    assert_eq!(n, N as i64, "one event per session");
}
