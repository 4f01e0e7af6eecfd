//! The `portcullis` command line, run as a process: `--json` shapes, bad input, no half-writes.

use portcullis_e2e::TestDb;
use portcullis_e2e::process::Sandbox;
use sea_orm::Database;

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
