//! One-time-code login (contract §6): `POST /oauth2/otp` sends a code, the OTP grant logs in
//! with it. Every rule with its exact status and error code, on SQLite and on PostgreSQL +
//! Redis: one use, five wrong tries, expiry, the resend cooldown, sign-up on and off, a banned
//! user, a sender that is down, the webhook's signature.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType::{self, Otp, RefreshToken};
use portcullis_e2e::{ManualClock, TestClient, TestServer};
use serde_json::Value;

const OTP_GRANT: &str = "urn:portcullis:params:oauth:grant-type:otp";
const PHONE: &str = "+8613800138000";

/// A client with the OTP grant (and refresh), signing people up or not.
async fn otp_client(s: &TestServer, signup: bool) -> TestClient {
    s.register_spec(ClientSpec {
        name: "Phone app".into(),
        grants: vec![Otp, RefreshToken],
        otp_signup: signup,
        ..ClientSpec::default()
    })
    .await
}

/// `POST /oauth2/otp`: the status, the Retry-After header and the body.
async fn send(s: &TestServer, c: &TestClient, form: &[(&str, &str)]) -> (u16, Option<u64>, Value) {
    let res = s.post_form("/oauth2/otp", form, Some(c), &[]).await;
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
    (status, retry, res.json().await.expect("json"))
}

/// The OTP grant for `phone` with `code`: the status and the body.
async fn grant(s: &TestServer, c: &TestClient, phone: &str, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", OTP_GRANT), ("phone", phone), ("code", code)];
    form.extend_from_slice(extra);
    let res = s.token_request(&form, Some(c)).await;
    (res.status().as_u16(), res.json().await.expect("json"))
}

fn assert_error(got: &(u16, Value), status: u16, error: &str, description_has: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], error, "{}", got.1);
    let description = got.1["error_description"].as_str().expect("a description");
    assert!(description.contains(description_has), "{description:?} should say {description_has:?}");
}

async fn count(s: &TestServer, sql: &str) -> i64 {
    portcullis_e2e::db::scalar(s.store.connection(), sql, vec![]).await
}

/// A code other than `right`.
fn wrong(right: &str) -> String {
    format!("{:06}", (right.parse::<u32>().expect("digits") + 1) % 1_000_000)
}

#[tokio::test]
async fn a_phone_code_logs_in_once_like_a_password() {
    let s = TestServer::start().await;
    let c = otp_client(&s, false).await;
    let user = s.user_with("ana", Some("+86 138 0013 8000"), None).await;

    let sent = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!(sent.0, 200, "{}", sent.2);
    assert_eq!(sent.2, serde_json::json!({"expires_in": 300, "resend_after": 60}));
    let line = s.outbox().pop().expect("an outbox line");
    assert_eq!(line["channel"], "sms");
    assert_eq!(line["to"], PHONE, "the number as stored, E.164");
    assert_eq!(line["expires_in"], 300);
    let code = line["code"].as_str().expect("code").to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.scratch.path().join("otp-outbox.jsonl")).expect("outbox").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the outbox is the server user's alone");
    }
    // Stored only as a hash.
    let stored = format!("SELECT COUNT(*) FROM otp_codes WHERE code_hash = '{code}'");
    assert_eq!(count(&s, &stored).await, 0);

    let (status, tokens) = grant(&s, &c, PHONE, &code, &[("device_id", "ana-phone")]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["device_id"], "ana-phone");
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.starts_with("pcr_")));
    let me = s.me(tokens["access_token"].as_str().expect("access token")).await;
    assert_eq!(me["user_id"], user.as_str());

    // The session is a device session like any other: it refreshes, and the old token is spent.
    let refreshed = s
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().expect("rt")),
                ("device_id", "ana-phone"),
            ],
            Some(&c),
        )
        .await;
    assert_eq!(refreshed.status(), 200);

    // A code works once.
    assert_error(&grant(&s, &c, PHONE, &code, &[]).await, 400, "invalid_grant", "already used");
    let login = "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_succeeded' AND detail LIKE 'method=otp channel=sms sid=%'";
    assert_eq!(count(&s, login).await, 1);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'otp_sent' AND detail = 'sms'").await, 1);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'otp_failed' AND detail = 'sms used'").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_wrong_codes_kill_the_code_even_for_the_right_digits() {
    let s = TestServer::start().await;
    let c = otp_client(&s, false).await;
    s.user_with("ben", Some(PHONE), None).await;
    assert_eq!(send(&s, &c, &[("phone", PHONE)]).await.0, 200);
    let code = s.outbox_code(PHONE).expect("code");
    for _ in 0..5 {
        assert_error(&grant(&s, &c, PHONE, &wrong(&code), &[]).await, 400, "invalid_grant", "wrong code");
    }
    assert_error(&grant(&s, &c, PHONE, &code, &[]).await, 400, "invalid_grant", "too many wrong codes");

    // Parallel guesses against a fresh code (after the cooldown): no more than five compare.
    let s = TestServer::start().await;
    let c = otp_client(&s, false).await;
    s.user_with("ben", Some(PHONE), None).await;
    assert_eq!(send(&s, &c, &[("phone", PHONE)]).await.0, 200);
    let code = s.outbox_code(PHONE).expect("code");
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..12u32 {
        let (s, c, guess) =
            (s.clone(), c.clone(), format!("{:06}", (code.parse::<u32>().expect("digits") + 1 + i) % 1_000_000));
        tasks.push(tokio::spawn(async move { grant(&s, &c, PHONE, &guess, &[]).await }));
    }
    let mut descriptions = Vec::new();
    for t in tasks {
        let (status, body) = t.await.expect("join");
        assert_eq!(status, 400, "{body}");
        descriptions.push(body["error_description"].as_str().expect("description").to_owned());
    }
    let compared = descriptions.iter().filter(|d| d.as_str() == "wrong code").count();
    assert_eq!(compared, 5, "exactly five tries compared digits: {descriptions:?}");
    assert_error(&grant(&s, &c, PHONE, &code, &[]).await, 400, "invalid_grant", "too many wrong codes");
}

#[tokio::test]
async fn a_code_expires_with_the_clock_and_a_resend_replaces_it() {
    let clock =
        Arc::new(ManualClock::new(portcullis_domain::clock::Clock::now(&portcullis_domain::clock::SystemClock)));
    let s = TestServer::start_with_clock_and(clock.clone(), |c| c.otp.resend_after = Duration::from_secs(1)).await;
    let c = otp_client(&s, false).await;
    s.user_with("cai", Some(PHONE), None).await;
    assert_eq!(send(&s, &c, &[("phone", PHONE)]).await.0, 200);
    let first = s.outbox_code(PHONE).expect("code");
    clock.advance(chrono::Duration::seconds(301));
    assert_error(&grant(&s, &c, PHONE, &first, &[]).await, 400, "invalid_grant", "expired");

    // A resend (past the cooldown) replaces the code: the old digits no longer work.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send(&s, &c, &[("phone", PHONE)]).await.0, 200);
    let second = s.outbox_code(PHONE).expect("code");
    if second != first {
        assert_error(&grant(&s, &c, PHONE, &first, &[]).await, 400, "invalid_grant", "wrong code");
    }
    assert_eq!(grant(&s, &c, PHONE, &second, &[]).await.0, 200);
}

#[tokio::test]
async fn resends_wait_for_the_cooldown_and_limits_answer_429() {
    let s = TestServer::start_with(|c| {
        c.otp.resend_after = Duration::from_secs(2);
        c.otp.max_sends_per_ip = 3;
    })
    .await;
    let c = otp_client(&s, false).await;
    s.user_with("dee", Some(PHONE), None).await;
    assert_eq!(send(&s, &c, &[("phone", PHONE)]).await.0, 200);
    let again = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!(again.0, 429, "{}", again.2);
    assert_eq!(again.2["error"], "temporarily_unavailable");
    assert!(again.1.is_some_and(|r| (1..=2).contains(&r)), "Retry-After within the cooldown: {:?}", again.1);
    assert_eq!(s.outbox().len(), 1, "nothing sent past the limit");
    // SMS pumping: many destinations from one address stop at the address's quota (3; two used).
    assert_eq!(send(&s, &c, &[("phone", "+8613800138001")]).await.0, 200);
    let pumped = send(&s, &c, &[("phone", "+8613800138002")]).await;
    assert_eq!(pumped.0, 429, "{}", pumped.2);
    assert!(pumped.2["error_description"].as_str().expect("description").contains("address"));
}

#[tokio::test]
async fn sign_up_on_first_code_only_for_a_client_that_allows_it() {
    let s = TestServer::start().await;
    let closed = otp_client(&s, false).await;
    let open = otp_client(&s, true).await;
    let newcomer = "+8613800138009";

    // Without the flag: the same answer, nothing sent, and no grant.
    let quiet = send(&s, &closed, &[("phone", newcomer)]).await;
    assert_eq!(quiet.0, 200);
    assert_eq!(quiet.2, serde_json::json!({"expires_in": 300, "resend_after": 60}));
    assert!(s.outbox().is_empty(), "an unknown destination is sent nothing");
    // Tries go as against a real code: wrong, wrong, … (no oracle for the account).
    assert_error(&grant(&s, &closed, newcomer, "123456", &[]).await, 400, "invalid_grant", "wrong code");

    // With it: a code, and its first grant makes the user.
    let email = "Eve@Example.COM";
    let sent = send(&s, &open, &[("email", email)]).await;
    assert_eq!(sent.0, 200, "{}", sent.2);
    let code = s.outbox_code("eve@example.com").expect("a code to the normalised address");
    // Another client cannot use it, nor spend its tries: five of its tries leave the code alive.
    for _ in 0..6 {
        let res = s
            .token_request(&[("grant_type", OTP_GRANT), ("email", "eve@example.com"), ("code", &code)], Some(&closed))
            .await;
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error_description"], "wrong code", "{body}");
    }
    let res = s.token_request(&[("grant_type", OTP_GRANT), ("email", email), ("code", &code)], Some(&open)).await;
    let status = res.status();
    let tokens: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{tokens}");
    let me = s.me(tokens["access_token"].as_str().expect("at")).await;
    let admin = s.admin_token().await;
    let user = s
        .http
        .get(s.url(&format!("/admin/users/{}", me["user_id"].as_str().expect("sub"))))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("answered");
    let user: Value = user.json().await.expect("json");
    assert_eq!(user["email"], "eve@example.com");
    assert_eq!(user["username"], "eve@example.com");
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'user_created' AND detail = 'signup channel=email'")
            .await,
        1
    );
    // The second code finds the same user; no second account.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(count(&s, "SELECT COUNT(*) FROM users WHERE email = 'eve@example.com'").await, 1);
}

#[tokio::test]
async fn a_banned_user_is_sent_nothing() {
    let s = TestServer::start().await;
    let c = otp_client(&s, true).await;
    let id = s.user_with("fay", Some(PHONE), None).await;
    s.ban(&id, "abuse").await;
    let sent = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!(sent.0, 200, "the same answer as for anyone");
    assert!(s.outbox().is_empty());
    assert_error(&grant(&s, &c, PHONE, "000000", &[]).await, 400, "invalid_grant", "wrong code");
}

#[tokio::test]
async fn bad_input_is_refused_precisely() {
    let s = TestServer::start().await;
    let c = otp_client(&s, true).await;
    for form in [
        vec![("phone", "13800138000")],
        vec![("phone", "+86 138")],
        vec![("email", "not an address")],
        vec![("phone", PHONE), ("email", "a@example.com")],
        vec![],
    ] {
        let got = send(&s, &c, &form).await;
        assert_eq!((got.0, got.2["error"].as_str()), (400, Some("invalid_request")), "{form:?}: {}", got.2);
    }
    // A bare + in the form body, which reads as a space: told how to write it.
    let res = s
        .http
        .post(s.url("/oauth2/otp"))
        .basic_auth(&c.id, c.secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("phone=+8613800138000")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert!(body["error_description"].as_str().expect("description").contains("%2B"), "{body}");
    // A client without the grant.
    let password_only = s.client(&[GrantType::Password], "").await;
    let got = send(&s, &password_only, &[("phone", PHONE)]).await;
    assert_eq!((got.0, got.2["error"].as_str()), (400, Some("unauthorized_client")), "{}", got.2);
    // Advertised.
    let (_, _, meta) = s.get_json("/.well-known/oauth-authorization-server").await;
    assert!(meta["grant_types_supported"].as_array().expect("list").iter().any(|g| g == OTP_GRANT));
    // A code that is not 6 digits is a wrong code, not a lookup.
    assert_error(&grant(&s, &c, PHONE, "12345", &[]).await, 400, "invalid_grant", "wrong code");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM otp_codes").await, 0);
}

/// A receiver of the webhook: checks every request's signature, records the bodies, and
/// answers `failures` 500s before answering 200.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn receiver(secret: &'static str, failures: usize) -> Receiver {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let left = Arc::new(Mutex::new(failures));
    let (b, l) = (bodies.clone(), left.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (bodies, left) = (b.clone(), l.clone());
            async move {
                let signature = headers.get("x-portcullis-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
                assert_eq!(signature, portcullis_senders::signature(secret.as_bytes(), &body), "a valid signature");
                assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
                let mut left = left.lock().expect("lock");
                if *left > 0 {
                    *left -= 1;
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                bodies.lock().expect("lock").push(serde_json::from_slice(&body).expect("json"));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url: format!("http://{addr}/hook"), bodies }
}

const HOOK_SECRET: &str = "a webhook secret of at least 32 characters";

#[tokio::test]
async fn the_webhook_is_signed_and_retried() {
    let hook = receiver(HOOK_SECRET, 2).await;
    let url = hook.url.clone();
    let s = TestServer::start_with(move |c| {
        c.otp.sender = portcullis_server::config::OtpSenderKind::Webhook;
        c.otp.webhook_url = Some(portcullis_server::config::ConnectionUrl(url));
        c.otp.webhook_secret = Some(portcullis_server::config::SecretValue(HOOK_SECRET.into()));
    })
    .await;
    let c = otp_client(&s, false).await;
    s.user_with("gus", Some(PHONE), None).await;
    let sent = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!(sent.0, 200, "delivered on the third try: {}", sent.2);
    let body = hook.bodies.lock().expect("lock").pop().expect("the gateway got the body");
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["to"], PHONE);
    assert_eq!(body["expires_in"], 300);
    let code = body["code"].as_str().expect("code").to_owned();
    assert_eq!(grant(&s, &c, PHONE, &code, &[]).await.0, 200);
    assert!(s.outbox().is_empty(), "the webhook, not the outbox");
}

#[tokio::test]
async fn a_sender_that_is_down_is_503_and_writes_nothing() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let s = TestServer::start_with(move |c| {
        c.otp.sender = portcullis_server::config::OtpSenderKind::Webhook;
        c.otp.webhook_url = Some(portcullis_server::config::ConnectionUrl(format!("http://127.0.0.1:{port}/hook")));
        c.otp.webhook_secret = Some(portcullis_server::config::SecretValue(HOOK_SECRET.into()));
        c.otp.webhook_tries = 2;
        c.otp.webhook_timeout = Duration::from_millis(500);
    })
    .await;
    let c = otp_client(&s, false).await;
    s.user_with("hal", Some(PHONE), None).await;
    let down = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!(down.0, 503, "{}", down.2);
    assert_eq!(down.2["error"], "temporarily_unavailable");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM otp_codes").await, 0, "no code kept that nobody received");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'otp_sent'").await, 0);
    // The failed try counts as a send (the gateway may have taken it): its 503 says to retry
    // when the resend cooldown ends, and a retry before that is told the same by a 429.
    assert!(down.1.is_some_and(|r| (5..=60).contains(&r)), "Retry-After is the cooldown's rest: {:?}", down.1);
    let early = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!(early.0, 429, "{}", early.2);
    assert!(early.1.is_some_and(|r| r <= down.1.unwrap_or(0)), "no later than the 503 said: {:?}", early.1);
}

#[tokio::test]
async fn guesses_spread_over_many_destinations_stop_at_the_address_limit() {
    let s = TestServer::start_with(|c| c.otp.max_verifications_per_ip = 4).await;
    let c = otp_client(&s, false).await;
    // One wrong guess each at four destinations: each under its own limit of 15.
    for i in 0..4 {
        let phone = format!("+86138001380{i:02}");
        assert_error(&grant(&s, &c, &phone, "123456", &[]).await, 400, "invalid_grant", "wrong code");
    }
    let fifth =
        s.token_request(&[("grant_type", OTP_GRANT), ("phone", "+8613800138099"), ("code", "123456")], Some(&c)).await;
    assert_eq!(fifth.status(), 429);
    assert!(fifth.headers().get("retry-after").is_some(), "with Retry-After");
    let body: Value = fifth.json().await.expect("json");
    assert!(body["error_description"].as_str().expect("description").contains("address"), "{body}");
    // Counted before any work: the refused guess compared nothing and wrote no audit row.
    assert_eq!(count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'otp_failed'").await, 4);
}

#[tokio::test]
async fn codes_are_per_client_so_a_decoy_ends_no_one_elses_and_tells_nothing() {
    let s = TestServer::start_with(|c| c.otp.resend_after = Duration::from_secs(1)).await;
    let signing_up = otp_client(&s, true).await;
    let closed = otp_client(&s, false).await;
    let newcomer = "+8613800138077";
    assert_eq!(send(&s, &signing_up, &[("phone", newcomer)]).await.0, 200);
    let code = s.outbox_code(newcomer).expect("a code for the sign-up");
    // Once the resend cooldown (per destination, whatever the client) has passed, the closed
    // client, which has no account to send to, gets the same 200 and nothing is sent.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let quiet = send(&s, &closed, &[("phone", newcomer)]).await;
    assert_eq!(quiet.0, 200, "{}", quiet.2);
    assert_eq!(s.outbox().len(), 1, "nothing more was sent");
    // Its tries go exactly as against a real account's code (wrong five times, then dead),
    // whether or not another app has a live code for the destination: no oracle either way.
    for _ in 0..5 {
        assert_error(&grant(&s, &closed, newcomer, &code, &[]).await, 400, "invalid_grant", "wrong code");
    }
    assert_error(&grant(&s, &closed, newcomer, &code, &[]).await, 400, "invalid_grant", "too many wrong codes");
    // And the code the person received through the other app still works.
    let (status, tokens) = grant(&s, &signing_up, newcomer, &code, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM otp_codes").await, 2, "one code per destination and client");
}

#[tokio::test]
async fn email_codes_go_through_a_real_smtp_server() {
    let sink = portcullis_e2e::smtp::SmtpSink::start().await;
    let port = sink.port;
    let s = TestServer::start_with(move |c| {
        c.otp.sender = portcullis_server::config::OtpSenderKind::Smtp;
        c.otp.smtp_url = Some(portcullis_server::config::ConnectionUrl(format!("smtp://127.0.0.1:{port}")));
        c.otp.smtp_from = Some("Portcullis <no-reply@example.com>".into());
    })
    .await;
    let c = otp_client(&s, false).await;
    s.user_with("ivy", None, Some("ivy@example.com")).await;
    let sent = send(&s, &c, &[("email", "ivy@example.com")]).await;
    assert_eq!(sent.0, 200, "{}", sent.2);
    let message = sink.messages().pop().expect("the relay got a message");
    assert!(message.contains("To: ivy@example.com"), "{message}");
    assert!(message.contains("From: Portcullis <no-reply@example.com>"), "{message}");
    assert!(message.contains("Subject: Your sign-in code"), "{message}");
    let code: String =
        message.split("Your sign-in code is ").nth(1).expect("the code in the body").chars().take(6).collect();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let res =
        s.token_request(&[("grant_type", OTP_GRANT), ("email", "ivy@example.com"), ("code", &code)], Some(&c)).await;
    assert_eq!(res.status(), 200);
    // SMTP reaches mailboxes only.
    let got = send(&s, &c, &[("phone", PHONE)]).await;
    assert_eq!((got.0, got.2["error"].as_str()), (400, Some("invalid_request")), "{}", got.2);
}
