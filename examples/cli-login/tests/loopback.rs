//! The `cli-login` binary against a stand-in metadata document: the authorization URL it prints,
//! its loopback listener refusing a redirect without its `state`, and a refusal by the server
//! ending the login with the RFC error. (The whole flow against the real server, in a real
//! browser, is in the workspace's end-to-end suite.)

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Serves a metadata document naming `http://127.0.0.1:9/…` endpoints (nothing listens there:
/// these tests never get as far as the exchange).
async fn fake_issuer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let metadata = serde_json::json!({
        "issuer": base,
        "authorization_endpoint": "http://127.0.0.1:9/oauth2/authorize",
        "token_endpoint": "http://127.0.0.1:9/oauth2/token",
        "code_challenge_methods_supported": ["S256"],
    });
    let app = axum::Router::new()
        .route("/.well-known/oauth-authorization-server", get(move || async move { Json(metadata) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn cli(issuer: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cli-login"))
        .args([
            "--issuer",
            issuer,
            "--client-id",
            "pc_test",
            "--scope",
            "read write",
            "--no-browser",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn cli-login")
}

/// Reads stdout up to the authorization URL it prints, then keeps draining it.
async fn printed_url(child: &mut Child) -> url::Url {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("stdout line") {
            if line.trim().starts_with("http") {
                return url::Url::parse(line.trim()).expect("a URL");
            }
        }
        panic!("cli-login printed no URL");
    };
    let url = tokio::time::timeout(Duration::from_secs(30), read).await.expect("cli-login printed its URL in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}

#[tokio::test]
async fn the_login_url_carries_pkce_state_and_a_loopback_redirect_and_a_refusal_ends_the_login() {
    let issuer = fake_issuer().await;
    let mut child = cli(&issuer);
    let url = printed_url(&mut child).await;

    assert!(url.as_str().starts_with("http://127.0.0.1:9/oauth2/authorize?"), "{url}");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "pc_test");
    assert_eq!(q["scope"], "read write");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "a base64url SHA-256");
    assert!(q["state"].len() >= 16, "an unguessable state");
    let redirect = url::Url::parse(&q["redirect_uri"]).expect("redirect_uri");
    assert_eq!(redirect.host_str(), Some("127.0.0.1"), "an IP literal, not localhost (RFC 8252 §8.3)");
    assert_eq!(redirect.path(), "/callback");
    assert!(redirect.port().is_some_and(|p| p != 0), "the port the OS gave");

    let http = reqwest::Client::new();
    // A redirect without our state (a forged or stale one) is refused and changes nothing.
    let forged = http.get(format!("{redirect}?code=pcc_forged&state=not-ours")).send().await.expect("forged");
    assert_eq!(forged.status(), 400);
    assert!(child.try_wait().expect("try_wait").is_none(), "cli-login still waits after a forged redirect");

    // The server's refusal (RFC 6749 §4.1.2.1), with our state, ends the login with its error.
    let denied = http
        .get(format!("{redirect}?error=access_denied&error_description=the+user+denied&state={}", q["state"]))
        .send()
        .await
        .expect("denied");
    assert_eq!(denied.status(), 200);
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).await.expect("stderr");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits").expect("wait");
    assert!(!status.success(), "a refused login exits non-zero");
    assert!(stderr.contains("access_denied") && stderr.contains("the user denied"), "{stderr}");

    // Once finished, nothing listens any more.
    assert!(http.get(redirect.as_str()).timeout(Duration::from_secs(5)).send().await.is_err());
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_cli-login"))
        .args(["--issuer", "http://127.0.0.1:9", "--client-id", "pc_test", "--no-browser"])
        .output()
        .await
        .expect("run cli-login");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");
}
