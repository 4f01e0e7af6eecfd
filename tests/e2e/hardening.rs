//! The edges an attacker pushes on (docs/security.md): browser login sessions and their
//! cookies, idle and slowloris sockets, the throttle's own state, redirect URIs, state files,
//! resource-server-only endpoints, the feed's bounds, and a guard whose feed went silent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portcullis_domain::grant::GrantType::{AuthorizationCode, ClientCredentials, Password, RefreshToken};
use portcullis_e2e::authflow::{FormBrowser, csrf_of, pkce_pair, query_of};
use portcullis_e2e::feed::FeedFollower;
use portcullis_e2e::process::Sandbox;
use portcullis_e2e::proxy::TcpProxy;
use portcullis_e2e::{TestClient, TestDb, TestServer};
use portcullis_guard::{AuthError, Guard};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PW: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn authorize_url(s: &TestServer, app: &TestClient, challenge: &str) -> String {
    s.url(&format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=read&state=st\
         &code_challenge={challenge}&code_challenge_method=S256",
        app.id
    ))
}

/// A browser logged in to the authorization pages, with a consent for `app`, and the tokens
/// its first code gave. Its next authorize answers at once with a redirect.
async fn logged_in_browser(s: &TestServer, app: &TestClient) -> (FormBrowser, String, Value) {
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(s, app, &challenge);
    let mut browser = FormBrowser::new();
    let back = browser.authorize(&s.base, &url, "alice", PW).await;
    let code = query_of(&back)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", app.id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let res = s.post_form("/oauth2/token", &form, None, &[]).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.expect("json");
    let (status, location, _) = browser.get(&url).await;
    assert_eq!(status, 303, "still logged in: straight back to the app");
    assert!(location.expect("Location").starts_with(REDIRECT));
    (browser, url, tokens)
}

/// Whether the browser is shown the login page again.
async fn asked_to_log_in(browser: &mut FormBrowser, url: &str) -> bool {
    let (status, _, body) = browser.get(url).await;
    status == 200 && body.contains(r#"name="password""#)
}

/// A logout, a kick-all, a password change and a ban each end the browser's login session too:
/// the next authorization asks for the password again.
#[tokio::test]
async fn browser_login_sessions_end_with_logout_kick_all_password_change_and_ban() {
    let s = TestServer::start().await;
    let app = s.app_client(&[AuthorizationCode, RefreshToken], "read", &[REDIRECT], true).await;
    let pw = s.client(&[Password], "read").await;
    let user = s.user("alice", PW).await;
    let ops = s.admin_token().await;

    let (mut browser, url, tokens) = logged_in_browser(&s, &app).await;
    let res = s.http.post(s.url("/me/logout")).bearer_auth(tokens["access_token"].as_str().expect("at")).send().await;
    assert_eq!(res.expect("send").status(), 204);
    assert!(asked_to_log_in(&mut browser, &url).await, "logout ends the browser login");

    let (mut browser, url, _) = logged_in_browser(&s, &app).await;
    let res = s.http.delete(s.url(&format!("/admin/users/{user}/devices"))).bearer_auth(&ops).send().await;
    assert_eq!(res.expect("send").status(), 204);
    assert!(asked_to_log_in(&mut browser, &url).await, "kick-all ends the browser login");

    let (mut browser, url, _) = logged_in_browser(&s, &app).await;
    let other = s.login(&pw, "alice", PW, &[]).await;
    let change = json!({"current_password": PW, "new_password": "a brand new passphrase"});
    let res = s.http.post(s.url("/me/password")).bearer_auth(other["access_token"].as_str().expect("at"));
    assert_eq!(res.json(&change).send().await.expect("send").status(), 204);
    assert!(asked_to_log_in(&mut browser, &url).await, "a password change ends the browser login");
    let back = json!({"current_password": "a brand new passphrase", "new_password": PW});
    let res = s.http.post(s.url("/me/password")).bearer_auth(other["access_token"].as_str().expect("at"));
    assert_eq!(res.json(&back).send().await.expect("send").status(), 204);

    let (mut browser, url, _) = logged_in_browser(&s, &app).await;
    let res = s.http.post(s.url(&format!("/admin/users/{user}/ban"))).bearer_auth(&ops).json(&json!({"reason": "x"}));
    assert_eq!(res.send().await.expect("send").status(), 200);
    let res = s.http.post(s.url(&format!("/admin/users/{user}/unban"))).bearer_auth(&ops).send().await;
    assert_eq!(res.expect("send").status(), 200);
    assert!(asked_to_log_in(&mut browser, &url).await, "the ban ended the browser login; the unban does not revive it");
}

/// The CSRF token is bound to the login session and the CSRF cookie is replaced at login: a
/// token from before the login, or one minted for another browser's login, is refused.
#[tokio::test]
async fn csrf_tokens_are_bound_to_the_login_and_rotated_at_it() {
    let s = TestServer::start().await;
    let app = s.app_client(&[AuthorizationCode], "read", &[REDIRECT], true).await;
    s.user("alice", PW).await;
    s.user("mallory", "mallory's long password").await;
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&s, &app, &challenge);

    let mut victim = FormBrowser::new();
    let (_, _, page) = victim.get(&url).await;
    let before = csrf_of(&page);
    let cookie_before = victim.cookies["portcullis_csrf"].clone();
    let (status, _, _) =
        victim.post(&url, &[("csrf", &before), ("action", "login"), ("username", "alice"), ("password", PW)]).await;
    assert_eq!(status, 303);
    assert_ne!(victim.cookies["portcullis_csrf"], cookie_before, "a new CSRF cookie at login");
    let (status, _, _) = victim.post(&url, &[("csrf", &before), ("action", "allow")]).await;
    assert_eq!(status, 400, "the pre-login token no longer works");

    // Mallory logs in herself, takes her consent page's token and plants her CSRF cookie in the
    // victim's browser (cookie tossing): the token is bound to her login, not the victim's.
    let mut mallory = FormBrowser::new();
    let (_, _, page) = mallory.get(&url).await;
    let token = csrf_of(&page);
    mallory
        .post(
            &url,
            &[("csrf", &token), ("action", "login"), ("username", "mallory"), ("password", "mallory's long password")],
        )
        .await;
    let (_, _, consent) = mallory.get(&url).await;
    let her_token = csrf_of(&consent);
    victim.cookies.insert("portcullis_csrf".into(), mallory.cookies["portcullis_csrf"].clone());
    let (status, _, _) = victim.post(&url, &[("csrf", &her_token), ("action", "allow")]).await;
    assert_eq!(status, 400, "another login's token does not fit the victim's login session");
    let (_, _, consent) = victim.get(&url).await;
    let (status, location, _) = victim.post(&url, &[("csrf", &csrf_of(&consent)), ("action", "allow")]).await;
    assert_eq!(status, 303);
    assert!(location.expect("Location").contains("code="));
}

/// On an https issuer every cookie is `__Host-` prefixed and `Secure`, and unprefixed ones
/// (which a sibling host could have set) are ignored.
#[tokio::test]
async fn cookies_are_host_prefixed_and_secure_on_an_https_issuer() {
    let s = TestServer::start_with(|c| c.issuer = Some("https://auth.example".into())).await;
    let app = s.app_client(&[AuthorizationCode], "read", &[REDIRECT], true).await;
    s.user("alice", PW).await;
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&s, &app, &challenge);
    let res = s.http.get(&url).send().await.expect("send");
    let cookies: Vec<String> =
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii").to_owned()).collect();
    assert!(!cookies.is_empty());
    for c in &cookies {
        assert!(c.starts_with("__Host-"), "{c}");
        assert!(c.contains("; Secure") && c.contains("Path=/") && !c.contains("Domain"), "{c}");
    }
    let page = res.text().await.expect("html");
    let csrf_cookie = cookies.iter().find(|c| c.starts_with("__Host-portcullis_csrf=")).expect("csrf cookie");
    let value = csrf_cookie.split(';').next().expect("pair").split_once('=').expect("=").1;
    // The same value under the unprefixed name is not the CSRF cookie.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let res = http
        .post(&url)
        .header("cookie", format!("portcullis_csrf={value}"))
        .form(&[("csrf", csrf_of(&page).as_str()), ("action", "login"), ("username", "alice"), ("password", PW)])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    let res = http
        .post(&url)
        .header("cookie", format!("__Host-portcullis_csrf={value}"))
        .form(&[("csrf", csrf_of(&page).as_str()), ("action", "login"), ("username", "alice"), ("password", PW)])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 303, "the prefixed cookie works");
}

/// Reads until the server closes the socket; the time that took, or `None` if it stayed open.
async fn closed_within(mut socket: TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::from_std(started + within), socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

async fn healthz(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let res =
        reqwest::Client::new().get(format!("http://{addr}/healthz")).timeout(Duration::from_secs(10)).send().await;
    assert_eq!(res.expect("healthz answers").status(), 200);
    started.elapsed()
}

/// Idle sockets, slowly dripping request heads and idle kept-alive connections are closed by
/// their timeouts, and the node keeps answering meanwhile; at the connection cap, idle ones
/// make room for new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_sockets_are_closed_and_the_node_keeps_answering() {
    let s = TestServer::start_with(|c| {
        c.http.header_read_timeout = Duration::from_secs(1);
        c.http.request_timeout = Duration::from_millis(1_500);
        c.http.idle_timeout = Duration::from_secs(2);
        c.http.max_connections = 24;
    })
    .await;
    let idle: Vec<TcpStream> = futures::future::join_all((0..8).map(|_| TcpStream::connect(s.addr)))
        .await
        .into_iter()
        .map(|c| c.expect("connect"))
        .collect();
    let mut drippers = Vec::new();
    for i in 0..6 {
        let mut socket = TcpStream::connect(s.addr).await.expect("connect");
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        drippers.push(tokio::spawn(async move {
            let started = Instant::now();
            // A header byte every 100 ms, never the blank line that ends the head.
            for n in 0..100 {
                if socket.write_all(format!("X-{i}-{n}: y\r\n").as_bytes()).await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            closed_within(socket, Duration::from_millis(1)).await
        }));
    }
    let mut kept = TcpStream::connect(s.addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.expect("response");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    assert!(healthz(s.addr).await < Duration::from_secs(1), "the node answers during the attack");
    for socket in idle {
        let took = closed_within(socket, Duration::from_secs(4)).await.expect("a silent socket is closed");
        assert!(took < Duration::from_secs(2), "it owed its first head within the header timeout: {took:?}");
    }
    for d in drippers {
        let took = d.await.expect("dripper").expect("a dripping head is cut off");
        assert!(took < Duration::from_secs(3), "at the header timeout, however slowly it drips: {took:?}");
    }
    let took = closed_within(kept, Duration::from_secs(5)).await.expect("an idle kept-alive connection is closed");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // Fill every slot with idle sockets: a new client still gets in, because idle connections
    // are closed first at the cap.
    let mut hogs = Vec::new();
    for _ in 0..24 {
        let mut socket = TcpStream::connect(s.addr).await.expect("connect");
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let _ = socket.read(&mut buf).await;
        hogs.push(socket);
    }
    assert!(healthz(s.addr).await < Duration::from_secs(3), "a new client is served at the cap");
}

/// Past the per-address limit no username is even counted: a flood of guesses at a victim's
/// name from one address cannot lock the victim out from elsewhere.
#[tokio::test]
async fn the_address_limit_comes_before_the_username_is_counted() {
    let s = TestServer::start_with(|c| {
        c.login.max_attempts_per_ip = 20;
        c.login.max_attempts_per_user = 5;
    })
    .await;
    let c = s.client(&[Password], "read").await;
    s.user("victim", PW).await;
    let guess = |n: usize| format!("wrong guess {n}");
    for n in 0..20 {
        let g = guess(n);
        let form = [("grant_type", "password"), ("username", "someone-else"), ("password", g.as_str())];
        let _ = s.token_request(&form, Some(&c)).await;
    }
    for n in 0..30 {
        let g = guess(n);
        let form = [("grant_type", "password"), ("username", "victim"), ("password", g.as_str())];
        assert_eq!(s.token_request(&form, Some(&c)).await.status(), 429, "the address is over its limit");
    }
    // From another address the victim logs in: those 30 never reached the victim's counter.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client on 127.0.0.2");
    let res = elsewhere
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "password"), ("username", "victim"), ("password", PW)])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200, "the victim is not locked out");
}

/// Registration refuses redirect URIs a browser would run or read locally, plain http off the
/// loopback, and fragments, from the admin API and the CLI alike.
#[tokio::test]
async fn dangerous_redirect_uris_are_refused_at_registration() {
    let s = TestServer::start().await;
    let ops = s.admin_token().await;
    for uri in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "https://app.example/cb#fragment",
        "http://app.example/cb",
        "myapp:/cb",
    ] {
        let body = json!({"name": "x", "grants": ["authorization_code"], "redirect_uris": [uri], "public": true});
        let res = s.http.post(s.url("/admin/clients")).bearer_auth(&ops).json(&body).send().await.expect("send");
        assert_eq!(res.status(), 400, "{uri}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["error"], "invalid_request", "{uri}");
        assert!(err["error_description"].as_str().expect("d").contains("redirect URI"), "{err}");
    }
    for uri in ["https://app.example/cb", "http://127.0.0.1/callback", "http://[::1]:8000/cb", "com.example.app:/cb"] {
        let body = json!({"name": "x", "grants": ["authorization_code"], "redirect_uris": [uri], "public": true});
        let res = s.http.post(s.url("/admin/clients")).bearer_auth(&ops).json(&body).send().await.expect("send");
        assert_eq!(res.status(), 201, "{uri}");
    }
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    sb.run_json(&["migrate", "--json"], "");
    let out = sb.run(
        &["client", "create", "--name", "x", "--grant", "authorization_code", "--redirect-uri", "javascript:alert(1)"],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("redirect URI"), "{err}");
}

/// The keys folder (signing keys and the pepper) is the owner's alone, and so is the SQLite file.
#[cfg(unix)]
#[tokio::test]
async fn state_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    sb.run_json(&["migrate", "--json"], "");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&sb.keys_dir()), 0o700, "keys/");
    for entry in std::fs::read_dir(sb.keys_dir()).expect("keys") {
        assert_eq!(mode(&entry.expect("entry").path()), 0o600);
    }
    if !db.is_postgres() {
        let file = db.url.trim_start_matches("sqlite://");
        assert_eq!(mode(std::path::Path::new(file)), 0o600, "the SQLite file");
    }
}

/// Revoking the same client token twice records one revocation; feed streams are capped per
/// client; a large backlog arrives whole, a page at a time, before `caught-up`.
#[tokio::test]
async fn the_feed_and_the_log_are_bounded() {
    let s = TestServer::start_with(|c| c.revocation.feed_max_per_client = 2).await;
    let rs = s.resource_server().await;
    let cc = s.client(&[ClientCredentials], "").await;
    let token = s.client_token(&cc, None).await["access_token"].as_str().expect("at").to_owned();
    for _ in 0..3 {
        let res = s.post_form("/oauth2/revoke", &[("token", &token)], Some(&cc), &[]).await;
        assert_eq!(res.status(), 200);
    }
    let jti = crate::jwt::parts(&token).1["jti"].as_str().expect("jti").to_owned();
    let db = s.store.connection();
    let events = "SELECT COUNT(*) FROM revocation_events WHERE jti = $1";
    assert_eq!(portcullis_e2e::db::scalar(db, events, vec![jti.into()]).await, 1, "one event per token");

    // 2,500 revocations in force: more than one page of the backlog.
    let now = s.now();
    for i in 0..2_500 {
        let r = portcullis_domain::revocation::NewRevocation {
            at: now,
            target: portcullis_domain::revocation::Target::Token { jti: format!("bulk-{i}") },
            reason: portcullis_domain::revocation::Reason::RevokedByClient,
        };
        portcullis_revocation::RevocationLog::append(&s.store, &r).await.expect("append");
    }
    let url = s.url("/oauth2/revocation-feed");
    let secret = rs.secret.as_deref().expect("secret");
    let mut first = FeedFollower::connect(&url, &rs.id, secret, None).await;
    let backlog = first.backlog().await;
    assert_eq!(backlog.len(), 2_501, "every revocation in force, across pages");
    let mut ids: Vec<i64> = backlog.iter().map(|e| e.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2_501, "in order, none twice");
    let _second = FeedFollower::connect(&url, &rs.id, secret, None).await;
    let res = s.http.get(&url).basic_auth(&rs.id, Some(secret)).send().await.expect("send");
    assert_eq!(res.status(), 429, "a third stream of the same client is refused");
    assert!(res.headers().contains_key("retry-after"));
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = s.http.get(&url).basic_auth(&rs.id, Some(secret)).send().await.expect("send");
        if res.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "a closed stream frees its place");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A guard whose feed goes silent past its staleness refuses tokens (it cannot see kicks) and
/// says so in its health; when the feed is back, so is it.
#[tokio::test]
async fn a_blind_guard_fails_closed_and_says_so() {
    // The issuer is the proxy's address, so the guard reaches the server only through it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_addr = listener.local_addr().expect("addr");
    let s = TestServer::start_with(|c| c.issuer = Some(format!("http://{proxy_addr}"))).await;
    let proxy = TcpProxy::on(listener, s.addr);
    let app = s.client(&[Password], "read").await;
    let rs = s.resource_server().await;
    s.user("alice", PW).await;
    let token = s.login(&app, "alice", PW, &[]).await["access_token"].as_str().expect("at").to_owned();
    let guard = Guard::builder(format!("http://{proxy_addr}"))
        .client_credentials(&rs.id, rs.secret.as_deref().expect("secret"))
        .feed_silence_timeout(Duration::from_millis(500))
        .feed_staleness(Duration::from_secs(2))
        .build()
        .await
        .expect("guard");
    tokio::time::timeout(Duration::from_secs(10), guard.caught_up()).await.expect("caught up");
    guard.verify(&token).await.expect("live while the feed speaks");
    assert!(guard.health().is_healthy());

    proxy.down().await;
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(matches!(guard.verify(&token).await, Err(AuthError::Unavailable)), "blind: refused, not trusted");
    let health = guard.health();
    assert!(health.blind && !health.is_healthy(), "{health:?}");

    proxy.up();
    let deadline = Instant::now() + Duration::from_secs(15);
    while guard.verify(&token).await.is_err() {
        assert!(Instant::now() < deadline, "the guard recovers when its feed is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(guard.health().is_healthy());
}
