//! `portcullis-guard` and `examples/orders` against the real server: kicks, bans and password
//! changes reach the guard within a second through the real feed; a key rotation while the
//! guard runs; and the README's loop through the `orders` binary, with its kick-to-401 latency.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_domain::grant::GrantType::{ClientCredentials, Password, RefreshToken};
use portcullis_e2e::{TestClient, TestServer};
use portcullis_guard::{AuthError, Guard, InvalidToken};
use serde_json::{Value, json};

const PASSWORD: &str = "ivy's long password";

/// A guard following `s`'s feed as a resource server of its own.
async fn guard_for(s: &TestServer) -> Guard {
    let rs = s.resource_server().await;
    let guard = Guard::builder(&s.base)
        .client_credentials(&rs.id, rs.secret.as_deref().expect("confidential"))
        .build()
        .await
        .expect("the guard discovers the issuer");
    tokio::time::timeout(Duration::from_secs(10), guard.caught_up()).await.expect("the feed catches up");
    guard
}

async fn login(s: &TestServer, c: &TestClient, device: &str) -> String {
    let body = s.login(c, "ivy", PASSWORD, &[("device_id", device)]).await;
    body["access_token"].as_str().expect("at").to_owned()
}

/// How long until `guard` refuses `token` as revoked (panics after 2 s).
async fn until_revoked(guard: &Guard, token: &str, since: Instant) -> Duration {
    loop {
        match guard.verify(token).await {
            Err(AuthError::InvalidToken(InvalidToken::Revoked)) => return since.elapsed(),
            Ok(_) => {}
            Err(e) => panic!("refused for another reason: {e}"),
        }
        assert!(since.elapsed() < Duration::from_secs(2), "the guard still accepts the token after 2 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn kicks_bans_and_password_changes_reach_the_guard_within_a_second() {
    let s = TestServer::start().await;
    let c = s.client(&[Password, RefreshToken], "read write").await;
    let user = s.user("ivy", PASSWORD).await;
    let admin = s.admin_token().await;
    let guard = guard_for(&s).await;

    // Kick one device: only its token dies.
    let (phone, laptop) = (login(&s, &c, "phone").await, login(&s, &c, "laptop").await);
    assert_eq!(guard.verify(&phone).await.expect("live").sub, user);
    let kicked = Instant::now();
    let res = s.http.delete(s.url(&format!("/admin/users/{user}/devices/phone"))).bearer_auth(&admin).send().await;
    assert_eq!(res.expect("send").status(), 204);
    let took = until_revoked(&guard, &phone, kicked).await;
    assert!(took < Duration::from_secs(1), "kick reached the guard in {took:?}");
    guard.verify(&laptop).await.expect("the other device is untouched");

    // A password change from the laptop: the laptop stays, every other session dies.
    let tablet = login(&s, &c, "tablet").await;
    let res = s
        .http
        .post(s.url("/me/password"))
        .bearer_auth(&laptop)
        .json(&json!({"current_password": PASSWORD, "new_password": "ivy's newer password"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 204);
    let changed = Instant::now();
    assert!(until_revoked(&guard, &tablet, changed).await < Duration::from_secs(1));
    guard.verify(&laptop).await.expect("the session the password was changed from is spared");

    // A ban: everything dies, and stays dead after unban.
    let banned = Instant::now();
    let res = s.http.post(s.url(&format!("/admin/users/{user}/ban"))).bearer_auth(&admin);
    assert_eq!(res.json(&json!({"reason": "abuse"})).send().await.expect("send").status(), 200);
    assert!(until_revoked(&guard, &laptop, banned).await < Duration::from_secs(1));
    let res = s.http.post(s.url(&format!("/admin/users/{user}/unban"))).bearer_auth(&admin).send().await;
    assert_eq!(res.expect("send").status(), 200);
    assert!(matches!(guard.verify(&laptop).await, Err(AuthError::InvalidToken(InvalidToken::Revoked))));
}

#[tokio::test]
async fn a_key_rotation_while_the_guard_runs() {
    let s = TestServer::start_with(|c| {
        c.keys.jwks_max_age = Duration::from_secs(1);
        c.keys.activation_delay = Duration::from_secs(2);
    })
    .await;
    let c = s.client(&[ClientCredentials], "").await;
    let guard = guard_for(&s).await;
    let before = s.client_token(&c, None).await["access_token"].as_str().expect("at").to_owned();
    guard.verify(&before).await.expect("a token of the first key");
    let new = portcullis_server::ops::rotate_key(
        s.app.key_manager(),
        &s.store,
        &portcullis_domain::clock::SystemClock,
        "test",
    )
    .await
    .expect("rotate")
    .kid;
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let t = s.client_token(&c, None).await["access_token"].as_str().expect("at").to_owned();
        if crate::jwt::parts(&t).0["kid"] == new.as_str() {
            break t;
        }
        assert!(Instant::now() < deadline, "the new key never signed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    guard.verify(&after).await.expect("a token of the new key, without restarting the guard");
    guard.verify(&before).await.expect("the old key's tokens stay valid");
}

/// The `orders` binary (built by `cargo test --workspace`, beside `portcullis`).
struct Orders {
    child: Child,
    base: String,
}

impl Orders {
    fn start(issuer: &str, client: &TestClient) -> Self {
        let bin = portcullis_e2e::process::binary().with_file_name(format!("orders{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} is missing: run the suite with `cargo test --workspace`", bin.display());
        let mut child = Command::new(bin)
            .env("ORDERS_LISTEN", "127.0.0.1:0")
            .env("ORDERS_ISSUER", issuer)
            .env("ORDERS_CLIENT_ID", &client.id)
            .env("ORDERS_CLIENT_SECRET", client.secret.as_deref().expect("secret"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn orders");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        let Some(base) = line.trim().strip_prefix("orders listening on ").map(str::to_owned) else {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err);
            panic!("orders did not start: {line}{err}");
        };
        Self { child, base }
    }
}

impl Drop for Orders {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// Multi-threaded: the server runs in this process while `Orders::start` blocks on the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_example_loop_and_its_kick_to_401_latency() {
    // A hundred logins from one address: past the default per-address limit.
    let s = TestServer::start_with(|c| c.login.max_attempts_per_ip = 10_000).await;
    let app = s.client(&[Password, RefreshToken], "read write").await;
    let user = s.user("ivy", PASSWORD).await;
    let admin = s.admin_token().await;
    let orders = Orders::start(&s.base, &s.resource_server().await);
    let http = reqwest::Client::new();
    let get = |token: &str| http.get(format!("{}/orders", orders.base)).bearer_auth(token).send();

    // The README's loop: log in, create and list orders, kick the device, the next call is 401.
    let token = login(&s, &app, "laptop").await;
    // The service follows the feed; until it has caught up it answers 503 (fail closed).
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&token).await.expect("send").status() != 200 {
        assert!(Instant::now() < deadline, "orders never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res =
        http.post(format!("{}/orders", orders.base)).bearer_auth(&token).json(&json!({"item": "tea", "quantity": 2}));
    assert_eq!(res.send().await.expect("send").status(), 201);
    let listed: Value = get(&token).await.expect("send").json().await.expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    let rounds = 100;
    let mut latencies = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let device = format!("dev-{i}");
        let token = login(&s, &app, &device).await;
        assert_eq!(get(&token).await.expect("send").status(), 200);
        let kicked = Instant::now();
        let res = s.http.delete(s.url(&format!("/admin/users/{user}/devices/{device}"))).bearer_auth(&admin).send();
        assert_eq!(res.await.expect("send").status(), 204);
        loop {
            let res = get(&token).await.expect("send");
            if res.status() == 401 {
                let challenge = res.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
                assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
                break;
            }
            assert_eq!(res.status(), 200);
            assert!(kicked.elapsed() < Duration::from_secs(2), "round {i}: still 200 two seconds after the kick");
        }
        latencies.push(kicked.elapsed());
    }
    latencies.sort();
    eprintln!(
        "kick (admin API) -> 401 from orders, {rounds} rounds: median {:?}, p90 {:?}, worst {:?}",
        latencies[rounds / 2],
        latencies[rounds * 9 / 10],
        latencies[rounds - 1]
    );
    assert!(latencies[rounds - 1] < Duration::from_secs(1), "every kick reached orders within a second");
}
