//! The `portcullis` command line, run as a process: `--json` shapes, bad input, no half-writes.

use portcullis_e2e::TestDb;
use portcullis_e2e::process::{Sandbox, token_request};
use sea_orm::Database;

async fn count_sql(url: &str, sql: &str) -> i64 {
    let db = Database::connect(url).await.expect("connect");
    portcullis_e2e::db::scalar(&db, sql, vec![]).await
}

async fn count(url: &str, table: &str) -> i64 {
    let db = Database::connect(url).await.expect("connect");
    portcullis_e2e::db::scalar(&db, &format!("SELECT COUNT(*) FROM {table}"), vec![]).await
}

#[tokio::test]
async fn client_user_and_keys_commands() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    assert_eq!(sb.run_json(&["migrate", "--json"], ""), serde_json::json!({"migrated": true}));

    let c = sb.run_json(
        &[
            "client",
            "create",
            "--name",
            "app",
            "--grant",
            "client_credentials",
            "--grant",
            "password",
            "--scope",
            "read write",
            "--json",
        ],
        "",
    );
    assert!(c["client_id"].as_str().expect("id").starts_with("pc_"));
    assert!(c["client_secret"].as_str().expect("secret").starts_with("pcs_"));
    assert_eq!(c.as_object().expect("object").len(), 2);
    let p = sb.run_json(&["client", "create", "--name", "spa", "--grant", "password", "--public", "--json"], "");
    assert!(p.get("client_secret").is_none(), "public clients get no secret: {p}");

    let u = sb.run_json(&["user", "create", "--username", "dave", "--password-stdin", "--json"], "a long password\n");
    assert!(u["user_id"].is_string());
    assert_eq!(u.as_object().expect("object").len(), 1);

    // First `keys list` on a fresh install: nothing yet; rotate adds a pending key.
    let listed = sb.run_json(&["keys", "list", "--json"], "");
    assert_eq!(listed["keys"], serde_json::json!([]));
    let rotated = sb.run_json(&["keys", "rotate", "--json"], "");
    assert!(rotated["kid"].is_string() && rotated["active_from"].is_string());
    let listed = sb.run_json(&["keys", "list", "--json"], "");
    assert_eq!(listed["keys"][0]["kid"], rotated["kid"]);
    assert_eq!(listed["keys"][0]["state"], "pending");
    let pem = sb.keys_dir().join(format!("{}.pem", rotated["kid"].as_str().expect("kid")));
    assert!(pem.exists());
    assert_eq!(count(&db.url, "clients").await, 2);
}

#[tokio::test]
async fn bad_input_is_one_line_nonzero_and_writes_nothing() {
    let db = TestDb::new().await;
    let sb = Sandbox::new(&db.url);
    sb.run_json(&["migrate", "--json"], "");
    sb.run_json(&["user", "create", "--username", "erin", "--password-stdin", "--json"], "first password\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["client", "create", "--name", "x", "--grant", "implicit", "--json"], ""),
        (vec!["client", "create", "--name", "x", "--grant", "client_credentials", "--public", "--json"], ""),
        (vec!["client", "create", "--name", "x", "--grant", "authorization_code", "--json"], ""),
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "not a uri",
                "--json",
            ],
            "",
        ),
        (vec!["client", "create", "--name", "x", "--scope", "bad\"scope", "--json"], ""),
        (vec!["client", "create", "--name", "", "--json"], ""),
        (vec!["user", "create", "--username", "erin", "--password-stdin", "--json"], "another password\n"),
        (vec!["user", "create", "--username", "frank", "--password-stdin", "--json"], "short\n"),
        (vec!["user", "create", "--username", "frank", "--password-stdin", "--json"], ""),
        (vec!["user", "create", "--username", " frank", "--password-stdin", "--json"], "long enough password\n"),
    ];
    for (args, stdin) in cases {
        let out = sb.run(&args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let err = String::from_utf8(out.stderr).expect("utf8");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line on stderr, got {err:?}");
        assert!(err.starts_with("error: "), "{err}");
    }
    assert_eq!(count(&db.url, "clients").await, 0, "no client was half-written");
    assert_eq!(count(&db.url, "users").await, 1);
    // A missing --config file is an error too.
    let out = sb.run(&["--config", "nope.toml", "migrate"], "");
    assert!(!out.status.success());
}

/// The admin operations from the command line, against a serving node: each `--json` answer,
/// and that the node sees what the command did (a kicked device's refresh fails, a banned user
/// gets no token, a deleted client's grant fails).
#[tokio::test]
async fn user_and_client_admin_commands_act_through_session_control() {
    let db = TestDb::new().await;
    let sb = Sandbox::migrated(&db.url);
    let (id, secret) = sb.client(&["password", "refresh_token", "client_credentials"]);
    let alice =
        sb.run_json(&["user", "create", "--username", "alice", "--password-stdin", "--json"], "alice's password\n");
    sb.run_json(&["user", "create", "--username", "bob", "--password-stdin", "--json"], "bob's long password\n");
    let server = sb.serve(&[("PORTCULLIS_CLIENTS__CACHE_TTL", "0s")], "info");
    let http = reqwest::Client::new();
    let endpoint = server.url("/oauth2/token");
    let token = |form| token_request(&http, &endpoint, (&id, &secret), form);
    let login = |user: &'static str, password: &'static str, device: &'static str| {
        token(vec![
            ("grant_type", "password".into()),
            ("username", user.into()),
            ("password", password.into()),
            ("device_id", device.into()),
        ])
    };
    let refresh = |t: &serde_json::Value| {
        token(vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", t["refresh_token"].as_str().expect("rt").into()),
            ("device_id", t["device_id"].as_str().expect("device").into()),
        ])
    };
    let (s, phone) = login("alice", "alice's password", "dev_phone").await;
    assert_eq!(s, 200, "{phone}");
    let (_, laptop) = login("alice", "alice's password", "dev_laptop").await;

    let users = sb.run_json(&["user", "list", "--json"], "");
    let names: Vec<&str> =
        users["users"].as_array().expect("users").iter().map(|u| u["username"].as_str().expect("name")).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"alice") && names.contains(&"bob"), "{users}");

    let by_name = sb.run_json(&["user", "show", "alice", "--json"], "");
    let by_id = sb.run_json(&["user", "show", alice["user_id"].as_str().expect("id"), "--json"], "");
    assert_eq!(by_name, by_id);
    assert_eq!(by_name["user_id"], alice["user_id"]);
    assert_eq!(by_name["status"], "active");

    let sessions = sb.run_json(&["user", "sessions", "alice", "--json"], "");
    assert_eq!(sessions["user_id"], alice["user_id"]);
    let devices = sessions["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{sessions}");
    assert!(devices.iter().all(|d| d["active"] == true), "{sessions}");

    // Kick one device: its refresh fails at once, the other device's works.
    let kicked = sb.run_json(&["user", "kick", "alice", "dev_phone", "--json"], "");
    assert_eq!(kicked, serde_json::json!({"user_id": alice["user_id"], "device_id": "dev_phone", "sessions_ended": 1}));
    let (s, body) = refresh(&phone).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (s, laptop) = refresh(&laptop).await;
    assert_eq!(s, 200, "{laptop}");
    let sessions = sb.run_json(&["user", "sessions", "alice", "--json"], "");
    let active: Vec<&str> = sessions["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["active"] == true)
        .map(|d| d["device_id"].as_str().expect("id"))
        .collect();
    assert_eq!(active, ["dev_laptop"]);

    // Kick all.
    let all = sb.run_json(&["user", "kick", "alice", "--json"], "");
    assert_eq!(all["device_id"], serde_json::Value::Null);
    assert_eq!(all["sessions_ended"], 1);
    let (s, _) = refresh(&laptop).await;
    assert_eq!(s, 400);

    // Ban and unban.
    let banned = sb.run_json(&["user", "ban", "bob", "--reason", "chargeback", "--json"], "");
    assert_eq!((banned["status"].as_str(), banned["ban_reason"].as_str()), (Some("banned"), Some("chargeback")));
    let (s, body) = login("bob", "bob's long password", "dev_bob").await;
    assert_eq!(s, 400, "a banned user gets no token: {body}");
    let unbanned = sb.run_json(&["user", "unban", "bob", "--json"], "");
    assert_eq!(unbanned["status"], "active");
    let (s, body) = login("bob", "bob's long password", "dev_bob").await;
    assert_eq!(s, 200, "{body}");

    // `token verify`: a valid token's claims as one JSON object; a bad one, one line.
    let base = server.url("");
    let issuer = base.trim_end_matches('/');
    let (_, fresh) = login("alice", "alice's password", "dev_again").await;
    let at = fresh["access_token"].as_str().expect("at");
    let claims = sb.run_json(&["token", "verify", at, "--issuer", issuer, "--json"], "");
    assert_eq!((claims["sub"].as_str(), claims["aud"].as_str()), (alice["user_id"].as_str(), Some("api")));
    let tampered = format!("{}x", &at[..at.len() - 1]);
    for (token, why) in [(tampered.as_str(), "invalid token"), ("not-a-jwt", "invalid token")] {
        let out = sb.run(&["token", "verify", token, "--issuer", issuer, "--json"], "");
        let err = String::from_utf8(out.stderr).expect("utf8");
        assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
        assert!(err.starts_with(&format!("error: {why}")), "{err}");
    }
    let out = sb.run(&["token", "verify", at, "--issuer", issuer, "--audience", "billing", "--json"], "");
    assert!(!out.status.success(), "a token for another audience is refused");

    // Clients: listed without secrets; deleting one ends its grants.
    let clients = sb.run_json(&["client", "list", "--json"], "");
    let listed = clients["clients"].as_array().expect("clients");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert!(listed[0].get("client_secret").is_none() && !clients.to_string().contains(&secret));
    let deleted = sb.run_json(&["client", "delete", &id, "--json"], "");
    assert_eq!(deleted["client_id"], id.as_str());
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["sessions_ended"], 2, "bob's and alice's new sessions went with the client");
    let (s, body) = token(vec![("grant_type", "client_credentials".into())]).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(sb.run_json(&["client", "list", "--json"], ""), serde_json::json!({"clients": []}));

    // Each mistake: one line on stderr, a non-zero exit, nothing on stdout.
    for args in [
        vec!["user", "show", "nobody", "--json"],
        vec!["user", "kick", "alice", "dev_never", "--json"],
        vec!["user", "ban", "nobody", "--json"],
        vec!["user", "unban", "nobody", "--json"],
        vec!["user", "sessions", "nobody", "--json"],
        vec!["client", "delete", &id, "--json"],
        vec!["client", "delete", "not a client id", "--json"],
    ] {
        let out = sb.run(&args, "");
        let err = String::from_utf8(out.stderr).expect("utf8");
        assert!(!out.status.success() && out.stdout.is_empty(), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.starts_with("error: no ") || err.starts_with("error: the user has no device"), "{args:?}: {err}");
    }
    // And the audit trail names the command line as the actor.
    let audit = portcullis_e2e::db::scalar(
        &Database::connect(&db.url).await.expect("connect"),
        "SELECT COUNT(*) FROM audit_events WHERE actor = 'cli' AND kind IN ('session_revoked', 'user_banned', 'user_unbanned', 'client_deleted')",
        vec![],
    )
    .await;
    assert!(audit >= 4, "{audit} audit rows by the cli");
}

/// Run from the wrong folder (or with a variable unset), a command must not quietly make a new
/// database or keys folder: the node would never see what it registers.
#[tokio::test]
async fn commands_other_than_serve_and_migrate_refuse_to_create_state() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let missing_db = format!("sqlite://{}/elsewhere/portcullis.db", scratch.path().display());
    let sb = Sandbox::new(&missing_db);
    for args in [
        vec!["client", "create", "--name", "x", "--json"],
        vec!["user", "list", "--json"],
        vec!["keys", "list", "--json"],
    ] {
        let out = sb.run(&args, "");
        let err = String::from_utf8(out.stderr).expect("utf8");
        assert!(!out.status.success() && out.stdout.is_empty(), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
        assert!(err.contains("elsewhere/portcullis.db") && err.contains("PORTCULLIS_DATABASE_URL"), "{err}");
    }
    assert!(!scratch.path().join("elsewhere").exists(), "no folder was made for the database");
    assert!(!sb.keys_dir().exists(), "no keys folder was made");

    // A database that exists, with the keys folder pointed elsewhere.
    let db = TestDb::new().await;
    let good = Sandbox::migrated(&db.url);
    let mut lost = Sandbox::new(&db.url);
    let wrong_keys = scratch.path().join("keys-typo");
    lost.env.retain(|(k, _)| k != "PORTCULLIS_KEYS_DIR");
    lost.env.push(("PORTCULLIS_KEYS_DIR".into(), wrong_keys.display().to_string()));
    let out = lost.run(&["client", "create", "--name", "x", "--json"], "");
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("keys-typo") && err.contains("PORTCULLIS_KEYS_DIR"), "{err}");
    assert!(!wrong_keys.exists());
    assert_eq!(count(&db.url, "clients").await, 0);
    // With the right folder it works.
    good.client(&["client_credentials"]);

    // A database no node has migrated: refused with the command that fixes it.
    let fresh = TestDb::new().await;
    if fresh.is_postgres() {
        let sb = Sandbox::new(&fresh.url);
        std::fs::create_dir_all(sb.keys_dir()).expect("keys dir");
        std::fs::copy(good.keys_dir().join("pepper"), sb.keys_dir().join("pepper")).expect("pepper");
        let out = sb.run(&["user", "list", "--json"], "");
        let err = String::from_utf8(out.stderr).expect("utf8");
        assert!(!out.status.success() && err.contains("portcullis migrate"), "{err}");
        let made = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'";
        assert_eq!(count_sql(&fresh.url, made).await, 0, "the refusal wrote nothing, not even the migrations' table");
    }
}

/// `token verify` (and so the guard) speaks TLS to an https issuer behind a TLS-terminating
/// proxy, and trusts only what the system trust store (or `SSL_CERT_FILE`) trusts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_verify_reaches_an_https_issuer_and_checks_its_certificate() {
    use portcullis_e2e::tls::{TlsFront, ca_file};

    let db = TestDb::new().await;
    let mut sb = Sandbox::migrated(&db.url);
    let (id, secret) = sb.client(&["client_credentials"]);
    let (listener, front) = TlsFront::bind().await;
    let issuer = format!("https://127.0.0.1:{}", front.port());
    let server = sb.serve(&[("PORTCULLIS_ISSUER", &issuer)], "info");
    let upstream = server.base.trim_start_matches("http://").parse().expect("server addr");
    let _front = TlsFront::relay_to(listener, upstream);

    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file()).expect("ca.crt")).expect("ca pem");
    let http = reqwest::Client::builder().add_root_certificate(ca).build().expect("client");
    let res = http
        .post(format!("{issuer}/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token over TLS");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    let at = body["access_token"].as_str().expect("access_token").to_owned();

    // The test CA is in no trust store: the certificate is refused, in one line.
    let run = |sb: &Sandbox| sb.run(&["token", "verify", &at, "--issuer", &issuer, "--json"], "");
    let out = tokio::task::block_in_place(|| run(&sb));
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(err.contains("invalid peer certificate: UnknownIssuer"), "{err}");

    // Trusted through SSL_CERT_FILE, as an operator with a private CA does: every claim checks.
    sb.env.push(("SSL_CERT_FILE".to_owned(), ca_file().display().to_string()));
    let claims = tokio::task::block_in_place(|| {
        let out = run(&sb);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("claims")
    });
    assert_eq!((claims["iss"].as_str(), claims["client_id"].as_str()), (Some(issuer.as_str()), Some(id.as_str())));
}
