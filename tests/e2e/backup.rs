//! docs/OPERATIONS.md's backup and restore, followed to the letter: the database (SQLite's
//! `VACUUM INTO`, or `pg_dump` / `pg_restore`) and `keys/` (copied) taken from a live node, then
//! restored into a fresh node elsewhere. The old access token verifies there, the old refresh
//! token refreshes and the old client secret works; without the pepper nothing would.

use std::process::Command;

use portcullis_e2e::TestDb;
use portcullis_e2e::process::{Sandbox, token_request};
use sea_orm::{ConnectionTrait, Database};

/// A port free now, so that the old node and its replacement share one issuer URL.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    // `cp -a`, as the procedure says: the 0700 folder and 0600 files keep their modes.
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(status.success());
}

/// The database backup of the procedure, taken while `source` serves, restored as `target`.
async fn back_up_and_restore(source: &TestDb, target: &TestDb) {
    if source.is_postgres() {
        let dump = tempfile::NamedTempFile::new().expect("dump file");
        let out =
            Command::new("pg_dump").args(["-Fc", "-f"]).arg(dump.path()).arg(&source.url).output().expect("pg_dump");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("pg_restore")
            .args(["--no-owner", "-d", &target.url])
            .arg(dump.path())
            .output()
            .expect("pg_restore");
        assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
    } else {
        let path = target.url.trim_start_matches("sqlite://");
        let db = Database::connect(&source.url).await.expect("connect");
        db.execute_unprepared(&format!("VACUUM INTO '{path}'")).await.expect("VACUUM INTO");
    }
}

#[tokio::test]
async fn a_restored_node_honours_the_old_nodes_tokens_and_secrets() {
    let db = TestDb::new().await;
    let old = Sandbox::migrated(&db.url);
    let (id, secret) = old.client(&["password", "refresh_token", "client_credentials"]);
    let user =
        old.run_json(&["user", "create", "--username", "rita", "--password-stdin", "--json"], "rita's long password\n");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://{listen}");
    let env = [("PORTCULLIS_LISTEN", listen.as_str()), ("PORTCULLIS_ISSUER", issuer.as_str())];
    let node = old.serve(&env, "info");
    // No pooled connections: the replacement node listens on the old node's port.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let endpoint = format!("{issuer}/oauth2/token");
    let token = |form| token_request(&http, &endpoint, (&id, &secret), form);
    let (status, login) = token(vec![
        ("grant_type", "password".into()),
        ("username", "rita".into()),
        ("password", "rita's long password".into()),
        ("device_id", "dev_rita".into()),
    ])
    .await;
    assert_eq!(status, 200, "{login}");

    // The backup, while the node serves.
    let restored = TestDb::new().await;
    back_up_and_restore(&db, &restored).await;
    let new = Sandbox::new(&restored.url);
    std::fs::remove_dir_all(new.keys_dir()).ok();
    copy_dir(&old.keys_dir(), &new.keys_dir());
    node.terminate();
    drop(node);

    // The old node is gone; a fresh node elsewhere serves the restored state.
    let node = new.serve(&env, "info");
    let at = login["access_token"].as_str().expect("access token");
    let claims = new.run_json(&["token", "verify", at, "--issuer", &issuer, "--json"], "");
    assert_eq!(claims["sub"], user["user_id"], "{claims}");
    assert_eq!(claims["iss"], issuer.as_str());
    let (status, body) = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", login["refresh_token"].as_str().expect("rt").into()),
        ("device_id", "dev_rita".into()),
    ])
    .await;
    assert_eq!(status, 200, "the old refresh token refreshes: {body}");
    let (status, body) = token(vec![("grant_type", "client_credentials".into())]).await;
    assert_eq!(status, 200, "the old client secret works: {body}");
    let listed = new.run_json(&["user", "sessions", "rita", "--json"], "");
    assert_eq!(listed["devices"][0]["device_id"], "dev_rita");
    node.terminate();
}
