//! `portcullis serve` as a real process: first-start key, logs that hold no secret, and a
//! graceful stop on SIGTERM that lets in-flight requests finish.

use std::time::Duration;

use portcullis_e2e::TestDb;
use portcullis_e2e::process::Sandbox;
use serde_json::Value;

#[tokio::test]
async fn first_start_makes_a_private_key_and_logs_no_secret() {
    let db = TestDb::new().await;
    let sb = Sandbox::migrated(&db.url);
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
    // The binary gives freed memory back at once (crates/alloc, decision 0015).
    let serving = server.logs().lines().find(|l| l.contains("portcullis is serving")).map(str::to_owned);
    assert!(serving.as_deref().is_some_and(|l| l.contains(r#""allocator_purge_delay_ms":0"#)), "{serving:?}");
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
    let sb = Sandbox::migrated(&db.url);
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
    let sb = Sandbox::migrated(&db.url);
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
    let sb = Sandbox::migrated(&db.url);
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
    let sb = Sandbox::migrated(&db.url);
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

/// Nodes of a new version starting at once on a database that needs migrations take turns:
/// on PostgreSQL each migrates under one advisory lock, in one transaction. Held here by the
/// test, the lock keeps a node's migration waiting; released, the node migrates and serves, and
/// a second node started meanwhile finds nothing left to do.
#[tokio::test]
async fn migrations_wait_for_the_one_in_progress() {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};
    let db = TestDb::new().await;
    if !db.is_postgres() {
        // A SQLite file belongs to one node.
        return;
    }
    let mut one = ConnectOptions::new(db.url.clone());
    one.max_connections(1).min_connections(1);
    let holder = Database::connect(one).await.expect("connect");
    let lock = portcullis_store::MIGRATION_LOCK;
    holder.execute_unprepared(&format!("SELECT pg_advisory_lock({lock})")).await.expect("lock");
    let sb = Sandbox::new(&db.url);
    let mut first = sb.spawn(&["migrate", "--json"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(first.try_wait().expect("wait").is_none(), "the migration waits for the lock's holder");
    let applied = "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'users'";
    assert_eq!(portcullis_e2e::db::scalar(&holder, applied, vec![]).await, 0, "nothing applied meanwhile");
    // A node started meanwhile waits too.
    let second = std::thread::spawn({
        let env = sb.env.clone();
        move || {
            let sb = Sandbox { dir: tempfile::tempdir().expect("tempdir"), env };
            let node = sb.serve(&[], "info");
            (sb, node)
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the node's start waits for the lock too");
    holder.execute_unprepared(&format!("SELECT pg_advisory_unlock({lock})")).await.expect("unlock");
    let out = first.wait_with_output().expect("migrate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(portcullis_e2e::db::scalar(&holder, applied, vec![]).await, 1);
    let (_sb, node) = second.join().expect("the second node starts");
    let res = reqwest::get(node.url("/readyz")).await.expect("readyz");
    assert_eq!(res.status(), 200, "{}", node.logs());
    node.terminate();
}

/// At the default level, one line per request: method, route template, status and latency —
/// never the query string; probes stay at debug.
#[tokio::test]
async fn each_request_is_one_info_line() {
    let db = TestDb::new().await;
    let sb = Sandbox::migrated(&db.url);
    let (id, secret) = sb.client(&["client_credentials"]);
    let server = sb.serve(&[], "info");
    let http = reqwest::Client::new();
    let res = http
        .post(server.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let res = http.get(server.url("/admin/users/some-user?cursor=secret-looking-value")).send().await.expect("send");
    assert_eq!(res.status(), 401);
    http.get(server.url("/healthz")).send().await.expect("send");
    let requests = || -> Vec<Value> {
        server
            .logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "request")
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while requests().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = requests();
    assert_eq!(lines.len(), 2, "one line each for the token and the admin request, none for the probe: {lines:?}");
    let token = &lines[0];
    assert_eq!(token["level"], "INFO");
    let f = &token["fields"];
    assert_eq!(
        (f["method"].as_str(), f["route"].as_str(), f["status"].as_u64()),
        (Some("POST"), Some("/oauth2/token"), Some(200))
    );
    assert!(f["elapsed_ms"].is_u64());
    assert_eq!(lines[1]["fields"]["route"], "/admin/users/{user_id}");
    assert!(!server.logs().contains("secret-looking-value"));
    server.terminate();
}
