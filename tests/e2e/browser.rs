//! The authorization-code flow in a real browser (headless Chromium over WebDriver): the
//! `cli-login` example app starts it with a loopback redirect (RFC 8252), the browser signs in
//! and consents on the server's pages, the app exchanges the code and calls `/me`. Screenshots
//! of the login and consent pages are kept under `target/browser-artifacts/`. Also the one-time
//! code sign-in, the account page, and OpenID Connect's `prompt=login` and logout.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::Locator;
use portcullis_domain::grant::GrantType::{AuthorizationCode, Password, RefreshToken};
use portcullis_domain::ids::UserId;
use portcullis_domain::ports::SessionRepo;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::{TestClient, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Registered once; the app may use any port on it (RFC 8252 §7.3).
const LOOPBACK: &str = "http://127.0.0.1/callback";
const PASSWORD: &str = "correct horse battery";

/// `cli-login`, started without opening a browser: the test's browser opens its URL.
struct CliLogin {
    child: Child,
    url: String,
    stdout: tokio::task::JoinHandle<String>,
}

impl CliLogin {
    async fn start(s: &TestServer, app: &TestClient) -> Self {
        let bin =
            portcullis_e2e::process::binary().with_file_name(format!("cli-login{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} is missing: `cargo test --workspace` builds it", bin.display());
        let mut child = Command::new(bin)
            .args(["--issuer", &s.base, "--client-id", &app.id, "--scope", "read"])
            .args(["--device-id", "alices-terminal", "--no-browser", "--timeout", "120"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn cli-login");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                if line.trim().starts_with("http") {
                    return line.trim().to_owned();
                }
            }
            panic!("cli-login printed no URL");
        })
        .await
        .expect("cli-login printed its URL");
        let stdout = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });
        Self { child, url, stdout }
    }

    /// Waits for the app to finish: (success, stdout after the URL, stderr).
    async fn finish(mut self) -> (bool, String, String) {
        let mut stderr = String::new();
        self.child.stderr.take().expect("stderr").read_to_string(&mut stderr).await.expect("stderr");
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("cli-login finished")
            .expect("wait");
        (status.success(), self.stdout.await.expect("stdout reader"), stderr)
    }
}

async fn setup() -> (TestServer, TestClient, String) {
    let s = TestServer::start().await;
    let app = s.app_client(&[AuthorizationCode, RefreshToken], "read write", &[LOOPBACK], true).await;
    let user = s.user("alice", PASSWORD).await;
    (s, app, user)
}

async fn text(b: &Browser, css: &str) -> String {
    b.client
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
        .text()
        .await
        .expect("text")
}

/// Clicks the element `css` and waits until its page has gone (the element is stale), so that
/// what the test reads next is the page the click led to, not the one it left.
async fn click_through(b: &Browser, css: &str) {
    let el = b.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while el.tag_name().await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the page of {css} never went away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(b: &Browser, username: &str, password: &str) {
    let form = b.client.wait().at_most(Duration::from_secs(60));
    let user = form.for_element(Locator::Css("#username")).await.expect("the login page");
    user.clear().await.expect("clear");
    user.send_keys(username).await.expect("type username");
    b.client.find(Locator::Css("#password")).await.expect("password field").send_keys(password).await.expect("type");
    click_through(b, "#sign-in").await;
}

#[tokio::test]
async fn a_command_line_app_logs_its_user_in_through_a_real_browser() {
    let Some(b) = Browser::start("cli-login-allow").await else { return };
    let (s, app, user_id) = setup().await;
    let cli = CliLogin::start(&s, &app).await;
    b.client.goto(&cli.url).await.expect("open the authorization URL");

    // The login page: labelled fields, the app named, never the password.
    assert_eq!(b.client.title().await.expect("title"), "Sign in · Portcullis");
    assert!(text(&b, "h1").await.contains("Test App"));
    let labels = b.client.find_all(Locator::Css("label[for=username], label[for=password]")).await.expect("labels");
    assert_eq!(labels.len(), 2, "both fields are labelled");
    let login_png = b.screenshot("login").await;

    // A wrong password: the page says so (role=alert) and keeps the username.
    sign_in(&b, "alice", "not the password").await;
    let alert = text(&b, "[role=alert]").await;
    assert!(alert.contains("wrong username or password"), "{alert}");
    let kept = b.client.find(Locator::Css("#username")).await.expect("username").prop("value").await.expect("value");
    assert_eq!(kept.as_deref(), Some("alice"));

    sign_in(&b, "alice", PASSWORD).await;

    // The consent page: what the app asks for, and where the browser will be sent.
    b.client.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#allow")).await.expect("consent");
    assert_eq!(b.client.title().await.expect("title"), "Allow access · Portcullis");
    let scopes = text(&b, "ul.scopes").await;
    assert_eq!(scopes.trim(), "read", "only the scope the app asked for");
    let page = text(&b, "main").await;
    assert!(page.contains("Test App") && page.contains("http://127.0.0.1:"), "{page}");
    let consent_png = b.screenshot("consent").await;

    // The cookies as the browser holds them: HttpOnly, SameSite=Lax.
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    for name in ["portcullis_csrf", "portcullis_login", "portcullis_device"] {
        let c = cookies.iter().find(|c| c.name() == name).unwrap_or_else(|| panic!("the browser holds {name}"));
        assert_eq!(c.http_only(), Some(true), "{name} is HttpOnly");
        assert_eq!(c.same_site().map(|s| s.to_string()).as_deref(), Some("Lax"), "{name} is SameSite=Lax");
    }

    click_through(&b, "#allow").await;

    // Back at the app's loopback listener, which has the code.
    let done = text(&b, "main p").await;
    assert!(done.contains("You are logged in"), "{done}");
    let landed = b.client.current_url().await.expect("url");
    assert_eq!(landed.host_str(), Some("127.0.0.1"));
    assert_eq!(landed.path(), "/callback");
    assert!(landed.query_pairs().any(|(k, v)| k == "code" && v.starts_with("pcc_")), "{landed}");

    let (ok, out, err) = cli.finish().await;
    assert!(ok, "cli-login succeeded: {out}{err}");
    assert!(
        out.contains(&format!(r#"Logged in as alice (user {user_id}) on device alices-terminal with scope "read"."#)),
        "{out}"
    );

    // The app's session is a device session like any other: alice sees it among her devices.
    let uid = UserId::parse(&user_id).expect("user id");
    let devices = SessionRepo::devices(&s.store, &uid, None, 10, s.now()).await.expect("devices");
    let device = devices.iter().find(|d| d.device_id.as_str() == "alices-terminal").expect("the app's device");
    assert!(device.active);
    let sql = "SELECT COUNT(*) FROM device_sessions WHERE user_id = $1 AND device_id = 'alices-terminal' \
               AND client_id = $2 AND scope = 'read' AND revoked_at IS NULL";
    let n = portcullis_e2e::db::scalar(s.store.connection(), sql, vec![user_id.clone().into(), app.id.clone().into()]);
    assert_eq!(n.await, 1, "the app's session, with its client and scope");

    for png in [login_png, consent_png] {
        assert!(std::fs::metadata(&png).expect("screenshot kept").len() > 1000, "{}", png.display());
    }
    b.close().await;
}

#[tokio::test]
async fn denying_consent_in_the_browser_ends_the_apps_login_with_access_denied() {
    let Some(b) = Browser::start("cli-login-deny").await else { return };
    let (s, app, _) = setup().await;
    let cli = CliLogin::start(&s, &app).await;
    b.client.goto(&cli.url).await.expect("open the authorization URL");
    sign_in(&b, "alice", PASSWORD).await;
    b.client.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#deny")).await.expect("consent");
    click_through(&b, "#deny").await;

    let done = text(&b, "main p").await;
    assert!(done.contains("not completed"), "{done}");
    let (ok, out, err) = cli.finish().await;
    assert!(!ok, "a denied login fails: {out}");
    assert!(err.contains("access_denied"), "{err}");
    b.close().await;
}

#[tokio::test]
async fn a_person_signs_in_with_a_phone_code_in_a_real_browser() {
    let Some(b) = Browser::start("otp-login").await else { return };
    let s = TestServer::start().await;
    let app = s.app_client(&[AuthorizationCode, RefreshToken], "read write", &[LOOPBACK], true).await;
    let user_id = s.user_with("ana", Some("+8613800138000"), None).await;
    let cli = CliLogin::start(&s, &app).await;
    b.client.goto(&cli.url).await.expect("open the authorization URL");

    // The login page offers a code beside the password, in its own labelled section.
    let heading = text(&b, "#code-heading").await;
    assert_eq!(heading, "Or sign in with a code");
    let label = text(&b, "label[for=destination]").await;
    assert!(label.contains("Phone number") && label.contains("email"), "{label}");
    let login_png = b.screenshot("login-with-code").await;
    let field = b.client.find(Locator::Css("#destination")).await.expect("the destination field");
    field.send_keys("+86 138 0013 8000").await.expect("type the number");
    click_through(&b, "#send-code").await;

    // The code page: the number as stored, a one-time-code field, resend and another way.
    assert_eq!(b.client.title().await.expect("title"), "Enter your code · Portcullis");
    let sent = text(&b, "#code-sent").await;
    assert!(sent.contains("+8613800138000") && sent.contains("5 minutes"), "{sent}");
    let code_field = b.client.find(Locator::Css("#code")).await.expect("the code field");
    assert_eq!(code_field.attr("autocomplete").await.expect("attr").as_deref(), Some("one-time-code"));
    assert_eq!(code_field.attr("inputmode").await.expect("attr").as_deref(), Some("numeric"));
    assert_eq!(b.client.find_all(Locator::Css("label[for=code]")).await.expect("label").len(), 1);
    assert!(b.client.find(Locator::Css("#resend-code")).await.is_ok());
    let code_png = b.screenshot("code").await;
    let code = s.outbox_code("+8613800138000").expect("the outbox has the code");

    // A wrong code first: the page says so, as an alert tied to the field.
    let wrong = format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000);
    b.client.find(Locator::Css("#code")).await.expect("code").send_keys(&wrong).await.expect("type");
    click_through(&b, "#verify-code").await;
    let alert = text(&b, "[role=alert]").await;
    assert!(alert.contains("wrong code"), "{alert}");
    let described = b.client.find(Locator::Css("#code")).await.expect("code").attr("aria-describedby").await;
    assert!(described.expect("attr").is_some_and(|d| d.contains("code-error")));
    let wrong_png = b.screenshot("code-wrong").await;

    b.client.find(Locator::Css("#code")).await.expect("code").send_keys(&code).await.expect("type");
    click_through(&b, "#verify-code").await;

    // Signed in: consent, then back at the app with its code.
    b.client.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#allow")).await.expect("consent");
    click_through(&b, "#allow").await;
    let done = text(&b, "main p").await;
    assert!(done.contains("You are logged in"), "{done}");
    let (ok, out, err) = cli.finish().await;
    assert!(ok, "cli-login succeeded: {out}{err}");
    assert!(out.contains(&format!("Logged in as ana (user {user_id})")), "{out}");

    let sql = "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_succeeded' AND user_id = $1 \
               AND detail = 'method=otp channel=sms page=authorize'";
    assert_eq!(portcullis_e2e::db::scalar(s.store.connection(), sql, vec![user_id.clone().into()]).await, 1);
    for png in [login_png, code_png, wrong_png] {
        assert!(std::fs::metadata(&png).expect("screenshot kept").len() > 1000, "{}", png.display());
    }
    b.close().await;
}

/// The page's layout facts in this window: (viewport width, document width, inputs without a
/// label, elements with a positive tabindex).
async fn layout(b: &Browser) -> (i64, i64, i64, i64) {
    let script = "const inputs = [...document.querySelectorAll('input:not([type=hidden])')];\
                  return [window.innerWidth, document.documentElement.scrollWidth,\
                          inputs.filter(i => i.labels.length === 0).length,\
                          document.querySelectorAll('[tabindex]:not([tabindex=\"-1\"]):not([tabindex=\"0\"])').length];";
    let v = b.client.execute(script, vec![]).await.expect("script");
    let n = |i: usize| v[i].as_i64().expect("a number");
    (n(0), n(1), n(2), n(3))
}

/// A screenshot of the whole page at `width` (the window made as tall as the page).
async fn whole_page(b: &Browser, width: u32, name: &str) -> std::path::PathBuf {
    b.client.set_window_size(width, 900).await.expect("resize");
    let height = b.client.execute("return document.documentElement.scrollHeight;", vec![]).await.expect("height");
    let height = height.as_u64().expect("a height").clamp(600, 5000) as u32;
    b.client.set_window_size(width, height + 140).await.expect("resize");
    b.screenshot(name).await
}

#[tokio::test]
async fn the_account_page_signs_a_phone_out_and_removes_an_app_in_a_real_browser() {
    let Some(b) = Browser::start("account-page").await else { return };
    let (s, app, user_id) = setup().await;
    let phone_client = s.client(&[Password, RefreshToken], "read").await;
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    let form =
        [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("device_id", "alices-phone")];
    let res = s.post_form("/oauth2/token", &form, Some(&phone_client), &[("user-agent", iphone)]).await;
    assert_eq!(res.status(), 200);
    let phone: serde_json::Value = res.json().await.expect("json");

    // Alice allows the command-line app in this browser (its session is on this browser's device).
    let cli = CliLogin::start(&s, &app).await;
    b.client.goto(&cli.url).await.expect("open the authorization URL");
    sign_in(&b, "alice", PASSWORD).await;
    b.client.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#allow")).await.expect("consent");
    let account_link = b.client.find(Locator::Css("main a[href='/account']")).await;
    assert!(account_link.is_ok(), "the consent page points to the account page");
    click_through(&b, "#allow").await;
    let (ok, out, err) = cli.finish().await;
    assert!(ok, "cli-login succeeded: {out}{err}");

    // The account page: already signed in (the same browser login).
    b.client.goto(&s.url("/account")).await.expect("open the account page");
    assert_eq!(b.client.title().await.expect("title"), "Your account · Portcullis");
    assert_eq!(text(&b, "h1").await, "alice");
    let phone_card = text(&b, "li[data-device-id='alices-phone']").await;
    assert!(phone_card.contains("Mobile Safari on iOS") && phone_card.contains("127.0.0.1"), "{phone_card}");
    let this_card = text(&b, "li.this").await;
    assert!(this_card.contains("This device") && this_card.contains("Chrome"), "{this_card}");
    let apps = text(&b, "#apps").await;
    assert!(apps.contains("Test App") && apps.contains("read"), "{apps}");
    let headings = b.client.find_all(Locator::Css("h2")).await.expect("headings");
    let mut names = Vec::new();
    for h in headings {
        names.push(h.text().await.expect("text"));
    }
    assert_eq!(names, ["Profile", "Devices", "Apps", "Password"]);

    // Desktop and phone widths: every field labelled, no positive tabindex (focus follows the
    // page's order), and nothing wider than a phone's screen.
    let desktop_png = whole_page(&b, 1280, "account-desktop").await;
    let (_, _, unlabelled, tabindex) = layout(&b).await;
    assert_eq!((unlabelled, tabindex), (0, 0));
    let phone_png = whole_page(&b, 390, "account-phone").await;
    let (viewport, width, _, _) = layout(&b).await;
    assert!(width <= viewport, "no sideways scrolling at {viewport} px: the page is {width} px wide");

    // Sign the phone out: its card goes, and its refresh token is refused at once.
    click_through(&b, "li[data-device-id='alices-phone'] button").await;
    assert_eq!(text(&b, "#notice").await, "That device is signed out.");
    assert!(b.client.find(Locator::Css("li[data-device-id='alices-phone']")).await.is_err());
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", phone["refresh_token"].as_str().expect("rt"))];
    let res = s.post_form("/oauth2/token", &refresh, Some(&phone_client), &[("user-agent", iphone)]).await;
    assert_eq!(res.status(), 400, "the signed-out phone cannot refresh");

    // Remove the app: its consent goes, and so does its session.
    click_through(&b, &format!("li[data-client-id='{}'] button", app.id)).await;
    assert!(text(&b, "#notice").await.contains("Access removed: the app can no longer act for you"));
    assert!(text(&b, "#apps").await.contains("No app has access."));
    let sql = "SELECT COUNT(*) FROM device_sessions WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL";
    let live =
        portcullis_e2e::db::scalar(s.store.connection(), sql, vec![user_id.clone().into(), app.id.clone().into()]);
    assert_eq!(live.await, 0, "the app's session ended with its access");
    let after_png = whole_page(&b, 390, "account-phone-after").await;

    // The display name, through the form.
    b.client.set_window_size(1280, 900).await.expect("resize");
    let field = b.client.find(Locator::Css("#display_name")).await.expect("display name");
    field.send_keys("Alice Liddell").await.expect("type");
    click_through(&b, "#save-profile").await;
    assert_eq!(text(&b, "h1").await, "Alice Liddell");

    for png in [desktop_png, phone_png, after_png] {
        assert!(std::fs::metadata(&png).expect("screenshot kept").len() > 1000, "{}", png.display());
    }
    b.close().await;
}

/// A stand-in app's web server on a loopback port: it answers every request with a line of
/// text, so that the browser lands somewhere real after a redirect.
async fn app_server() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut head).await;
                let body = "<!doctype html><title>App</title><main><p id=app>Back at the app.</p></main>";
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(res.as_bytes()).await;
            });
        }
    });
    (port, task)
}

/// OpenID Connect in a real browser: `prompt=login` shows the login page although the browser is
/// signed in, and the app's logout — without a hint, the person confirms on the end-session
/// page; with one, straight back to the app — ends the browser's login and the app's session.
#[tokio::test]
async fn an_app_signs_its_user_in_and_out_with_openid_connect_in_a_real_browser() {
    let Some(b) = Browser::start("oidc-logout").await else { return };
    let (port, server) = app_server().await;
    let callback = format!("http://127.0.0.1:{port}/callback");
    let logged_out = format!("http://127.0.0.1:{port}/logged-out");
    let s = TestServer::start().await;
    let app = s
        .register_spec(portcullis_domain::client::ClientSpec {
            name: "Notes".into(),
            grants: vec![AuthorizationCode, RefreshToken],
            scope: "openid profile".parse().expect("scope"),
            redirect_uris: vec![callback.clone()],
            post_logout_redirect_uris: vec![logged_out.clone()],
            ..Default::default()
        })
        .await;
    s.user("alice", PASSWORD).await;
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let (verifier, challenge) = portcullis_e2e::authflow::pkce_pair();
    let authorize = |extra: &str| {
        s.url(&format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+profile&state=st&nonce=n1\
             &code_challenge={challenge}&code_challenge_method=S256{extra}",
            app.id,
            enc(&callback)
        ))
    };
    // Signs in (and consents, the first time) and exchanges the code the browser lands with.
    let log_in = |consent: bool| {
        let (b, s, app, callback, verifier) = (&b, &s, &app, &callback, &verifier);
        async move {
            sign_in(b, "alice", PASSWORD).await;
            if consent {
                click_through(b, "#allow").await;
            }
            assert_eq!(text(b, "#app").await, "Back at the app.");
            let landed = b.client.current_url().await.expect("url");
            let code = landed.query_pairs().find(|(k, _)| k == "code").expect("a code").1.into_owned();
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", callback.as_str()),
                ("code_verifier", verifier.as_str()),
            ];
            let res = s.token_request(&form, Some(app)).await;
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.expect("json")
        }
    };
    let refreshes = |tokens: &serde_json::Value| {
        let form = [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", tokens["refresh_token"].as_str().expect("a refresh token").to_owned()),
            ("device_id", tokens["device_id"].as_str().expect("a device").to_owned()),
        ];
        let (s, app) = (&s, &app);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.token_request(&form, Some(app)).await.status() == 200
        }
    };

    b.client.goto(&authorize("")).await.expect("open the authorization URL");
    let first = log_in(true).await;
    assert!(first["id_token"].is_string(), "{first}");
    // prompt=login: the login page although signed in.
    b.client.goto(&authorize("&prompt=login")).await.expect("prompt=login");
    assert_eq!(b.client.title().await.expect("title"), "Sign in · Portcullis");
    let second = log_in(false).await;

    // The app's "log out" without a hint: the person confirms.
    b.client.goto(&s.url(&format!("/oauth2/logout?client_id={}", app.id))).await.expect("logout");
    assert_eq!(text(&b, "h1").await, "Sign out?");
    assert_eq!(text(&b, "#asked-by").await, "Notes asks to sign you out.");
    let confirm_png = b.screenshot("logout-confirm").await;
    click_through(&b, "#logout").await;
    assert_eq!(text(&b, "h1").await, "You are signed out");
    assert!(!refreshes(&second).await, "the app's session on this browser ended");
    assert!(!refreshes(&first).await, "and the earlier one");

    // Signed in again; the app's logout with its ID token: no question, back to the app.
    b.client.goto(&authorize("")).await.expect("open the authorization URL");
    let third = log_in(false).await;
    let hint = third["id_token"].as_str().expect("an id_token");
    let url = format!("/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye", enc(&logged_out));
    b.client.goto(&s.url(&url)).await.expect("logout with a hint");
    assert_eq!(text(&b, "#app").await, "Back at the app.");
    let landed = b.client.current_url().await.expect("url");
    assert_eq!((landed.path(), landed.query()), ("/logged-out", Some("state=bye")));
    assert!(!refreshes(&third).await, "the app's session ended");
    b.client.goto(&authorize("")).await.expect("open the authorization URL");
    assert_eq!(b.client.title().await.expect("title"), "Sign in · Portcullis", "the browser login ended");

    assert!(std::fs::metadata(&confirm_png).expect("screenshot kept").len() > 1000);
    b.close().await;
    server.abort();
}
