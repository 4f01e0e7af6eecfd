//! The account page (`/account`, contract §7) and the login page's "create an account", walked
//! with a form-posting browser: exact statuses, what each form leaves behind (sessions ended,
//! refresh tokens refused, consents gone, profile and picture changed), and that no form works
//! without its CSRF token. The same page in Chromium, with screenshots, is in `browser.rs`.

use std::time::Duration;

use image::ImageFormat;
use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType::{AuthorizationCode, Password, RefreshToken};
use portcullis_e2e::authflow::{CHROME_UA, FormBrowser, csrf_of, pkce_pair, query_of};
use portcullis_e2e::{TestClient, TestServer};
use serde_json::Value;

use crate::accounts::{encode, picture};
use crate::refresh::{FIREFOX, Fixture, fixture};

const PASSWORD: &str = "ivy's long password";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                             (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

/// Signs `b` in to the account page with ivy's password; answers the page.
async fn sign_in(f: &Fixture, b: &mut FormBrowser, password: &str) -> String {
    let (status, _, page) = b.get(&f.s.url("/account")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Sign in to your account"), "{page}");
    let csrf = csrf_of(&page);
    let form = [("csrf", csrf.as_str()), ("action", "login"), ("username", "ivy"), ("password", password)];
    let (status, location, body) = b.post(&f.s.url("/account"), &form).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")), "{body}");
    let (status, _, page) = b.get(&f.s.url("/account")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Signed in as <strong>ivy</strong>"), "{page}");
    page
}

/// Posts one of the page's forms (`/account/{action}`) with the page's CSRF token.
async fn act(f: &Fixture, b: &mut FormBrowser, action: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    let csrf = csrf_of(&page);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(&f.s.url(&format!("/account/{action}")), &form).await
}

/// An attribute's text as the page escaped it (minijinja escapes `/` and `&`).
fn unescape(attr: &str) -> String {
    attr.replace("&#x2f;", "/").replace("&amp;", "&")
}

fn refresh_token(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().expect("refresh token").to_owned()
}

/// The device ids the page lists, in order.
fn listed_devices(page: &str) -> Vec<String> {
    page.split(r#"data-device-id=""#).skip(1).map(|s| s.split('"').next().expect("quote").to_owned()).collect()
}

#[tokio::test]
async fn the_page_signs_in_lists_devices_and_signs_one_out_whose_refresh_then_fails() {
    let f = fixture(Duration::ZERO).await;
    let phone = f.login("ivys-phone", SAFARI_IPHONE).await;
    let laptop = f.login("ivys-laptop", FIREFOX).await;

    let mut b = FormBrowser::new();
    // Signed out: the login page, posting to /account; a wrong password is 401 and keeps nothing.
    let (status, _, page) = b.get(&f.s.url("/account")).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"action="&#x2f;account""#) && page.contains("Sign in to your account"), "{page}");
    let csrf = csrf_of(&page);
    let (status, _, page) = b
        .post(&f.s.url("/account"), &[("csrf", &csrf), ("action", "login"), ("username", "ivy"), ("password", "wrong")])
        .await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("wrong username or password"), "{page}");
    // No CSRF token, no sign-in.
    let (status, _, _) =
        b.post(&f.s.url("/account"), &[("action", "login"), ("username", "ivy"), ("password", PASSWORD)]).await;
    assert_eq!(status, 400);
    // An action posted signed out goes back to the sign-in page, and does nothing.
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    let (status, location, _) = b.post(&f.s.url("/account/sign-out-others"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    assert_eq!(f.refresh(&refresh_token(&phone), "ivys-phone", SAFARI_IPHONE).await.0, 200, "nothing ended");
    let phone = f.login("ivys-phone", SAFARI_IPHONE).await;

    let page = sign_in(&f, &mut b, PASSWORD).await;
    // Parsed agents, addresses; this browser first and marked, though only the page is signed in on it.
    assert!(page.contains("Mobile Safari on iOS · iPhone"), "{page}");
    assert!(page.contains("Firefox on Linux"), "{page}");
    assert!(page.contains("from 127.0.0.1"), "{page}");
    let listed = listed_devices(&page);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed[1..].contains(&"ivys-phone".to_owned()) && listed[1..].contains(&"ivys-laptop".to_owned()));
    assert!(page.contains("This device") && page.contains("signed in to this page only"), "{page}");
    assert!(page.contains(r#"<label for="current_password">"#), "labelled inputs: {page}");

    // A wrong CSRF token ends nothing.
    let (status, _, _) =
        b.post(&f.s.url("/account/sign-out-device"), &[("csrf", "forged"), ("device_id", "ivys-phone")]).await;
    assert_eq!(status, 400);
    // Sign the phone out: its refresh fails at once; the laptop's still works.
    let (status, location, _) = act(&f, &mut b, "sign-out-device", &[("device_id", "ivys-phone")]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=device")));
    let (status, body) = f.refresh(&refresh_token(&phone), "ivys-phone", SAFARI_IPHONE).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, laptop) = f.refresh(&refresh_token(&laptop), "ivys-laptop", FIREFOX).await;
    assert_eq!(status, 200, "{laptop}");
    let (_, _, page) = b.get(&f.s.url("/account?done=device")).await;
    assert!(page.contains("That device is signed out."), "{page}");
    assert!(!listed_devices(&page).contains(&"ivys-phone".to_owned()), "{page}");
    // A notice is only ever one of the page's own.
    let (_, _, page) = b.get(&f.s.url("/account?done=%3Cscript%3E")).await;
    assert!(!page.contains("<script>") && !page.contains(r#"id="notice""#));
    // A device that is not ivy's: 404, with why.
    let (status, _, page) = act(&f, &mut b, "sign-out-device", &[("device_id", "someone-elses")]).await;
    assert_eq!(status, 404);
    assert!(page.contains("You have no such device."), "{page}");
    let (status, _, _) = act(&f, &mut b, "no-such-action", &[]).await;
    assert_eq!(status, 404);

    // A browser signed in to the page only, elsewhere, is listed (it can act on the account)
    // and can be signed out like any device.
    let mut other = FormBrowser::new();
    sign_in(&f, &mut other, PASSWORD).await;
    let other_device = other.cookies["portcullis_device"].clone();
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    assert!(listed_devices(&page).contains(&other_device) && page.contains("Another browser"), "{page}");
    let (status, location, _) = act(&f, &mut b, "sign-out-device", &[("device_id", &other_device)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=device")));
    let (_, _, page) = other.get(&f.s.url("/account")).await;
    assert!(page.contains("Sign in to your account"), "the other browser is signed out: {page}");

    // "Sign out everywhere else" spares no device by its id, which is the client's to choose:
    // a session that claims this browser's device id ends too, as does every other browser
    // and the laptop; this browser stays signed in (a new login cookie).
    sign_in(&f, &mut other, PASSWORD).await;
    let mine = b.cookies["portcullis_device"].clone();
    let spoof = f.login(&mine, FIREFOX).await;
    let (status, location, _) = act(&f, &mut b, "sign-out-others", &[]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=others")));
    let (status, _) = f.refresh(&refresh_token(&laptop), "ivys-laptop", FIREFOX).await;
    assert_eq!(status, 400);
    let (status, _) = f.refresh(&refresh_token(&spoof), &mine, FIREFOX).await;
    assert_eq!(status, 400, "a session claiming this browser's device id ends too");
    let (_, _, page) = other.get(&f.s.url("/account")).await;
    assert!(page.contains("Sign in to your account"), "the other browser is signed out: {page}");
    let (_, _, page) = b.get(&f.s.url("/account?done=others")).await;
    assert!(page.contains("Signed in as") && page.contains("You are signed out everywhere else."), "{page}");

    // "Sign out" ends this browser's login by its own cookie, whatever its device cookie says.
    b.cookies.insert("portcullis_device".into(), "a-swapped-device-cookie".into());
    let (status, location, _) = act(&f, &mut b, "sign-out", &[]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=signed-out")));
    assert_eq!(b.cookies["portcullis_login"], "", "the login cookie is cleared");
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    assert!(page.contains("Sign in to your account"), "{page}");
    f.s.stop().await;
}

/// An app ivy allowed in this browser through the authorization-code flow; its tokens.
async fn allow_app(f: &Fixture, b: &mut FormBrowser, app: &TestClient) -> Value {
    let (verifier, challenge) = pkce_pair();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", &app.id).append_pair("redirect_uri", REDIRECT);
    q.append_pair("scope", "read").append_pair("state", "st").append_pair("code_challenge", &challenge);
    q.append_pair("code_challenge_method", "S256");
    let url = f.s.url(&format!("/oauth2/authorize?{}", q.finish()));
    let back = b.authorize(&f.s.base, &url, "ivy", PASSWORD).await;
    let code = query_of(&back)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", app.id.as_str()),
    ];
    let res = f.s.post_form("/oauth2/token", &form, None, &[("user-agent", CHROME_UA)]).await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

#[tokio::test]
async fn removing_an_apps_access_ends_its_sessions_and_its_consent() {
    let f = fixture(Duration::ZERO).await;
    let app =
        f.s.register_spec(ClientSpec {
            name: "Photo Printer".into(),
            grants: vec![AuthorizationCode, RefreshToken],
            scope: "read".parse().expect("scope"),
            redirect_uris: vec![REDIRECT.to_owned()],
            public: true,
            ..ClientSpec::default()
        })
        .await;
    let mut b = FormBrowser::new();
    let tokens = allow_app(&f, &mut b, &app).await;
    // The consent page's sign-in is the account page's: the browser is signed in already.
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    assert!(page.contains("Photo Printer") && page.contains("<code>read</code>"), "{page}");
    // The app's session is on this browser: the device is marked.
    assert!(page.contains("This device") && !page.contains("signed in to this page only"), "{page}");

    let (status, location, _) = act(&f, &mut b, "remove-app", &[("client_id", &app.id)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=app")));
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh_token(&tokens)), ("client_id", &app.id)];
    let res = f.s.post_form("/oauth2/token", &form, None, &[("user-agent", CHROME_UA)]).await;
    assert_eq!(res.status(), 400, "the app's refresh fails once its access is removed");
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    assert!(!page.contains("Photo Printer") && page.contains("No app has access."), "{page}");
    // Removing it again, or an app never allowed: 404, with why.
    let (status, _, page) = act(&f, &mut b, "remove-app", &[("client_id", &app.id)]).await;
    assert_eq!(status, 404);
    assert!(page.contains("That app has no access to remove."), "{page}");
    let (status, _, _) = act(&f, &mut b, "remove-app", &[("client_id", "not a client id")]).await;
    assert_eq!(status, 404);
    f.s.stop().await;
}

#[tokio::test]
async fn the_profile_picture_and_password_change_on_the_page() {
    let f = fixture(Duration::ZERO).await;
    f.s.user("taken", "another long password").await;
    let laptop = f.login("ivys-laptop", FIREFOX).await;
    let mut b = FormBrowser::new();
    sign_in(&f, &mut b, PASSWORD).await;

    // Display name alone: no password needed.
    let (status, location, _) = act(&f, &mut b, "profile", &[("username", "ivy"), ("display_name", "Ivy Lin")]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=profile")));
    let me = f.s.me(f.login("ivys-laptop", FIREFOX).await["access_token"].as_str().expect("token")).await;
    assert_eq!(me["display_name"], "Ivy Lin");
    // A username change needs the current password (403 without, the name kept as typed);
    // a taken one is 409; a malformed one 400.
    let (status, _, page) = act(&f, &mut b, "profile", &[("username", "ivy2"), ("display_name", "Ivy Lin")]).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("current_password is required") && page.contains(r#"value="ivy2""#), "{page}");
    let fields = [("username", "taken"), ("display_name", "Ivy Lin"), ("current_password", PASSWORD)];
    let (status, _, page) = act(&f, &mut b, "profile", &fields).await;
    assert_eq!(status, 409, "{page}");
    let fields = [("username", "ivy@example.com"), ("display_name", ""), ("current_password", PASSWORD)];
    assert_eq!(act(&f, &mut b, "profile", &fields).await.0, 400);
    let (status, _, _) = act(&f, &mut b, "profile", &[("username", "ivy"), ("display_name", "x\u{7}")]).await;
    assert_eq!(status, 400, "a control character in the display name");

    // The picture: a PNG is set and shown; another type 415, too big 413, not an image 400.
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    let csrf = csrf_of(&page);
    let url = f.s.url("/account/avatar");
    let png = encode(picture(40, 30), ImageFormat::Png);
    let (status, location, _) = b.post_file(&url, &csrf, "avatar", ("me.png", "image/png", png)).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=avatar")));
    let (_, _, page) = b.get(&f.s.url("/account")).await;
    let src =
        page.split(r#"<img class="avatar" src=""#).nth(1).expect("the picture is shown").split('"').next().unwrap();
    let src = unescape(src);
    let res = f.s.http.get(f.s.url(&src)).send().await.expect("avatar");
    assert_eq!((res.status().as_u16(), res.headers()["content-type"].to_str().unwrap()), (200, "image/png"));
    let (status, _, page) = b.post_file(&url, &csrf, "avatar", ("me.gif", "image/gif", b"GIF89a".to_vec())).await;
    assert_eq!(status, 415, "{page}");
    assert!(page.contains("A picture must be a PNG, JPEG or WebP image."), "{page}");
    let big = vec![0u8; 1024 * 1024 + 1];
    let (status, _, page) = b.post_file(&url, &csrf, "avatar", ("big.png", "image/png", big)).await;
    assert_eq!(status, 413, "{page}");
    assert!(page.contains("That picture is too big: at most 1 MiB."), "{page}");
    // Far past the limit, the overload gate refuses it before the handler, with a page too.
    let bigger = vec![0u8; 1024 * 1024 + 64 * 1024];
    let (status, _, page) = b.post_file(&url, &csrf, "avatar", ("big.png", "image/png", bigger)).await;
    assert_eq!(status, 413, "{page}");
    assert!(page.contains("That picture is too big. Go back and choose a smaller one."), "{page}");
    let (status, _, page) = b.post_file(&url, &csrf, "avatar", ("x.png", "image/png", b"not a png".to_vec())).await;
    assert_eq!(status, 400, "{page}");
    let (status, _, _) = b.post_file(&url, "forged", "avatar", ("me.png", "image/png", vec![1])).await;
    assert_eq!(status, 400, "no CSRF token, nothing read");
    let (status, location, _) = act(&f, &mut b, "remove-avatar", &[]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=avatar-removed")));
    assert_eq!(f.s.http.get(f.s.url(&src)).send().await.expect("avatar").status(), 404);

    // The password: two new ones that differ are 400, a wrong current one 403; right, every
    // other session and browser ends while this browser stays signed in.
    let mut other = FormBrowser::new();
    sign_in(&f, &mut other, PASSWORD).await;
    let new = "a brand new long password";
    let differ = [("current_password", PASSWORD), ("new_password", new), ("confirm_password", "something else")];
    assert_eq!(act(&f, &mut b, "password", &differ).await.0, 400);
    let wrong = [("current_password", "not it at all"), ("new_password", new), ("confirm_password", new)];
    let (status, _, page) = act(&f, &mut b, "password", &wrong).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("the current password is wrong"), "{page}");
    let short = [("current_password", PASSWORD), ("new_password", "short"), ("confirm_password", "short")];
    assert_eq!(act(&f, &mut b, "password", &short).await.0, 400);
    let right = [("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)];
    let (status, location, _) = act(&f, &mut b, "password", &right).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account?done=password")));
    let (_, _, page) = b.get(&f.s.url("/account?done=password")).await;
    assert!(page.contains("Your password is changed"), "this browser stays signed in: {page}");
    let (_, _, page) = other.get(&f.s.url("/account")).await;
    assert!(page.contains("Sign in to your account"), "the other browser is signed out");
    assert_eq!(f.refresh(&refresh_token(&laptop), "ivys-laptop", FIREFOX).await.0, 400);
    let form = [("grant_type", "password"), ("username", "ivy"), ("password", new), ("device_id", "d")];
    let res = f.s.post_form("/oauth2/token", &form, Some(&f.c), &[]).await;
    assert_eq!(res.status(), 200, "the new password works");
    f.s.stop().await;
}

#[tokio::test]
async fn a_password_less_account_signs_in_to_the_page_with_a_code() {
    // A per-client quota of one send: the page's sends are not counted on any (a quota shared
    // by everyone signing in here would let anyone use it up).
    let s = TestServer::start_with(|c| {
        c.otp.browser_login = true;
        c.otp.max_sends_per_client = 1;
    })
    .await;
    s.user_with("+8613800138001", Some("+8613800138001"), None).await;
    let mut first = FormBrowser::new();
    let (_, _, page) = first.get(&s.url("/account")).await;
    let form = [("csrf", csrf_of(&page)), ("action", "send_code".into()), ("destination", "+8613800138001".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(first.post(&s.url("/account"), &form).await.0, 200);
    s.user_with("+8613800138000", Some("+8613800138000"), None).await;
    let mut b = FormBrowser::new();
    let (_, _, page) = b.get(&s.url("/account")).await;
    assert!(page.contains("Or sign in with a code"), "{page}");
    let form = [("csrf", csrf_of(&page)), ("action", "send_code".into()), ("destination", "+8613800138000".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, page) = b.post(&s.url("/account"), &form).await;
    assert_eq!(status, 200, "{page}");
    let code = s.outbox_code("+8613800138000").expect("a code was sent");
    let csrf = csrf_of(&page);
    let form =
        [("csrf", csrf.as_str()), ("action", "code_login"), ("destination", "+8613800138000"), ("code", code.as_str())];
    let (status, location, _) = b.post(&s.url("/account"), &form).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    let (_, _, page) = b.get(&s.url("/account")).await;
    assert!(page.contains("this account has no password"), "{page}");
    // The code was the account page's: a client's grant cannot spend it again, nor could it
    // have spent it first (codes are bound to who asked).
    s.stop().await;
}

/// An app that signs people up from its login page.
async fn signup_app(s: &TestServer, signup: bool) -> TestClient {
    s.register_spec(ClientSpec {
        name: "Sign-up App".into(),
        grants: vec![AuthorizationCode, RefreshToken, Password],
        scope: "read".parse().expect("scope"),
        redirect_uris: vec![REDIRECT.to_owned()],
        public: true,
        signup,
        ..ClientSpec::default()
    })
    .await
}

fn authorize_url(s: &TestServer, app: &TestClient) -> String {
    let (_, challenge) = pkce_pair();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", &app.id).append_pair("redirect_uri", REDIRECT);
    q.append_pair("scope", "read").append_pair("state", "st").append_pair("code_challenge", &challenge);
    q.append_pair("code_challenge_method", "S256");
    s.url(&format!("/oauth2/authorize?{}", q.finish()))
}

const NEW: &str = "a long new password";

/// Posts the sign-up form: `username`, the password `NEW`, and `again` as its confirmation.
async fn create(
    b: &mut FormBrowser,
    target: &str,
    csrf: &str,
    username: &str,
    again: &str,
) -> (u16, Option<String>, String) {
    let form =
        [("csrf", csrf), ("action", "signup"), ("username", username), ("password", NEW), ("confirm_password", again)];
    b.post(target, &form).await
}

#[tokio::test]
async fn the_login_page_creates_accounts_for_apps_that_sign_people_up() {
    let s = TestServer::start_with(|c| c.account.max_signups_per_ip = 4).await;
    s.user("taken", "another long password").await;
    let app = signup_app(&s, true).await;
    let mut b = FormBrowser::new();
    let url = authorize_url(&s, &app);
    let (_, _, page) = b.get(&url).await;
    let link = page.split(r#"id="signup-link">New here? <a href=""#).nth(1).expect("a create-account link");
    let link = unescape(link.split('"').next().unwrap());
    assert!(link.ends_with("&prompt=create"), "{link}");
    let (status, _, page) = b.get(&s.url(&link)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Create an account for Sign-up App"), "{page}");
    let target = s.url(&link);
    let csrf = csrf_of(&page);
    let (status, _, page) = create(&mut b, &target, &csrf, "newbie", "differs").await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("The two passwords differ."), "{page}");
    let (status, _, page) = create(&mut b, &target, &csrf, "taken", NEW).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("That username is taken."), "{page}");
    let (status, _, page) = create(&mut b, &target, &csrf, "+86138", NEW).await;
    assert_eq!(status, 400, "a name like a phone number: {page}");
    let (status, location, page) = create(&mut b, &target, &csrf, "newbie", NEW).await;
    assert_eq!(status, 303, "{page}");
    let location = location.expect("back to the authorization URL");
    assert!(location.starts_with("/oauth2/authorize?") && !location.contains("prompt=create"), "{location}");
    let (status, _, page) = b.get(&s.url(&location)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Allow Sign-up App to access your account?"), "signed in, on to consent: {page}");
    // The account works with its password.
    let form = [("grant_type", "password"), ("username", "newbie"), ("password", NEW), ("client_id", &app.id)];
    let res = s.post_form("/oauth2/token", &form, None, &[]).await;
    assert_eq!(res.status(), 200);
    // Every try counts against the address (four so far, the limit): the fifth is 429, and
    // makes nothing.
    let mut c = FormBrowser::new();
    let (_, _, page) = c.get(&s.url(&link)).await;
    let (status, _, page) = create(&mut c, &target, &csrf_of(&page), "fifth", NEW).await;
    assert_eq!(status, 429, "{page}");
    let made =
        portcullis_e2e::db::scalar(s.store.connection(), "SELECT COUNT(*) FROM users WHERE username = 'fifth'", vec![]);
    assert_eq!(made.await, 0);

    // An app that does not sign people up: no link, and the form is refused.
    let closed = signup_app(&s, false).await;
    let url = authorize_url(&s, &closed);
    let mut d = FormBrowser::new();
    let (_, _, page) = d.get(&format!("{url}&prompt=create")).await;
    assert!(!page.contains("signup-link") && page.contains("Sign in to continue to Sign-up App"), "{page}");
    let (status, _, _) = create(&mut d, &url, &csrf_of(&page), "sixth", NEW).await;
    assert_eq!(status, 400);
    s.stop().await;
}
