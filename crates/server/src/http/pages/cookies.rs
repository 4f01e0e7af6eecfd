//! The cookies of the authorization pages: a CSRF cookie (random; forms carry a keyed hash of
//! it and of the login session, and it is replaced at login), the login cookie (a secret stored
//! hashed, minutes long, ended by a logout, a kick, a ban or a password change) and the device
//! cookie (the browser's device id). On an https issuer each is `__Host-` prefixed and `Secure`,
//! so no other host (a sibling subdomain, say) can set or read one.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{DeviceId, UserId};
use portcullis_domain::secret::Secret;
use portcullis_oauth::browser::BrowserLogin;

use super::render as pages;
use crate::app::App;

const CSRF_COOKIE: &str = "portcullis_csrf";
const LOGIN_COOKIE: &str = "portcullis_login";
const DEVICE_COOKIE: &str = "portcullis_device";
/// The prefix browsers reserve for `Secure`, `Path=/`, host-only cookies (RFC 6265bis §4.1.3.2).
const HOST_PREFIX: &str = "__Host-";
/// The device cookie lives a year: it names the browser, it grants nothing.
const DEVICE_COOKIE_SECS: u64 = 365 * 24 * 3600;

/// The cookies of this browser, and those to set on the answer.
pub(super) struct Browser {
    pub(super) csrf: String,
    pub(super) login: Option<String>,
    pub(super) device: Option<DeviceId>,
    set: Vec<String>,
    secure: bool,
}

impl Browser {
    pub(super) fn read(app: &App, headers: &HeaderMap) -> Self {
        let secure = app.issuer().starts_with("https://");
        let mut me = Self { csrf: String::new(), login: None, device: None, set: Vec::new(), secure };
        for raw in headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            for (name, value) in raw.split(';').filter_map(|c| c.trim().split_once('=')) {
                // On https only the prefixed names count: an unprefixed one may come from elsewhere.
                let name = match name.strip_prefix(HOST_PREFIX) {
                    Some(base) if secure => base,
                    _ if secure => continue,
                    _ => name,
                };
                match name {
                    CSRF_COOKIE if value.len() <= 128 => me.csrf = value.to_owned(),
                    LOGIN_COOKIE => me.login = Some(value.to_owned()),
                    DEVICE_COOKIE => me.device = DeviceId::parse(value).ok(),
                    _ => {}
                }
            }
        }
        me
    }

    fn cookie(&mut self, name: &str, value: &str, max_age: u64) {
        let (prefix, secure) = if self.secure { (HOST_PREFIX, "; Secure") } else { ("", "") };
        self.set.push(format!("{prefix}{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"));
    }

    /// The answer to a form whose CSRF token is not this browser's (with a CSRF cookie made now
    /// if it had none, so that a reload works), or `None` when the token is right.
    pub(super) fn csrf_refusal(&mut self, app: &App, token: &str) -> Option<Response> {
        if app.tokens().csrf_ok(&self.csrf, self.login.as_deref(), token) {
            return None;
        }
        self.ensure_csrf();
        Some(pages::error(
            StatusCode::BAD_REQUEST,
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        ))
    }

    /// The CSRF cookie, made now if the browser has none.
    pub(super) fn ensure_csrf(&mut self) {
        if self.csrf.is_empty() {
            self.rotate_csrf();
        }
    }

    /// A new CSRF cookie (at login, so that no token minted before it works after).
    fn rotate_csrf(&mut self) {
        self.csrf = Secret::generate("").expose().to_owned();
        let value = self.csrf.clone();
        self.cookie(CSRF_COOKIE, &value, 3600);
    }

    pub(super) fn device(&mut self) -> DeviceId {
        if let Some(d) = &self.device {
            return d.clone();
        }
        let d = DeviceId::generate();
        self.cookie(DEVICE_COOKIE, d.as_str(), DEVICE_COOKIE_SECS);
        self.device = Some(d.clone());
        d
    }

    /// After a login: the login cookie, a new CSRF cookie (no token minted before works after),
    /// and a 303 back to `back` (the authorization URL, which goes on to consent).
    pub(super) fn signed_in(&mut self, done: &BrowserLogin, back: &str) -> Response {
        self.cookie(LOGIN_COOKIE, done.secret.expose(), done.expires_in);
        self.rotate_csrf();
        pages::see_other(back)
    }

    /// After a sign-out: the login cookie cleared.
    pub(super) fn signed_out(&mut self) {
        self.cookie(LOGIN_COOKIE, "", 0);
        self.login = None;
    }

    pub(super) fn finish(self, mut res: Response) -> Response {
        for c in self.set {
            if let Ok(v) = HeaderValue::from_str(&c) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

pub(super) async fn logged_in(
    app: &App,
    browser: &Browser,
) -> Result<Option<(UserId, chrono::DateTime<chrono::Utc>)>, Response> {
    let Some(cookie) = &browser.login else { return Ok(None) };
    app.tokens()
        .browser_user(cookie)
        .await
        .map_err(|e| pages::failed(&Cause::context("looking up the login session", e)))
}
