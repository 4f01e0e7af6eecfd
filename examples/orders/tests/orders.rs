//! The `orders` binary against a fake issuer: scopes, per-user orders, bounded bodies, and a kick
//! reaching it through the revocation feed.

use std::process::Stdio;
use std::time::{Duration, Instant};

use portcullis_guard::testing::{CLIENT_ID, CLIENT_SECRET, FakeIssuer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The running binary; killed on drop.
struct Orders {
    url: String,
    http: reqwest::Client,
    _child: Child,
}

impl Orders {
    async fn start(issuer: &FakeIssuer) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orders"))
            .env("ORDERS_LISTEN", "127.0.0.1:0")
            .env("ORDERS_ISSUER", issuer.url())
            .env("ORDERS_CLIENT_ID", CLIENT_ID)
            .env("ORDERS_CLIENT_SECRET", CLIENT_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the orders binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("orders prints its address")
            .expect("stdout")
            .expect("a line");
        let url = line.strip_prefix("orders listening on ").expect("the announced line").to_owned();
        Self { url, http: reqwest::Client::new(), _child: child }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.expect("orders answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

#[tokio::test]
async fn scopes_orders_and_bodies() {
    let issuer = FakeIssuer::start().await;
    let orders = Orders::start(&issuer).await;
    let (reader, _) = issuer.token("alice", "read");
    let (writer, _) = issuer.token("alice", "read write");
    let (bob, _) = issuer.token("bob", "read write");
    use reqwest::Method as M;

    let (status, body) = orders.call(M::GET, "/orders", None, None).await;
    assert_eq!((status, &body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_token")));
    assert_eq!(orders.call(M::GET, "/orders", Some(&reader), None).await, (StatusCode::OK, json!([])));
    let tea = json!({"item": "tea", "quantity": 2});
    let (status, body) = orders.call(M::POST, "/orders", Some(&reader), Some(tea.clone())).await;
    assert_eq!((status, &body["error"]), (StatusCode::FORBIDDEN, &json!("insufficient_scope")));

    let (status, created) = orders.call(M::POST, "/orders", Some(&writer), Some(tea)).await;
    assert_eq!((status, &created), (StatusCode::CREATED, &json!({"id": 1, "item": "tea", "quantity": 2})));
    assert_eq!(orders.call(M::GET, "/orders", Some(&reader), None).await.1, json!([created]));
    assert_eq!(orders.call(M::GET, "/orders", Some(&bob), None).await.1, json!([]), "bob sees only his");

    let coffee = json!({"item": "coffee", "quantity": 1});
    let (status, replaced) = orders.call(M::PUT, "/orders/1", Some(&writer), Some(coffee.clone())).await;
    assert_eq!((status, replaced), (StatusCode::OK, json!({"id": 1, "item": "coffee", "quantity": 1})));
    assert_eq!(orders.call(M::PUT, "/orders/1", Some(&bob), Some(coffee)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(orders.call(M::DELETE, "/orders/1", Some(&reader), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(orders.call(M::DELETE, "/orders/1", Some(&writer), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(orders.call(M::DELETE, "/orders/1", Some(&writer), None).await.0, StatusCode::NOT_FOUND);

    let (status, body) =
        orders.call(M::POST, "/orders", Some(&writer), Some(json!({"item": " ", "quantity": 1}))).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")));
    let (status, _) = orders.call(M::POST, "/orders", Some(&writer), Some(json!({"item": "x"}))).await;
    assert!(status.is_client_error());
    let huge = json!({"item": "x".repeat(10_000), "quantity": 1});
    assert_eq!(orders.call(M::POST, "/orders", Some(&writer), Some(huge)).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

/// The kick-to-401 latency through the binary: 100 kicks, each polled every 2 ms. Prints the
/// median and the worst; fails if any took a second or more.
#[tokio::test]
async fn a_kick_reaches_orders_within_a_second() {
    let issuer = FakeIssuer::start().await;
    let orders = Orders::start(&issuer).await;
    let mut took = Vec::new();
    for n in 0..100 {
        let (token, claims) = issuer.token(&format!("user-{n}"), "read");
        assert_eq!(orders.call(reqwest::Method::GET, "/orders", Some(&token), None).await.0, StatusCode::OK);
        let kicked = Instant::now();
        issuer.revoke_session(&claims.sub, claims.sid.as_deref().unwrap());
        loop {
            let (status, body) = orders.call(reqwest::Method::GET, "/orders", Some(&token), None).await;
            if status == StatusCode::UNAUTHORIZED {
                assert_eq!(body["error_description"], "the access token has been revoked");
                break;
            }
            assert!(kicked.elapsed() < Duration::from_secs(1), "kick {n} not applied within 1 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(kicked.elapsed());
    }
    took.sort();
    println!("kick → 401 through orders, 100 kicks: median {:?}, worst {:?}", took[49], took[99]);
}
