//! `GET /oauth2/authorize` and the login and consent forms it shows (posted back to the same
//! URL). The cookies: a CSRF cookie (random; forms carry a keyed hash of it and of the login
//! session, and it is replaced at login), the login cookie (a secret stored hashed, minutes
//! long, ended by a logout, a kick, a ban or a password change) and the device cookie (the
//! browser's device id). On an https issuer each is `__Host-` prefixed and `Secure`, so no
//! other host (a sibling subdomain, say) can set or read one.

use axum::Extension;
use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{DeviceId, UserId};
use portcullis_domain::secret::Secret;
use portcullis_oauth::OAuthError;
use portcullis_oauth::authorize::{AuthorizeError, AuthorizeRequest, Authorized, Decision, Prompt};
use serde::Deserialize;

use super::render as pages;
use crate::app::App;
use crate::http::oauth::token::context;
use crate::http::paths;

const CSRF_COOKIE: &str = "portcullis_csrf";
const LOGIN_COOKIE: &str = "portcullis_login";
const DEVICE_COOKIE: &str = "portcullis_device";
/// The prefix browsers reserve for `Secure`, `Path=/`, host-only cookies (RFC 6265bis §4.1.3.2).
const HOST_PREFIX: &str = "__Host-";
/// The device cookie lives a year: it names the browser, it grants nothing.
const DEVICE_COOKIE_SECS: u64 = 365 * 24 * 3600;

/// What the login and consent forms post.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PageForm {
    /// The form's hidden CSRF field.
    #[serde(default)]
    csrf: String,
    /// `login`, `allow` or `deny`.
    #[serde(default)]
    action: String,
    /// With `login`.
    #[serde(default)]
    username: String,
    /// With `login`.
    #[serde(default)]
    password: String,
}

/// The cookies of this browser, and those to set on the answer.
struct Browser {
    csrf: String,
    login: Option<String>,
    device: Option<DeviceId>,
    set: Vec<String>,
    secure: bool,
}

impl Browser {
    fn read(app: &App, headers: &HeaderMap) -> Self {
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

    /// The CSRF cookie, made now if the browser has none.
    fn ensure_csrf(&mut self) {
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

    fn device(&mut self) -> DeviceId {
        if let Some(d) = &self.device {
            return d.clone();
        }
        let d = DeviceId::generate();
        self.cookie(DEVICE_COOKIE, d.as_str(), DEVICE_COOKIE_SECS);
        self.device = Some(d.clone());
        d
    }

    fn finish(self, mut res: Response) -> Response {
        for c in self.set {
            if let Ok(v) = HeaderValue::from_str(&c) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

async fn logged_in(app: &App, browser: &Browser) -> Result<Option<(UserId, chrono::DateTime<chrono::Utc>)>, Response> {
    let Some(cookie) = &browser.login else { return Ok(None) };
    app.tokens()
        .browser_user(cookie)
        .await
        .map_err(|e| pages::failed(&Cause::context("looking up the login session", e)))
}

/// The authorization endpoint (RFC 6749 §4.1.1) with PKCE S256 (RFC 7636): a login page, a
/// consent page, then a redirect to the client with `code` and `state`.
#[utoipa::path(get, path = crate::http::paths::AUTHORIZE, tag = "oauth2",
    params(
        ("response_type" = String, Query, description = "code"),
        ("client_id" = String, Query),
        ("redirect_uri" = Option<String>, Query, description = "exactly as registered; optional when the client registered one"),
        ("scope" = Option<String>, Query),
        ("state" = Option<String>, Query),
        ("code_challenge" = Option<String>, Query, description = "required for public clients"),
        ("code_challenge_method" = Option<String>, Query, description = "S256"),
    ),
    responses(
        (status = 200, description = "The login or consent page", body = String, content_type = "text/html"),
        (status = 303, description = "Back to the client with code and state, or an RFC 6749 §4.1.2.1 error"),
        (status = 400, description = "Unknown client or redirect URI: an error page, never a redirect", body = String, content_type = "text/html"),
    ))]
pub async fn authorize(State(app): State<App>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let req = AuthorizeRequest::from_query(query.as_deref().unwrap_or(""));
    let mut browser = Browser::read(&app, &headers);
    browser.ensure_csrf();
    let user = match logged_in(&app, &browser).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let device = browser.device.clone();
    let outcome = app.tokens().authorize(&req, user.as_ref(), Decision::None, device).await;
    let res = answer(&app, &browser, query.as_deref(), outcome, None, "");
    browser.finish(res)
}

/// The login and consent forms, posted to the authorization URL itself (same query string).
/// For browsers only: it needs the CSRF cookie set by `GET /oauth2/authorize`.
#[utoipa::path(post, path = crate::http::paths::AUTHORIZE, tag = "oauth2",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: back to GET /oauth2/authorize; or, after allow or deny, to the client with code and state or an RFC 6749 §4.1.2.1 error"),
        (status = 400, description = "Missing or wrong CSRF token, unknown action, an unreadable form, or a bad client or redirect URI", body = String, content_type = "text/html"),
        (status = 401, description = "Wrong username or password: the login page again, with the error", body = String, content_type = "text/html"),
        (status = 429, description = "Too many failed sign-ins: the login page again, with the error", body = String, content_type = "text/html"),
    ))]
pub async fn submit(
    State(app): State<App>,
    Extension(client): Extension<crate::http::client_addr::ClientAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    form: Result<Form<PageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return pages::error(StatusCode::BAD_REQUEST, "The form could not be read. Please go back and try again.");
    };
    let req = AuthorizeRequest::from_query(query.as_deref().unwrap_or(""));
    let mut browser = Browser::read(&app, &headers);
    if !app.tokens().csrf_ok(&browser.csrf, browser.login.as_deref(), &form.csrf) {
        browser.ensure_csrf();
        let res = pages::error(
            StatusCode::BAD_REQUEST,
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        );
        return browser.finish(res);
    }
    let res = match form.action.as_str() {
        "login" => login(&app, &mut browser, &req, query.as_deref(), &form, &context(client, &headers)).await,
        "allow" | "deny" => {
            let decision = if form.action == "allow" { Decision::Allow } else { Decision::Deny };
            match logged_in(&app, &browser).await {
                Ok(user) => {
                    let device = browser.device.clone();
                    let outcome = app.tokens().authorize(&req, user.as_ref(), decision, device).await;
                    answer(&app, &browser, query.as_deref(), outcome, None, "")
                }
                Err(res) => res,
            }
        }
        _ => pages::error(StatusCode::BAD_REQUEST, "Unknown form action."),
    };
    browser.finish(res)
}

async fn login(
    app: &App,
    browser: &mut Browser,
    req: &AuthorizeRequest,
    query: Option<&str>,
    form: &PageForm,
    ctx: &portcullis_oauth::RequestContext,
) -> Response {
    // Check the request itself before any password: a bad one gets its error, not a login.
    let outcome = app.tokens().authorize(req, None, Decision::None, None).await;
    if !matches!(outcome, Ok(Authorized::Login(_))) {
        return answer(app, browser, query, outcome, None, "");
    }
    let device = browser.device();
    let client_id = req.client_id().unwrap_or_default();
    match app.tokens().browser_login(&form.username, &form.password, client_id, &device, ctx).await {
        Ok(done) => {
            browser.cookie(LOGIN_COOKIE, done.secret.expose(), done.expires_in);
            browser.rotate_csrf();
            let mut res = StatusCode::SEE_OTHER.into_response();
            let back = format!("{}?{}", paths::AUTHORIZE, query.unwrap_or(""));
            if let Ok(v) = HeaderValue::from_str(&back) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
        Err(OAuthError::Server(cause)) => pages::failed(&cause),
        Err(e) => {
            let status = match &e {
                OAuthError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                OAuthError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let username: String = form.username.chars().take(256).collect();
            answer(app, browser, query, outcome, Some((status, e.description())), &username)
        }
    }
}

/// Maps the outcome of an authorization request to a redirect or a page.
fn answer(
    app: &App,
    browser: &Browser,
    query: Option<&str>,
    outcome: Result<Authorized, AuthorizeError>,
    login_error: Option<(StatusCode, &str)>,
    username: &str,
) -> Response {
    let action = format!("{}?{}", paths::AUTHORIZE, query.unwrap_or(""));
    let csrf = app.tokens().csrf_token(&browser.csrf, browser.login.as_deref());
    match outcome {
        Ok(Authorized::Redirect(url)) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(url.as_str()) {
                Ok(v) => {
                    res.headers_mut().insert(header::LOCATION, v);
                    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    res
                }
                Err(e) => pages::failed(&Cause::context("the redirect is not a header value", e)),
            }
        }
        Ok(Authorized::Login(Prompt { client_name, .. })) => {
            let (status, error) = login_error.unwrap_or((StatusCode::OK, ""));
            pages::render(status, "login.html", context! { client_name, action, csrf, error, username })
        }
        Ok(Authorized::Consent { prompt, .. }) => {
            let scopes: Vec<String> = prompt.scope.iter().map(str::to_owned).collect();
            pages::render(
                StatusCode::OK,
                "consent.html",
                context! {
                    client_name => prompt.client_name, client_id => prompt.client_id,
                    origin => prompt.redirect_origin, scopes, action, csrf
                },
            )
        }
        Err(AuthorizeError::BadRequest(why)) => pages::error(StatusCode::BAD_REQUEST, &why),
        Err(AuthorizeError::Server(cause)) => pages::failed(&cause),
    }
}
