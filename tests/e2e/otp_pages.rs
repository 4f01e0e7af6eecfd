//! "Sign in with a code" on the login page of `/oauth2/authorize` (`otp.browser_login`), walked
//! with a form-posting browser: every answer's exact status, what the outbox got, and what was
//! written. The rules are the OTP grant's own (one use, five tries, limits, sign-up per client,
//! bans); these tests check the page keeps them. The same flow in Chromium is in `browser.rs`.

use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType::{AuthorizationCode, RefreshToken};
use portcullis_e2e::authflow::{FormBrowser, csrf_of, pkce_pair, query_of};
use portcullis_e2e::{TestClient, TestServer};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const PHONE: &str = "+8613800138000";

/// A third-party app (authorization code only), signing people up on their first code or not.
async fn app(s: &TestServer, signup: bool) -> TestClient {
    s.register_spec(ClientSpec {
        name: "Test App".into(),
        grants: vec![AuthorizationCode, RefreshToken],
        scope: "read".parse().expect("scope"),
        redirect_uris: vec![REDIRECT.to_owned()],
        public: true,
        otp_signup: signup,
        ..ClientSpec::default()
    })
    .await
}

fn authorize_url(s: &TestServer, client: &TestClient) -> String {
    let (_, challenge) = pkce_pair();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", &client.id).append_pair("redirect_uri", REDIRECT);
    q.append_pair("scope", "read").append_pair("state", "st").append_pair("code_challenge", &challenge);
    q.append_pair("code_challenge_method", "S256");
    s.url(&format!("/oauth2/authorize?{}", q.finish()))
}

/// Opens the login page and asks for a code for `typed`: (status, body) of the answer.
async fn ask(b: &mut FormBrowser, url: &str, typed: &str) -> (u16, String) {
    let (status, _, page) = b.get(url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="send-code""#), "the login page offers a code: {page}");
    let (status, _, body) =
        b.post(url, &[("csrf", &csrf_of(&page)), ("action", "send_code"), ("destination", typed)]).await;
    (status, body)
}

/// Posts `code` from the code page `page`: (status, Location, body).
async fn try_code(b: &mut FormBrowser, url: &str, page: &str, code: &str) -> (u16, Option<String>, String) {
    let destination = hidden(page, "destination");
    b.post(url, &[("csrf", &csrf_of(page)), ("action", "code_login"), ("destination", &destination), ("code", code)])
        .await
}

/// The value of the hidden field `name` of the first form that has one.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    html[at..].split('"').next().expect("closing quote").to_owned()
}

fn wrong(right: &str) -> String {
    format!("{:06}", (right.parse::<u32>().expect("digits") + 1) % 1_000_000)
}

async fn count(s: &TestServer, sql: &str) -> i64 {
    portcullis_e2e::db::scalar(s.store.connection(), sql, vec![]).await
}

#[tokio::test]
async fn a_phone_code_signs_the_browser_in_and_the_app_gets_its_code() {
    let s = TestServer::start().await;
    let c = app(&s, false).await;
    let ana = s.user_with("ana", Some(PHONE), None).await;
    let url = authorize_url(&s, &c);
    let mut b = FormBrowser::new();

    // Typed as people type it; the page shows it back as stored (E.164) and hides nothing else.
    let (status, page) = ask(&mut b, &url, "+86 138 0013 8000").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Enter your code") && page.contains(PHONE), "{page}");
    assert!(page.contains("works for 5 minutes"), "{page}");
    assert_eq!(hidden(&page, "destination"), PHONE);
    let code = s.outbox_code(PHONE).expect("a code in the outbox");

    // A wrong code: the code page again, 401, with why.
    let (status, _, again) = try_code(&mut b, &url, &page, &wrong(&code)).await;
    assert_eq!(status, 401, "{again}");
    assert!(again.contains(r#"role="alert""#) && again.contains("wrong code"), "{again}");

    // The right one: signed in (a login cookie), back to the authorization URL, then consent.
    let (status, location, _) = try_code(&mut b, &url, &again, &code).await;
    assert_eq!(status, 303);
    let back = location.expect("Location");
    assert!(back.starts_with("/oauth2/authorize?") && url.ends_with(&back), "{back}");
    assert!(b.cookies.contains_key("portcullis_login"));
    let (status, _, consent) = b.get(&url).await;
    assert_eq!(status, 200);
    assert!(consent.contains(r#"id="allow""#), "{consent}");
    let (status, location, _) = b.post(&url, &[("csrf", &csrf_of(&consent)), ("action", "allow")]).await;
    assert_eq!(status, 303);
    let q = query_of(&location.expect("Location"));
    assert!(q["code"].starts_with("pcc_") && q["state"] == "st", "{q:?}");

    // The code worked once: the same digits again are refused.
    let mut other = FormBrowser::new();
    let (status, page) = ask(&mut other, &url, PHONE).await;
    assert_eq!(status, 429, "the resend cooldown holds across browsers: {page}");
    assert!(page.contains("moments ago"), "{page}");
    let (status, _, used) = try_code(&mut other, &url, &page, &code).await;
    assert_eq!(status, 401, "{used}");
    assert!(used.contains("already used"), "{used}");

    // Audited as a login with method otp, by the page.
    let sql = format!(
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_succeeded' AND user_id = '{ana}' \
         AND detail = 'method=otp channel=sms page=authorize'"
    );
    assert_eq!(count(&s, &sql).await, 1);
}

#[tokio::test]
async fn the_page_answers_alike_whatever_the_account_and_sends_only_to_real_ones() {
    let s = TestServer::start().await;
    let c = app(&s, false).await;
    s.user_with("ben", None, Some("ben@example.com")).await;
    let url = authorize_url(&s, &c);

    let mut b = FormBrowser::new();
    let (known_status, known) = ask(&mut b, &url, "Ben@Example.com").await;
    let (unknown_status, unknown) = ask(&mut b, &url, "nobody@example.com").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    // The same page but for the address itself.
    assert_eq!(known.replace("ben@example.com", "X"), unknown.replace("nobody@example.com", "X"));
    let outbox = s.outbox();
    assert_eq!(outbox.len(), 1, "only the account got a code: {outbox:?}");
    assert_eq!(outbox[0]["to"], "ben@example.com", "normalised");
    assert_eq!(outbox[0]["channel"], "email");

    // Without sign-up, a code for nobody signs nobody in, and no user is made.
    let (status, _, body) = try_code(&mut b, &url, &unknown, "123456").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("wrong code"), "{body}");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM users WHERE email = 'nobody@example.com'").await, 0);
}

#[tokio::test]
async fn a_client_that_signs_people_up_gets_a_new_user_from_the_page() {
    let s = TestServer::start().await;
    let c = app(&s, true).await;
    let url = authorize_url(&s, &c);
    let mut b = FormBrowser::new();
    let (status, page) = ask(&mut b, &url, "new@example.com").await;
    assert_eq!(status, 200, "{page}");
    let code = s.outbox_code("new@example.com").expect("a code for the new address");
    let (status, location, _) = try_code(&mut b, &url, &page, &code).await;
    assert_eq!(status, 303);
    assert!(location.expect("Location").starts_with("/oauth2/authorize?"));
    assert_eq!(count(&s, "SELECT COUNT(*) FROM users WHERE email = 'new@example.com'").await, 1);
    let sql = "SELECT COUNT(*) FROM audit_events WHERE kind = 'user_created' AND detail = 'signup channel=email'";
    assert_eq!(count(&s, sql).await, 1);
}

#[tokio::test]
async fn five_wrong_codes_kill_it_and_the_limits_answer_429_with_retry_after() {
    let s = TestServer::start().await;
    let c = app(&s, false).await;
    s.user_with("cy", Some(PHONE), None).await;
    let url = authorize_url(&s, &c);
    let mut b = FormBrowser::new();
    let (_, mut page) = ask(&mut b, &url, PHONE).await;
    let code = s.outbox_code(PHONE).expect("code");
    for _ in 0..5 {
        let (status, _, body) = try_code(&mut b, &url, &page, &wrong(&code)).await;
        assert_eq!(status, 401, "{body}");
        page = body;
    }
    let (status, _, dead) = try_code(&mut b, &url, &page, &code).await;
    assert_eq!(status, 401, "{dead}");
    assert!(dead.contains("too many wrong codes"), "dead even for the right digits: {dead}");
    assert!(!b.cookies.contains_key("portcullis_login"));

    // "Send a new code" within the cooldown: the code page, 429, Retry-After; nothing sent.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(&url)
        .header("cookie", b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
        .form(&[("csrf", csrf_of(&page).as_str()), ("action", "send_code"), ("destination", PHONE)])
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body = res.text().await.expect("body");
    assert!(body.contains(r#"id="code""#) && body.contains("moments ago"), "{body}");
    assert_eq!(s.outbox().len(), 1);
}

#[tokio::test]
async fn forged_malformed_and_banned_requests_send_nothing() {
    let s = TestServer::start().await;
    let c = app(&s, true).await;
    let id = s.user_with("dee", Some(PHONE), None).await;
    let url = authorize_url(&s, &c);
    let mut b = FormBrowser::new();
    let (_, _, page) = b.get(&url).await;

    // No CSRF token, or another's: 400, nothing sent.
    for csrf in ["", "forged"] {
        let (status, _, body) = b.post(&url, &[("csrf", csrf), ("action", "send_code"), ("destination", PHONE)]).await;
        assert_eq!(status, 400, "{body}");
        let (status, _, _) =
            b.post(&url, &[("csrf", csrf), ("action", "code_login"), ("destination", PHONE), ("code", "123456")]).await;
        assert_eq!(status, 400);
    }
    // A malformed destination: the login page again, 400, the error by the code form.
    for typed in ["13800138000", "+86 138", "not an address@", "", &"9".repeat(400)] {
        let (status, _, body) =
            b.post(&url, &[("csrf", &csrf_of(&page)), ("action", "send_code"), ("destination", typed)]).await;
        assert_eq!(status, 400, "{typed:?}: {body}");
        assert!(body.contains(r#"id="code-error""#) && body.contains(r#"id="password""#), "{body}");
    }
    assert!(s.outbox().is_empty());

    // A banned user: the same code page, no code.
    s.ban(&id, "abuse").await;
    let (status, body) = ask(&mut b, &url, PHONE).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Enter your code"));
    assert!(s.outbox().is_empty());

    // A bad authorization request gets its own error, never a code.
    let (status, _, body) = b
        .post(
            &s.url("/oauth2/authorize?response_type=code&client_id=nope"),
            &[("csrf", &csrf_of(&page)), ("action", "send_code"), ("destination", "+8613800138001")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(s.outbox().is_empty());
}

#[tokio::test]
async fn with_browser_login_off_the_page_offers_no_code_and_refuses_one() {
    let s = TestServer::start_with(|c| c.otp.browser_login = false).await;
    let c = app(&s, true).await;
    let url = authorize_url(&s, &c);
    let mut b = FormBrowser::new();
    let (status, _, page) = b.get(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="password""#) && !page.contains(r#"id="send-code""#), "{page}");
    let (status, _, body) =
        b.post(&url, &[("csrf", &csrf_of(&page)), ("action", "send_code"), ("destination", PHONE)]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("otp.browser_login"), "{body}");
    assert!(s.outbox().is_empty());
}
