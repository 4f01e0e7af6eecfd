//! Load shedding (`http.max_in_flight`): past the limit a request is answered 503 with
//! `Retry-After` at once; probes are never shed; a slowly sent body holds no slot. (How the
//! node behaves at three times its peak is measured by `crates/server/benches/load.sh overload`,
//! not timed here.)

use std::time::Duration;

use portcullis_domain::grant::GrantType::{ClientCredentials, Password};
use portcullis_e2e::TestServer;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_limit_requests_are_shed_with_retry_after_and_the_node_recovers() {
    let s = TestServer::start_with(|c| {
        c.http.max_in_flight = 1;
        // A password check that takes a while: the one request holding the slot.
        c.passwords.memory_kib = 64 * 1024;
        c.passwords.iterations = 16;
    })
    .await;
    let c = s.client(&[Password, ClientCredentials], "").await;
    s.user("sam", "sam's long password").await;
    let start_slow = || {
        let (http, url, c) = (s.http.clone(), s.url("/oauth2/token"), c.clone());
        tokio::spawn(async move {
            let form = [("grant_type", "password"), ("username", "sam"), ("password", "sam's long password")];
            http.post(url).basic_auth(&c.id, c.secret.as_deref()).form(&form).send().await.expect("send").status()
        })
    };
    // While the password is checked, other requests are shed (and never queued behind it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut slow = start_slow();
    let res = loop {
        assert!(tokio::time::Instant::now() < deadline, "no request was shed while the only slot was taken");
        if slow.is_finished() {
            // It came before the slot was taken, or after one of ours took it (and was shed): again.
            let status = slow.await.expect("join");
            assert!(status == 200 || status == 503, "{status}");
            slow = start_slow();
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let res = s.token_request(&[("grant_type", "client_credentials")], Some(&c)).await;
        if res.status() == 503 {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].as_str().expect("description").contains("overloaded"));
    // Probes and metrics answer all the same.
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(s.http.get(s.url(probe)).send().await.expect("probe").status(), 200, "{probe}");
    }
    assert!(!slow.is_finished(), "the probes were answered while the slot was taken");
    assert_eq!(slow.await.expect("join"), 200, "the admitted request completes");
    // With the slot free again the next request is served.
    let res = s.token_request(&[("grant_type", "client_credentials")], Some(&c)).await;
    let status = res.status();
    assert_eq!(status, 200, "{}", res.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_slowly_sent_body_holds_no_slot() {
    let s = TestServer::start_with(|c| c.http.max_in_flight = 1).await;
    let c = s.client(&[ClientCredentials], "").await;
    // Three sockets that promise a body and send a few bytes of it.
    let mut drips = Vec::new();
    for _ in 0..3 {
        let mut socket = TcpStream::connect(s.addr).await.expect("connect");
        let head = "POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
                    content-length: 200\r\n\r\ngrant_type=";
        socket.write_all(head.as_bytes()).await.expect("write");
        drips.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = s.token_request(&[("grant_type", "client_credentials")], Some(&c)).await;
    assert_eq!(res.status(), 200, "the slow senders hold connections, not the one slot");
    // A body over the limit is refused before it is read, whatever it says.
    let big = "x".repeat(s.app.config().http.max_body_bytes + 1);
    let res = s.token_request(&[("grant_type", "client_credentials"), ("scope", big.as_str())], Some(&c)).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_request");
    drop(drips);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_password_guesses_cannot_take_every_slot() {
    // One argon2 check at a time, and slow: guesses from many names pile up behind it. Past the
    // checks' own queue (16 per permit) they are refused at once, so they never hold all 24 of
    // the node's slots and other clients' tokens are still served.
    let s = TestServer::start_with(|c| {
        c.http.max_in_flight = 24;
        c.passwords.max_concurrent = 1;
        c.passwords.memory_kib = 16 * 1024;
        c.passwords.iterations = 8;
        c.login.max_attempts_per_ip = 10_000;
    })
    .await;
    let c = s.client(&[Password, ClientCredentials], "").await;
    let guesses: Vec<_> = (0..48)
        .map(|i| {
            let (http, url, c) = (s.http.clone(), s.url("/oauth2/token"), c.clone());
            tokio::spawn(async move {
                let name = format!("nobody-{i}");
                let form = [("grant_type", "password"), ("username", name.as_str()), ("password", "a guess at it")];
                let res = http.post(url).basic_auth(&c.id, c.secret.as_deref()).form(&form).send().await.expect("send");
                let retry = res.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
                let body: Value = res.json().await.unwrap_or_default();
                res_status(&body, retry)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While the guesses wait for argon2, another client's token is served.
    let res = s.token_request(&[("grant_type", "client_credentials")], Some(&c)).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    let mut busy = 0;
    for g in guesses {
        match g.await.expect("join") {
            ("invalid_grant", _) => {}
            ("temporarily_unavailable", Some(retry)) => {
                assert_eq!(retry, "1");
                busy += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(busy > 0, "past the queue, guesses are refused at once");
}

fn res_status(body: &Value, retry: Option<String>) -> (&'static str, Option<String>) {
    match body["error"].as_str() {
        Some("invalid_grant") => ("invalid_grant", retry),
        Some("temporarily_unavailable") => ("temporarily_unavailable", retry),
        _ => ("other", Some(body.to_string())),
    }
}
