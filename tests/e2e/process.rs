//! `portcullis serve` as a real process: first-start key, logs that hold no secret, and a
//! graceful stop on SIGTERM that lets in-flight requests finish.

use std::time::Duration;

use portcullis_e2e::TestDb;
use portcullis_e2e::process::Sandbox;
use serde_json::Value;

#[tokio::test]
async fn first_start_makes_a_private_key_and_logs_no_secret() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    let (id, secret) = sb.resource_client(&["client_credentials", "password", "refresh_token"]);
    let password = "p4ssw0rd-that-must-never-be-logged";
    sb.run_json(&["user", "create", "--username", "gina", "--password-stdin", "--json"], &format!("{password}\n"));

    // Everything at debug, so that whatever the libraries log is captured too.
    let server = sb.serve(&[], "debug");
    let pems: Vec<_> = std::fs::read_dir(sb.keys_dir())
        .expect("keys dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "pem"))
        .collect();
    assert_eq!(pems.len(), 1, "one key made at first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = pems[0].metadata().expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private key must be owner-only");
        let pepper = std::fs::metadata(sb.keys_dir().join("pepper")).expect("pepper").permissions().mode() & 0o777;
        assert_eq!(pepper, 0o600);
    }

    let http = reqwest::Client::new();
    let token_url = server.url("/oauth2/token");
    let cc: Value = http
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let login: Value = http
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .header("authorization-extra", "noise")
        .form(&[("grant_type", "password"), ("username", "gina"), ("password", password)])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let failed = http
        .post(&token_url)
        .basic_auth(&id, Some("pcs_wrong-secret-guess"))
        .form(&[("grant_type", "password"), ("username", "gina"), ("password", "wrong-password-guess")])
        .send()
        .await
        .expect("send");
    assert_eq!(failed.status(), 401);
    let introspected: Value = http
        .post(server.url("/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", login["access_token"].as_str().expect("at"))])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(introspected["active"], true);

    server.terminate();
    let mut server = server;
    assert!(server.wait_exit(Duration::from_secs(15)), "exit status 0 after SIGTERM");
    let logs = server.logs();
    assert!(logs.lines().count() > 5, "debug logging captured something: {logs}");
    let secrets = [
        secret.as_str(),
        password,
        "wrong-password-guess",
        "pcs_wrong-secret-guess",
        cc["access_token"].as_str().expect("at"),
        login["access_token"].as_str().expect("at"),
        login["refresh_token"].as_str().expect("rt"),
    ];
    for s in secrets {
        // A JWT is long; its signature alone identifies it.
        let needle = s.rsplit('.').next().expect("part");
        assert!(!logs.contains(needle), "a secret or token reached the logs");
    }
    assert!(!logs.to_ascii_lowercase().contains("authorization: basic"), "an Authorization header reached the logs");
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    let (id, secret) = sb.client(&["password"]);
    // A deliberately slow password hash (its cost is stored in the hash) makes the login
    // take a while.
    let mut env = sb.env.clone();
    env.retain(|(k, _)| !k.starts_with("PORTCULLIS_PASSWORDS__"));
    env.push(("PORTCULLIS_PASSWORDS__MEMORY_KIB".into(), "262144".into()));
    env.push(("PORTCULLIS_PASSWORDS__ITERATIONS".into(), "4".into()));
    let sb = Sandbox { dir: sb.dir, env };
    sb.run_json(&["user", "create", "--username", "hank", "--password-stdin", "--json"], "hank's long password\n");
    let mut server = sb.serve(&[], "info");
    let url = server.url("/oauth2/token");
    let in_flight = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let res = reqwest::Client::new()
            .post(url)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "password"), ("username", "hank"), ("password", "hank's long password")])
            .send()
            .await
            .expect("in-flight request answered");
        (res.status(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.terminate();
    let (status, took) = in_flight.await.expect("join");
    assert_eq!(status, 200, "the request in flight at SIGTERM completed");
    assert!(took > Duration::from_millis(150), "the request was in flight when the signal came ({took:?})");
    assert!(server.wait_exit(Duration::from_secs(20)));
    assert!(server.logs().contains("shutting down"));
}

/// Two server processes sharing one database (PostgreSQL in CI's second run) race 32 refreshes
/// of one token: no 500, and exactly one live token afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_refreshes_keep_one_live_token() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    let (id, secret) = sb.client(&["password", "refresh_token"]);
    sb.run_json(&["user", "create", "--username", "kim", "--password-stdin", "--json"], "kim's long password\n");
    let a = sb.serve(&[("PORTCULLIS_REFRESH__REUSE_GRACE", "30s")], "warn,portcullis_server=info");
    let b = sb.serve(&[("PORTCULLIS_REFRESH__REUSE_GRACE", "30s")], "warn,portcullis_server=info");
    let http = reqwest::Client::new();
    let login: Value = http
        .post(a.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "kim"),
            ("password", "kim's long password"),
            ("device_id", "race"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let token = login["refresh_token"].as_str().expect("rt").to_owned();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let url = if i % 2 == 0 { a.url("/oauth2/token") } else { b.url("/oauth2/token") };
        let (http, id, secret, token) = (http.clone(), id.clone(), secret.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .basic_auth(&id, Some(&secret))
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
    assert!(statuses.iter().all(|s| *s == 200), "every racer inside the grace window is a retry: {statuses:?}");
    let conn = sea_orm::Database::connect(&db.url).await.expect("connect");
    let live = "SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL AND superseded_at IS NULL";
    assert_eq!(portcullis_e2e::db::scalar(&conn, live, vec![]).await, 1, "one live refresh token in the family");
}

/// A feed follower holds its stream open for ever; SIGTERM must still stop the node promptly.
#[tokio::test]
async fn sigterm_ends_open_feed_streams() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    let (id, secret) = sb.resource_client(&["client_credentials"]);
    let mut server = sb.serve(&[], "info");
    let mut follower =
        portcullis_e2e::feed::FeedFollower::connect(&server.url("/oauth2/revocation-feed"), &id, &secret, None).await;
    follower.backlog().await;
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)), "the node exits cleanly with a follower connected");
}

/// Without Redis the revocation state lives in process; a restarted node rebuilds it from SQL.
#[tokio::test]
async fn a_restarted_node_still_refuses_revoked_tokens() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    let (id, secret) = sb.resource_client(&["password"]);
    sb.run_json(&["user", "create", "--username", "ida", "--password-stdin", "--json"], "ida's long password\n");
    let issuer = [("PORTCULLIS_ISSUER", "http://portcullis.test")];
    let http = reqwest::Client::new();
    let mut server = sb.serve(&issuer, "info");
    let login = |url: String| {
        http.post(url)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "password"), ("username", "ida"), ("password", "ida's long password")])
            .send()
    };
    let kicked: Value = login(server.url("/oauth2/token")).await.expect("login").json().await.expect("json");
    let kept: Value = login(server.url("/oauth2/token")).await.expect("login").json().await.expect("json");
    let logout = http.post(server.url("/me/logout")).bearer_auth(kicked["access_token"].as_str().expect("at"));
    assert_eq!(logout.send().await.expect("logout").status(), 204);
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)));

    let server = sb.serve(&issuer, "info");
    let active = |token: &Value| {
        http.post(server.url("/oauth2/introspect"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token["access_token"].as_str().expect("at"))])
            .send()
    };
    let body: Value = active(&kicked).await.expect("introspect").json().await.expect("json");
    assert_eq!(body["active"], false, "the logout survives a restart");
    let body: Value = active(&kept).await.expect("introspect").json().await.expect("json");
    assert_eq!(body["active"], true);
}
