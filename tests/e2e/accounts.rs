//! Accounts people run themselves (contract §7): the profile on `/me` and `PATCH /me`, the
//! avatar, and the admin's `PATCH` / `DELETE /admin/users/{id}` and password reset. Exact
//! statuses and codes, and what each leaves behind.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, RgbaImage};
use reqwest::Method;
use serde_json::{Value, json};

use crate::refresh::{FIREFOX, Fixture, fixture};

async fn call(f: &Fixture, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = f.s.http.request(method, f.s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("send");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn put_avatar(f: &Fixture, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let res =
        f.s.http
            .put(f.s.url("/me/avatar"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().expect("access token").to_owned()
}

async fn audit_count(f: &Fixture, kind: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM audit_events WHERE kind = '{kind}'");
    portcullis_e2e::db::scalar(f.s.store.connection(), &sql, vec![]).await
}

pub(crate) fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub(crate) fn picture(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])))
}

/// A PNG with a text chunk (`tEXt Comment=secret-location`) after its header.
fn png_with_comment() -> Vec<u8> {
    let png = encode(picture(16, 16), ImageFormat::Png);
    let data = b"Comment\0secret-location";
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(data);
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    // After the signature (8) and IHDR (25).
    [&png[..33], &chunk[..], &png[33..]].concat()
}

/// A JPEG with an EXIF segment (APP1) after its start marker.
fn jpeg_with_exif() -> Vec<u8> {
    let jpeg = encode(DynamicImage::ImageRgb8(picture(600, 700).into_rgb8()), ImageFormat::Jpeg);
    let payload = b"Exif\0\0GPS 51.5N 0.12W camera-serial-123";
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    app1.extend_from_slice(payload);
    [&jpeg[..2], &app1[..], &jpeg[2..]].concat()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[tokio::test]
async fn the_profile_is_read_and_changed_on_me() {
    let f = fixture(Duration::from_secs(10)).await;
    let token = access(&f.login("ivy-laptop", FIREFOX).await);
    let me = f.s.me(&token).await;
    for field in ["display_name", "email", "phone", "avatar_url"] {
        assert!(me[field].is_null(), "{field} unset is null: {me}");
    }
    assert!(chrono::DateTime::parse_from_rfc3339(me["created_at"].as_str().expect("created_at")).is_ok());

    // A new username is who the account answers to: it needs the current password.
    for (body, status, error) in [
        (json!({"username": "ivy2"}), 403, "access_denied"),
        (json!({"username": "ivy2", "current_password": "not it at all"}), 403, "access_denied"),
        (json!({"username": "ivy@example.com", "current_password": "ivy's long password"}), 400, "invalid_request"),
        (json!({"username": "+8613800138000", "current_password": "ivy's long password"}), 400, "invalid_request"),
    ] {
        let (got, err) = call(&f, Method::PATCH, "/me", &token, Some(body.clone())).await;
        assert_eq!((got, err["error"].as_str()), (status, Some(error)), "{body}: {err}");
    }
    let (status, changed) = call(
        &f,
        Method::PATCH,
        "/me",
        &token,
        Some(json!({"username": "ivy2", "display_name": "  Ivy Ng ", "current_password": "ivy's long password"})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["username"], "ivy2");
    assert_eq!(changed["display_name"], "Ivy Ng", "trimmed");
    assert_eq!(changed["user_id"], me["user_id"]);
    assert_eq!(f.s.me(&token).await["username"], "ivy2", "the same token goes on working");
    // null clears the display name; an absent field stays.
    let (status, cleared) = call(&f, Method::PATCH, "/me", &token, Some(json!({"display_name": null}))).await;
    assert_eq!(
        (status, cleared["display_name"].clone(), cleared["username"].clone()),
        (200, Value::Null, json!("ivy2"))
    );
    assert_eq!(audit_count(&f, "profile_updated").await, 2, "refusals change nothing");

    // A taken username.
    f.s.user("otto", "otto's long password").await;
    let (status, taken) = call(
        &f,
        Method::PATCH,
        "/me",
        &token,
        Some(json!({"username": "otto", "current_password": "ivy's long password"})),
    )
    .await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("conflict")), "{taken}");
    // Bad input: nothing changes.
    for body in [
        json!({"username": ""}),
        json!({"username": "x".repeat(65)}),
        json!({"display_name": "é".repeat(101)}),
        json!({"display_name": "bell\u{7}"}),
        json!({"email": "ivy@example.com"}),
        json!({"username": 5}),
    ] {
        let (status, bad) = call(&f, Method::PATCH, "/me", &token, Some(body.clone())).await;
        assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_request")), "{body}: {bad}");
    }
    let now = f.s.me(&token).await;
    assert_eq!((now["username"].as_str(), now["email"].as_str()), (Some("ivy2"), None), "nothing half-written");
    // A client's token cannot use it.
    let cc = f.s.client(&[portcullis_domain::grant::GrantType::ClientCredentials], "read").await;
    let client_token = f.s.client_token(&cc, None).await["access_token"].as_str().expect("at").to_owned();
    assert_eq!(call(&f, Method::PATCH, "/me", &client_token, Some(json!({"display_name": "x"}))).await.0, 403);
}

#[tokio::test]
async fn an_avatar_is_reencoded_served_with_validators_and_refused_whole() {
    let f = fixture(Duration::from_secs(10)).await;
    let token = access(&f.login("ivy-laptop", FIREFOX).await);
    let user = f.s.me(&token).await["user_id"].as_str().expect("sub").to_owned();
    let (status, set) = put_avatar(&f, &token, "image/jpeg", jpeg_with_exif()).await;
    assert_eq!(status, 200, "{set}");
    let url = set["avatar_url"].as_str().expect("avatar_url").to_owned();
    assert!(url.starts_with(&f.s.url(&format!("/avatars/{user}?v="))), "{url}");
    assert_eq!(f.s.me(&token).await["avatar_url"], url.as_str());

    let res = f.s.http.get(&url).send().await.expect("get");
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().expect("etag").to_owned();
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(res.headers()["cache-control"].to_str().expect("cc").contains("max-age"));
    let bytes = res.bytes().await.expect("body");
    let img = image::load_from_memory(&bytes).expect("a JPEG");
    assert!(img.width() <= 512 && img.height() == 512, "{}x{}", img.width(), img.height());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("Exif") && !text.contains("GPS") && !text.contains("camera-serial"), "metadata stripped");
    let again = f.s.http.get(&url).header("if-none-match", &etag).send().await.expect("get");
    assert_eq!(again.status(), 304);

    // A PNG's text chunks go too.
    let (status, _) = put_avatar(&f, &token, "image/png", png_with_comment()).await;
    assert_eq!(status, 200);
    let png = f.s.http.get(f.s.url(&format!("/avatars/{user}"))).send().await.expect("get");
    assert_ne!(png.headers()["etag"].to_str().expect("etag"), etag, "a new image, a new ETag");
    let bytes = png.bytes().await.expect("body");
    assert!(!String::from_utf8_lossy(&bytes).contains("secret-location"));

    // Refusals keep the current avatar.
    let current = f.s.me(&token).await["avatar_url"].clone();
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("text/plain", b"hello".to_vec(), 415),
        ("image/gif", b"GIF89a".to_vec(), 415),
        ("image/png", b"not a png at all".to_vec(), 400),
        ("image/png", encode(picture(8, 8), ImageFormat::Jpeg), 400),
        ("image/png", vec![0u8; 1024 * 1024 + 1], 413),
    ];
    for (content_type, body, want) in cases {
        let (status, err) = put_avatar(&f, &token, content_type, body).await;
        assert_eq!(status, want, "{content_type}: {err}");
        assert!(err["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{err}");
    }
    assert_eq!(f.s.me(&token).await["avatar_url"], current, "nothing stored by a refusal");

    let res = f.s.http.delete(f.s.url("/me/avatar")).bearer_auth(&token).send().await.expect("delete");
    assert_eq!(res.status(), 204);
    assert!(f.s.me(&token).await["avatar_url"].is_null());
    let gone = f.s.http.get(f.s.url(&format!("/avatars/{user}"))).send().await.expect("get");
    assert_eq!(gone.status(), 404);
    assert_eq!(audit_count(&f, "avatar_changed").await, 3);
    let nobody = f.s.http.get(f.s.url("/avatars/not-a-user")).send().await.expect("get");
    assert_eq!(nobody.status(), 404);
}

#[tokio::test]
async fn admins_edit_delete_and_reset_users_and_every_session_ends() {
    let f = fixture(Duration::from_secs(10)).await;
    let admin = f.s.admin_token().await;
    let laptop = f.login("ivy-laptop", FIREFOX).await;
    let phone = f.login("ivy-phone", FIREFOX).await;
    let user = f.s.me(&access(&laptop)).await["user_id"].as_str().expect("sub").to_owned();
    let path = format!("/admin/users/{user}");

    let (status, edited) = call(
        &f,
        Method::PATCH,
        &path,
        &admin,
        Some(json!({"display_name": "Ivy", "email": "Ivy@Example.com", "phone": "+8613800138000"})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!((edited["email"].as_str(), edited["phone"].as_str()), (Some("ivy@example.com"), Some("+8613800138000")));
    assert_eq!(edited["display_name"], "Ivy");
    let (status, cleared) = call(&f, Method::PATCH, &path, &admin, Some(json!({"phone": null}))).await;
    assert_eq!(
        (status, cleared["phone"].clone(), cleared["email"].as_str()),
        (200, Value::Null, Some("ivy@example.com"))
    );
    let other = f.s.user_with("una", None, Some("una@example.com")).await;
    let (status, taken) = call(&f, Method::PATCH, &path, &admin, Some(json!({"email": "una@example.com"}))).await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("conflict")));
    let (status, bad) = call(&f, Method::PATCH, &path, &admin, Some(json!({"phone": "12345"}))).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(call(&f, Method::PATCH, "/admin/users/nobody", &admin, Some(json!({}))).await.0, 404);
    // Not for a user's own token.
    assert_eq!(call(&f, Method::PATCH, &path, &access(&laptop), Some(json!({"display_name": "x"}))).await.0, 403);

    // A password set by an admin ends every session: both refresh tokens die at once.
    let (status, weak) =
        call(&f, Method::POST, &format!("{path}/password"), &admin, Some(json!({"new_password": "short"}))).await;
    assert_eq!((status, weak["error"].as_str()), (400, Some("invalid_request")));
    let (status, _) = call(
        &f,
        Method::POST,
        &format!("{path}/password"),
        &admin,
        Some(json!({"new_password": "a brand new password"})),
    )
    .await;
    assert_eq!(status, 204);
    for tokens in [&laptop, &phone] {
        let (status, refused) = f
            .refresh(tokens["refresh_token"].as_str().expect("rt"), tokens["device_id"].as_str().expect("dev"), FIREFOX)
            .await;
        assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_grant")), "{refused}");
        assert_eq!(f.s.introspect(&f.rs, &access(tokens)).await["active"], false);
    }
    let old =
        f.s.post_form(
            "/oauth2/token",
            &[("grant_type", "password"), ("username", "ivy"), ("password", "ivy's long password")],
            Some(&f.c),
            &[],
        )
        .await;
    assert_eq!(old.status(), 400, "the old password is gone");
    let fresh =
        f.s.post_form(
            "/oauth2/token",
            &[
                ("grant_type", "password"),
                ("username", "ivy"),
                ("password", "a brand new password"),
                ("device_id", "ivy-new"),
            ],
            Some(&f.c),
            &[],
        )
        .await;
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.expect("json");
    assert_eq!(audit_count(&f, "password_reset").await, 1);

    // Deleting the user ends the new session too, and the account is gone with its avatar; the
    // trail stays.
    let (status, _) = put_avatar(&f, &access(&fresh), "image/png", encode(picture(8, 8), ImageFormat::Png)).await;
    assert_eq!(status, 200);
    assert_eq!(call(&f, Method::DELETE, &path, &admin, None).await.0, 204);
    assert_eq!(f.s.introspect(&f.rs, &access(&fresh)).await["active"], false);
    let (status, _) = f.refresh(fresh["refresh_token"].as_str().expect("rt"), "ivy-new", FIREFOX).await;
    assert_eq!(status, 400);
    assert_eq!(call(&f, Method::GET, &path, &admin, None).await.0, 404);
    assert_eq!(call(&f, Method::DELETE, &path, &admin, None).await.0, 404, "once");
    let me = f.s.http.get(f.s.url("/me")).bearer_auth(access(&fresh)).send().await.expect("me");
    assert_eq!(me.status(), 401);
    let again =
        f.s.post_form(
            "/oauth2/token",
            &[("grant_type", "password"), ("username", "ivy"), ("password", "a brand new password")],
            Some(&f.c),
            &[],
        )
        .await;
    assert_eq!(again.status(), 400);
    let trail = portcullis_e2e::db::scalar(
        f.s.store.connection(),
        &format!("SELECT COUNT(*) FROM audit_events WHERE user_id = '{user}'"),
        vec![],
    )
    .await;
    assert!(trail >= 5, "the audit trail stays: {trail}");
    assert_eq!(audit_count(&f, "user_deleted").await, 1);
    for table in ["device_sessions", "consents", "login_sessions", "avatars"] {
        let left = portcullis_e2e::db::scalar(
            f.s.store.connection(),
            &format!("SELECT COUNT(*) FROM {table} WHERE user_id = '{user}'"),
            vec![],
        )
        .await;
        assert_eq!(left, 0, "{table}");
    }
    // Its username and email are free again, and the other user is untouched.
    assert_eq!(call(&f, Method::GET, &format!("/admin/users/{other}"), &admin, None).await.0, 200);
    let (status, reborn) =
        call(&f, Method::POST, "/admin/users", &admin, Some(json!({"username": "ivy", "email": "ivy@example.com"})))
            .await;
    assert_eq!(status, 201, "{reborn}");
}

use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType::{self, ClientCredentials, Otp, Password, RefreshToken};
use portcullis_e2e::{TestClient, TestServer};

const OTP_GRANT: &str = "urn:portcullis:params:oauth:grant-type:otp";

async fn spec_client(s: &TestServer, grants: &[GrantType], tweak: impl FnOnce(&mut ClientSpec)) -> TestClient {
    let mut spec = ClientSpec { name: "App".into(), grants: grants.to_vec(), ..ClientSpec::default() };
    tweak(&mut spec);
    s.register_spec(spec).await
}

async fn json_post(s: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    let res = s.http.post(s.url(path)).bearer_auth(token).json(&body).send().await.expect("send");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn form_post(s: &TestServer, path: &str, c: &TestClient, form: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let res = s.post_form(path, form, Some(c), &[]).await;
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

async fn password_login(s: &TestServer, c: &TestClient, user: &str, password: &str, device: &str) -> (u16, Value) {
    let res = s
        .post_form(
            "/oauth2/token",
            &[("grant_type", "password"), ("username", user), ("password", password), ("device_id", device)],
            Some(c),
            &[],
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn count(s: &TestServer, sql: &str) -> i64 {
    portcullis_e2e::db::scalar(s.store.connection(), sql, vec![]).await
}

#[tokio::test]
async fn a_new_email_or_phone_is_set_only_through_the_code_sent_to_it() {
    let s = TestServer::start_with(|c| c.otp.resend_after = Duration::from_secs(1)).await;
    // An app that also logs people in by code and signs them up: were a contact code a login
    // code, its grant would let the code in.
    let app = spec_client(&s, &[Password, RefreshToken, Otp], |c| c.otp_signup = true).await;
    s.user("kim", "kim's long password").await;
    s.user("lou", "lou's long password").await;
    let kim = password_login(&s, &app, "kim", "kim's long password", "kim-laptop").await.1;
    let kim = access(&kim);
    let lou = access(&password_login(&s, &app, "lou", "lou's long password", "lou-laptop").await.1);

    // A token alone may not ask: a new contact can sign in and reset the password.
    for body in
        [json!({"email": "kim@example.com"}), json!({"email": "kim@example.com", "current_password": "wrong guess"})]
    {
        let (status, refused) = json_post(&s, "/me/contact", &kim, body).await;
        assert_eq!((status, refused["error"].as_str()), (403, Some("access_denied")), "{refused}");
    }
    assert!(s.outbox().is_empty(), "nothing sent to a refused request");
    let (status, sent) = json_post(
        &s,
        "/me/contact",
        &kim,
        json!({"email": "Kim@Example.com", "current_password": "kim's long password"}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent, json!({"expires_in": 300, "resend_after": 1}));
    let code = s.outbox_code("kim@example.com").expect("a code to the new address");
    assert!(s.me(&kim).await["email"].is_null(), "not set before the code comes back");

    // Only kim's token can spend it; a wrong code is invalid_grant; nothing is set meanwhile.
    let (status, other) =
        json_post(&s, "/me/contact/verify", &lou, json!({"email": "kim@example.com", "code": code})).await;
    assert_eq!((status, other["error"].as_str()), (400, Some("invalid_grant")), "{other}");
    let wrong = format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000);
    let (status, bad) =
        json_post(&s, "/me/contact/verify", &kim, json!({"email": "kim@example.com", "code": wrong})).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_grant")));
    let (status, me) =
        json_post(&s, "/me/contact/verify", &kim, json!({"email": "kim@example.com", "code": code})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "kim@example.com");
    let (status, again) =
        json_post(&s, "/me/contact/verify", &kim, json!({"email": "kim@example.com", "code": code})).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")), "a code works once");

    // A contact code logs no one in: the app's own OTP grant does not see it (nor spends it).
    let with_password = |body: Value| {
        let mut body = body;
        body["current_password"] = json!("kim's long password");
        body
    };
    let (status, sent) = json_post(&s, "/me/contact", &kim, with_password(json!({"phone": "+8613800138000"}))).await;
    assert_eq!(status, 200, "{sent}");
    let phone_code = s.outbox_code("+8613800138000").expect("sms");
    let grant = s
        .token_request(&[("grant_type", OTP_GRANT), ("phone", "+8613800138000"), ("code", &phone_code)], Some(&app))
        .await;
    assert_eq!(grant.status(), 400);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM users WHERE phone = '+8613800138000'").await, 0, "no one signed up");
    let (status, me) =
        json_post(&s, "/me/contact/verify", &kim, json!({"phone": "+8613800138000", "code": phone_code})).await;
    assert_eq!((status, me["phone"].as_str()), (200, Some("+8613800138000")), "{me}");

    // Taken meanwhile: 409 conflict, and kim's email stays.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let lou_asks = json!({"email": "kim@example.com", "current_password": "lou's long password"});
    assert_eq!(json_post(&s, "/me/contact", &lou, lou_asks).await.0, 200);
    let lou_code = s.outbox_code("kim@example.com").expect("a code for lou's try");
    let (status, taken) =
        json_post(&s, "/me/contact/verify", &lou, json!({"email": "kim@example.com", "code": lou_code})).await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("conflict")), "{taken}");
    assert!(s.me(&lou).await["email"].is_null());
    for body in [
        json!({}),
        json!({"email": "a@b.c", "phone": "+8613800138000"}),
        json!({"email": "not an address"}),
        json!(["x"]),
        json!({"email": "a@b.c", "extra": 1}),
    ] {
        let (status, bad) = json_post(&s, "/me/contact", &kim, body.clone()).await;
        assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_request")), "{body}: {bad}");
    }
}

#[tokio::test]
async fn sign_up_needs_a_client_that_allows_it_and_is_throttled_per_address() {
    let s = TestServer::start_with(|c| c.account.max_signups_per_ip = 6).await;
    let open = spec_client(&s, &[Password, RefreshToken], |c| c.signup = true).await;
    let closed = s.client(&[Password], "").await;
    let post = |c: Option<&TestClient>, body: Value| {
        let mut req = s.http.post(s.url("/signup")).json(&body);
        if let Some(c) = c {
            req = req.basic_auth(&c.id, c.secret.as_deref());
        }
        async move {
            let res = req.send().await.expect("send");
            let status = res.status().as_u16();
            let retry = res.headers().get("retry-after").is_some();
            (status, retry, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, _, made) =
        post(Some(&open), json!({"username": "nia", "password": "nia's long password", "email": "nia@example.com"}))
            .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["verification_sent"], "email");
    assert!(s.outbox_code("nia@example.com").is_some(), "a code to confirm the address");
    let (status, tokens) = password_login(&s, &open, "nia", "nia's long password", "nia-phone").await;
    assert_eq!(status, 200, "{tokens}");
    let me = s.me(&access(&tokens)).await;
    assert_eq!(me["user_id"], made["user_id"]);
    assert!(me["email"].is_null(), "the address is set once confirmed, never on the word of the sign-up");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'user_created'").await, 1);

    // Refusals, and nothing made by any of them.
    let (status, _, taken) = post(Some(&open), json!({"username": "nia", "password": "another long one"})).await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("conflict")));
    let (status, _, weak) = post(Some(&open), json!({"username": "oz", "password": "short"})).await;
    assert_eq!((status, weak["error"].as_str()), (400, Some("invalid_request")));
    let (status, _, no) = post(Some(&closed), json!({"username": "oz", "password": "oz's long password"})).await;
    assert_eq!((status, no["error"].as_str()), (400, Some("unauthorized_client")), "{no}");
    let forged = TestClient { id: open.id.clone(), secret: Some("pcs_wrong".into()) };
    let (status, _, bad) = post(Some(&forged), json!({"username": "oz", "password": "oz's long password"})).await;
    assert_eq!((status, bad["error"].as_str()), (401, Some("invalid_client")));
    let (status, _, none) = post(None, json!({"username": "oz", "password": "oz's long password"})).await;
    assert_eq!((status, none["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(count(&s, "SELECT COUNT(*) FROM users WHERE username = 'oz'").await, 0);

    // The per-address limit (6 an hour) counts every try, refused or not: the seventh is
    // refused before any work.
    let (status, retry, limited) =
        post(Some(&open), json!({"username": "pia", "password": "pia's long password"})).await;
    assert_eq!((status, retry), (429, true), "{limited}");
    assert_eq!(count(&s, "SELECT COUNT(*) FROM users WHERE username = 'pia'").await, 0);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_a_code_and_every_session_ends() {
    let s = TestServer::start().await;
    let app = s.client(&[Password, RefreshToken], "").await;
    let backend = s.client(&[ClientCredentials], "").await;
    s.user("rae", "rae's long password").await;
    let admin = s.admin_token().await;
    let rae = password_login(&s, &app, "rae", "rae's long password", "rae-laptop").await.1;
    let uid = s.me(&access(&rae)).await["user_id"].as_str().expect("sub").to_owned();
    let res = s
        .http
        .patch(s.url(&format!("/admin/users/{uid}")))
        .bearer_auth(&admin)
        .json(&json!({"email": "rae@example.com"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);

    let (status, _, sent) = form_post(&s, "/password-reset", &app, &[("email", "rae@example.com")]).await;
    assert_eq!(status, 200, "{sent}");
    let code = s.outbox_code("rae@example.com").expect("a reset code");
    let (status, _, unknown) = form_post(&s, "/password-reset", &app, &[("email", "nobody@example.com")]).await;
    assert_eq!((status, &unknown), (200, &sent), "the same answer for no account");
    assert!(s.outbox_code("nobody@example.com").is_none(), "and nothing sent");
    let (status, _, refused) = form_post(&s, "/password-reset", &backend, &[("email", "rae@example.com")]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("unauthorized_client")));

    // A weak password is refused before the code is spent; a wrong code is invalid_grant.
    let confirm = |code: String, password: &'static str| {
        let form = [("email", "rae@example.com".to_owned()), ("code", code), ("new_password", password.to_owned())];
        let app = app.clone();
        let s = &s;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form_post(s, "/password-reset/confirm", &app, &pairs).await
        }
    };
    let (status, _, weak) = confirm(code.clone(), "short").await;
    assert_eq!((status, weak["error"].as_str()), (400, Some("invalid_request")));
    let wrong = format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000);
    let (status, _, bad) = confirm(wrong, "a fresh long password").await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_grant")));
    // The reset code is no login code.
    let (status, _, _) = confirm(code.clone(), "a fresh long password").await;
    assert_eq!(status, 204);
    let (status, _, reused) = confirm(code, "yet another password").await;
    assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")), "once");

    // Every session ended; the old password is gone, the new one works.
    let res = s
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rae["refresh_token"].as_str().expect("rt")),
                ("device_id", "rae-laptop"),
            ],
            Some(&app),
            &[],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(s.http.get(s.url("/me")).bearer_auth(access(&rae)).send().await.expect("me").status(), 401);
    assert_eq!(password_login(&s, &app, "rae", "rae's long password", "x").await.0, 400);
    assert_eq!(password_login(&s, &app, "rae", "a fresh long password", "x").await.0, 200);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_events WHERE kind = 'password_reset' AND detail LIKE 'reset %'").await,
        1
    );
}

#[tokio::test]
async fn cors_answers_listed_origins_on_the_browser_endpoints_only() {
    let s = TestServer::start().await;
    let spa = spec_client(&s, &[Password, RefreshToken], |c| {
        c.public = true;
        c.allowed_origins = vec!["https://app.example".into()];
    })
    .await;
    let other = s.client(&[Password, ClientCredentials], "").await;
    s.user("sol", "sol's long password").await;
    let preflight = |path: &'static str, origin: &'static str| {
        let req = s
            .http
            .request(Method::OPTIONS, s.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type");
        async move { req.send().await.expect("preflight") }
    };
    let ok = preflight("/oauth2/token", "https://app.example").await;
    assert_eq!(
        ok.headers().get("access-control-allow-origin").map(|v| v.to_str().expect("ascii")),
        Some("https://app.example")
    );
    assert!(ok.headers()["access-control-allow-headers"].to_str().expect("ascii").contains("authorization"));
    for (path, origin) in [
        ("/oauth2/token", "https://evil.example"),
        ("/oauth2/token", "https://app.example.evil.example"),
        ("/oauth2/introspect", "https://app.example"),
        ("/admin/users", "https://app.example"),
    ] {
        let res = preflight(path, origin).await;
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{path} from {origin}");
    }
    // A real request: the SPA's own client from its origin is let read the answer.
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .header("origin", "https://app.example")
        .form(&[
            ("grant_type", "password"),
            ("client_id", spa.id.as_str()),
            ("username", "sol"),
            ("password", "sol's long password"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(
        res.headers().get("access-control-allow-origin").map(|v| v.to_str().expect("ascii")),
        Some("https://app.example")
    );
    let tokens: Value = res.json().await.expect("json");
    let me = s
        .http
        .get(s.url("/me"))
        .header("origin", "https://app.example")
        .bearer_auth(access(&tokens))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert!(me.headers().get("access-control-allow-origin").is_some());
    // Another client's credentials from that origin: it lists no origins, so no header.
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .header("origin", "https://app.example")
        .basic_auth(&other.id, other.secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // Registration refuses what is not an origin.
    let admin = s.admin_token().await;
    let res = s
        .http
        .post(s.url("/admin/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "x", "grants": ["password"], "allowed_origins": ["https://app.example/path"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_user_without_a_password_changes_contacts_only_soon_after_signing_in() {
    let now = portcullis_domain::clock::Clock::now(&portcullis_domain::clock::SystemClock);
    let clock = std::sync::Arc::new(portcullis_e2e::ManualClock::new(now));
    // The resend cooldown counts in Redis (when configured) on Redis's own clock: 1 s, waited.
    let s = TestServer::start_with_clock_and(clock.clone(), |c| c.otp.resend_after = Duration::from_secs(1)).await;
    let app = spec_client(&s, &[Otp, RefreshToken], |_| {}).await;
    s.user_with("vic", Some("+8613800138000"), None).await;
    let sent = s.post_form("/oauth2/otp", &[("phone", "+8613800138000")], Some(&app), &[]).await;
    assert_eq!(sent.status(), 200);
    let code = s.outbox_code("+8613800138000").expect("code");
    let res =
        s.token_request(&[("grant_type", OTP_GRANT), ("phone", "+8613800138000"), ("code", &code)], Some(&app)).await;
    assert_eq!(res.status(), 200);
    let token = access(&res.json().await.expect("json"));
    // Eleven minutes on, the same (still valid) token may not ask for a new contact.
    clock.advance(chrono::Duration::minutes(11));
    let (status, refused) = json_post(&s, "/me/contact", &token, json!({"email": "vic@example.com"})).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("access_denied")), "{refused}");
    assert!(s.outbox_code("vic@example.com").is_none());
    // A fresh sign-in may.
    clock.advance(chrono::Duration::minutes(2));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let sent = s.post_form("/oauth2/otp", &[("phone", "+8613800138000")], Some(&app), &[]).await;
    assert_eq!(sent.status(), 200);
    let code = s.outbox_code("+8613800138000").expect("code");
    let res =
        s.token_request(&[("grant_type", OTP_GRANT), ("phone", "+8613800138000"), ("code", &code)], Some(&app)).await;
    let token = access(&res.json().await.expect("json"));
    let (status, ok) = json_post(&s, "/me/contact", &token, json!({"email": "vic@example.com"})).await;
    assert_eq!(status, 200, "{ok}");
}
