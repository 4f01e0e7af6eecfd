//! `/account`: a person's own page, behind the same browser login as the authorization pages.
//! Signed out, it is the login page (password, or a code with `otp.browser_login`) posting back
//! to `/account`; signed in, it shows the profile and picture, the devices signed in (this one
//! marked) with "sign out" and "sign out everywhere else", the apps allowed with "remove access",
//! and the password form. Every form carries the CSRF token; each action answers 303 back to the
//! page (a notice named by a fixed key, never text from the request) or the page again with the
//! error and its status.

use axum::Extension;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use minijinja::context;
use portcullis_domain::error::Cause;
use portcullis_domain::ids::{ClientId, DeviceId, UserId};
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;
use portcullis_oauth::browser::ACCOUNT_PAGE;
use portcullis_oauth::{ControlError, RequestContext};
use serde::{Deserialize, Serialize};

use super::authorize::{PageForm, password_login};
use super::code_login;
use super::cookies::{Browser, logged_in};
use super::login_pages::Forms;
use super::render as pages;
use crate::app::App;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::oauth::token::context;
use crate::http::paths;

/// Devices shown at most (a person has few; the JSON API pages through more).
const MAX_DEVICES: usize = 100;

/// What the account page's forms post (each form some of it).
#[derive(Default, Deserialize, utoipa::ToSchema)]
pub struct AccountForm {
    /// Every form's hidden CSRF field.
    #[serde(default)]
    csrf: String,
    /// `profile`.
    #[serde(default)]
    display_name: String,
    /// `profile`.
    #[serde(default)]
    username: String,
    /// `profile` (to change the username) and `password`.
    #[serde(default)]
    current_password: String,
    /// `password`.
    #[serde(default)]
    new_password: String,
    /// `password`: the new password again.
    #[serde(default)]
    confirm_password: String,
    /// `sign-out-device`.
    #[serde(default)]
    device_id: String,
    /// `remove-app`.
    #[serde(default)]
    client_id: String,
}

/// The account page's actions, `POST /account/{action}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Profile,
    Password,
    SignOutDevice,
    SignOutOthers,
    RemoveApp,
    RemoveAvatar,
    SignOut,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "profile" => Self::Profile,
            "password" => Self::Password,
            "sign-out-device" => Self::SignOutDevice,
            "sign-out-others" => Self::SignOutOthers,
            "remove-app" => Self::RemoveApp,
            "remove-avatar" => Self::RemoveAvatar,
            "sign-out" => Self::SignOut,
            _ => return None,
        })
    }
}

/// `GET /account`'s query.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The notices a redirect back to the page may name (`?done=`): fixed text, so that a link
/// cannot make the page say anything else.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "profile" => "Your profile is saved.",
        "avatar" => "Your picture is updated.",
        "avatar-removed" => "Your picture is removed.",
        "password" => "Your password is changed, and every other device is signed out.",
        "device" => "That device is signed out.",
        "others" => "You are signed out everywhere else. Apps must sign in again, on this device too.",
        "app" => "Access removed: the app can no longer act for you, and it is signed out.",
        "signed-out" => "You are signed out on this device.",
        _ => return None,
    })
}

/// The section of the page an error is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Profile,
    Avatar,
    Devices,
    Apps,
    Password,
}

/// An action refused: where, why (safe to show), with what status and `Retry-After`.
struct Refusal {
    section: Section,
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(section: Section, status: StatusCode, message: impl Into<String>) -> Self {
        Self { section, status, message: message.into(), retry_after: None }
    }

    /// From the JSON API's error for the same refusal: the same status and words. A server
    /// failure is not a refusal: its cause goes to the log and the 500 page.
    fn from_api(section: Section, e: ApiError) -> Failure {
        if e.status.is_server_error() && e.status != StatusCode::SERVICE_UNAVAILABLE {
            return Failure::Server(e.cause.unwrap_or_else(|| Cause::msg(e.description.clone())));
        }
        Failure::Refused(Self { section, status: e.status, message: e.description, retry_after: e.retry_after })
    }
}

/// Why an action did not happen: refused (the page again, with why), or a failure of ours.
enum Failure {
    Refused(Refusal),
    Server(Cause),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

/// A signed-in browser on the account page.
struct Visit {
    browser: Browser,
    user: User,
    /// When this browser's person last proved who they are.
    signed_in: DateTime<Utc>,
}

/// The browser's cookies and its signed-in user, if any (a login whose user is gone is none).
async fn visit(app: &App, headers: &HeaderMap) -> Result<(Browser, Option<(User, DateTime<Utc>)>), Response> {
    let mut browser = Browser::read(app, headers);
    browser.ensure_csrf();
    let Some((uid, at)) = logged_in(app, &browser).await? else { return Ok((browser, None)) };
    match app.directory().user(&uid).await {
        Ok(user) => Ok((browser, Some((user, at)))),
        Err(crate::ops::OpError::NotFound(_)) => Ok((browser, None)),
        Err(e) => Err(pages::failed(&Cause::context("reading the signed-in user", e))),
    }
}

/// A redirect back to the page, with the notice `done`.
fn back(done: &str) -> Response {
    pages::see_other(&format!("{}?done={done}", paths::ACCOUNT))
}

/// A signed-out browser that posts an action: back to the page, which asks it to sign in.
fn to_sign_in() -> Response {
    pages::see_other(paths::ACCOUNT)
}

/// The account page, or the sign-in page for a browser not signed in.
#[utoipa::path(get, path = crate::http::paths::ACCOUNT, tag = "account",
    params(("done" = Option<String>, Query, description = "the notice to show after an action (a fixed set)")),
    responses(
        (status = 200, description = "The account page, or the sign-in page when this browser is not signed in", body = String, content_type = "text/html"),
    ))]
pub async fn page(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (browser, signed_in) = match visit(&app, &headers).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Some((user, at)) = signed_in else {
        let res = Forms::account(&app, &browser).login(StatusCode::OK, None, None);
        return browser.finish(res);
    };
    let done = query.ok().and_then(|q| q.0.done).and_then(|d| notice(&d));
    let visit = Visit { browser, user, signed_in: at };
    let ctx = context(client, &headers);
    let res = render(&app, &visit, &ctx, done, None, None).await;
    visit.browser.finish(res)
}

/// The sign-in forms of a browser not signed in (the login page's, posted to `/account`):
/// signed in, back to the page.
#[utoipa::path(post, path = crate::http::paths::ACCOUNT, tag = "account",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "action=send_code: the code page (the same whether or not an account has the destination)", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in: back to GET /account"),
        (status = 400, description = "Missing or wrong CSRF token, an unknown action, an unreadable form or a malformed destination", body = String, content_type = "text/html"),
        (status = 401, description = "Wrong username or password, or a wrong, expired, used or dead code", body = String, content_type = "text/html"),
        (status = 429, description = "Too many tries or codes: the page again, with Retry-After", body = String, content_type = "text/html"),
        (status = 503, description = "The code could not be sent, or the server is too busy to check a password", body = String, content_type = "text/html"),
    ))]
pub async fn sign_in(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    form: Result<Form<PageForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return pages::unreadable_form();
    };
    let mut browser = Browser::read(&app, &headers);
    if let Some(res) = browser.csrf_refusal(&app, &form.csrf) {
        return browser.finish(res);
    }
    let forms = Forms::account(&app, &browser);
    let ctx = context(client, &headers);
    let res = match form.action.as_str() {
        "login" => password_login(&app, &mut browser, &forms, &form, ACCOUNT_PAGE, &ctx).await,
        "send_code" => code_login::send(&app, &forms, &form.destination, ACCOUNT_PAGE, &ctx).await,
        "code_login" => {
            let typed = (form.destination.as_str(), form.code.as_str());
            code_login::verify(&app, &mut browser, &forms, typed, ACCOUNT_PAGE, &ctx).await
        }
        _ => pages::error(StatusCode::BAD_REQUEST, "Unknown form action."),
    };
    browser.finish(res)
}

/// The account page's forms: `profile`, `password`, `sign-out-device`, `sign-out-others`,
/// `remove-app`, `remove-avatar` and `sign-out` (this browser).
#[utoipa::path(post, path = crate::http::paths::ACCOUNT_ACTION, tag = "account",
    params(("action" = String, Path, description = "profile, password, sign-out-device, sign-out-others, remove-app, remove-avatar or sign-out")),
    request_body(content = AccountForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Done: back to GET /account with a notice; or, signed out, to the sign-in page"),
        (status = 400, description = "Missing or wrong CSRF token, an unknown action, an unreadable form, or a value the action refuses (the page again, with why)", body = String, content_type = "text/html"),
        (status = 403, description = "The current password is wrong, or a password-less account's sign-in is too old to change its username", body = String, content_type = "text/html"),
        (status = 404, description = "No such device or app of this account", body = String, content_type = "text/html"),
        (status = 409, description = "The username is taken", body = String, content_type = "text/html"),
        (status = 429, description = "Too many wrong passwords: the page again, with Retry-After", body = String, content_type = "text/html"),
        (status = 503, description = "Too busy to check a password: the page again, with Retry-After", body = String, content_type = "text/html"),
    ))]
pub async fn act(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    Path(action): Path<String>,
    form: Result<Form<AccountForm>, FormRejection>,
) -> Response {
    let Some(action) = Action::parse(&action) else {
        return pages::error(StatusCode::NOT_FOUND, "There is no such page.");
    };
    let Ok(Form(form)) = form else {
        return pages::unreadable_form();
    };
    let (mut browser, signed_in) = match visit(&app, &headers).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if let Some(res) = browser.csrf_refusal(&app, &form.csrf) {
        return browser.finish(res);
    }
    let Some((user, at)) = signed_in else { return browser.finish(to_sign_in()) };
    let mut visit = Visit { browser, user, signed_in: at };
    let ctx = context(client, &headers);
    let res = match run(&app, &mut visit, action, &form, &ctx).await {
        Ok(res) => res,
        Err(Failure::Refused(refusal)) => {
            let kept = (action == Action::Profile).then_some(&form);
            render(&app, &visit, &ctx, None, Some(&refusal), kept).await
        }
        Err(Failure::Server(cause)) => pages::failed(&cause),
    };
    visit.browser.finish(res)
}

/// An action: its redirect, or why it was refused (or the failure page).
async fn run(
    app: &App,
    visit: &mut Visit,
    action: Action,
    form: &AccountForm,
    ctx: &RequestContext,
) -> Result<Response, Failure> {
    let uid = visit.user.id.clone();
    let actor = uid.to_string();
    match action {
        Action::Profile => save_profile(app, visit, form, ctx).await.map(|()| back("profile")),
        Action::Password => change_password(app, visit, form, ctx).await,
        Action::SignOutDevice => {
            let gone = || Refusal::new(Section::Devices, StatusCode::NOT_FOUND, "You have no such device.").into();
            let this = this_device(visit, &form.device_id);
            // A browser signed in to this page only has a login and no app session: the kick
            // ends its login and finds no session, which is not "no such device".
            let logins = app.tokens().browser_logins(&uid).await.map_err(|e| Failure::Server(Cause::new(e)))?;
            let page_only = logins.iter().any(|l| l.device_id.as_ref().is_some_and(|d| d.as_str() == form.device_id));
            match app.control().kick(&uid, Some(&form.device_id), Reason::Logout, &actor).await {
                Ok(_) | Err(ControlError::NotFound(_)) if this => sign_out(app, visit).await,
                Ok(_) => Ok(back("device")),
                Err(ControlError::NotFound(_)) if page_only => Ok(back("device")),
                Err(ControlError::NotFound(_)) => Err(gone()),
                Err(e) => Err(Refusal::from_api(Section::Devices, e.into())),
            }
        }
        Action::SignOutOthers => {
            let device = visit.browser.device();
            match app.tokens().browser_sign_out_others(&uid, &device).await {
                Ok(Some(login)) => Ok(visit.browser.signed_in(&login, &format!("{}?done=others", paths::ACCOUNT))),
                Ok(None) => Ok(to_sign_in()),
                Err(e) => Err(Refusal::from_api(Section::Devices, e.into())),
            }
        }
        Action::RemoveApp => {
            let gone =
                || Refusal::new(Section::Apps, StatusCode::NOT_FOUND, "That app has no access to remove.").into();
            let Ok(client) = ClientId::parse(&form.client_id) else { return Err(gone()) };
            match app.control().withdraw_consent(&uid, &client).await {
                Ok(true) => Ok(back("app")),
                Ok(false) => Err(gone()),
                Err(e) => Err(Refusal::from_api(Section::Apps, e.into())),
            }
        }
        Action::RemoveAvatar => match app.directory().delete_avatar(&uid, &actor).await {
            Ok(_) => Ok(back("avatar-removed")),
            Err(e) => Err(Refusal::from_api(Section::Avatar, e.into())),
        },
        Action::SignOut => sign_out(app, visit).await,
    }
}

/// Ends this browser's login (by its own cookie, whatever its device cookie says) and clears
/// the cookie.
async fn sign_out(app: &App, visit: &mut Visit) -> Result<Response, Failure> {
    if let Some(cookie) = &visit.browser.login {
        app.tokens().browser_logout(cookie).await.map_err(|e| Failure::Server(Cause::new(e)))?;
    }
    visit.browser.signed_out();
    Ok(back("signed-out"))
}

fn this_device(visit: &Visit, device_id: &str) -> bool {
    visit.browser.device.as_ref().is_some_and(|d| d.as_str() == device_id)
}

/// `profile`: the display name, and the username (which needs the current password, or a
/// recent sign-in for an account without one, as `PATCH /me`).
async fn save_profile(app: &App, visit: &Visit, form: &AccountForm, ctx: &RequestContext) -> Result<(), Failure> {
    let refuse = |e: ApiError| Refusal::from_api(Section::Profile, e);
    let user = &visit.user;
    let name = form.username.trim();
    let rename = name != user.username.as_str();
    if rename {
        portcullis_domain::ids::Username::parse(name)
            .map_err(|e| Failure::from(Refusal::new(Section::Profile, StatusCode::BAD_REQUEST, e.to_string())))?;
        crate::http::me::account::check_chosen_username(name).map_err(refuse)?;
        let current = Some(form.current_password.as_str()).filter(|p| !p.is_empty());
        crate::http::me::account::check_password_field(current).map_err(refuse)?;
        app.control()
            .prove_presence(user, visit.signed_in, current.map(Secret::new), ACCOUNT_PAGE, ctx)
            .await
            .map_err(|e| refuse(e.into()))?;
    }
    let edit = crate::ops::ProfileEdit {
        username: rename.then(|| name.to_owned()),
        display_name: Some(Some(form.display_name.clone())),
        ..Default::default()
    };
    app.directory().update_profile(&user.id, edit, user.id.as_str()).await.map_err(|e| refuse(e.into()))?;
    Ok(())
}

/// `password`: as `POST /me/password`, then this browser stays signed in (a new login cookie)
/// while every other session and browser login ends.
async fn change_password(
    app: &App,
    visit: &mut Visit,
    form: &AccountForm,
    ctx: &RequestContext,
) -> Result<Response, Failure> {
    if form.new_password != form.confirm_password {
        let why = "The two new passwords differ. Type the same new password twice.";
        return Err(Refusal::new(Section::Password, StatusCode::BAD_REQUEST, why).into());
    }
    let device = visit.browser.device();
    let current = Secret::new(form.current_password.clone());
    let new = Secret::new(form.new_password.clone());
    match app.tokens().browser_change_password(&visit.user.id, current, new, &device, ctx).await {
        Ok(Some(login)) => Ok(visit.browser.signed_in(&login, &format!("{}?done=password", paths::ACCOUNT))),
        Ok(None) => Ok(to_sign_in()),
        Err(e) => Err(Refusal::from_api(Section::Password, e.into())),
    }
}

/// `POST /account/avatar`: the picture form (multipart: `csrf`, then `avatar`, the file).
#[utoipa::path(post, path = crate::http::paths::ACCOUNT_AVATAR, tag = "account",
    request_body(content = String, description = "multipart/form-data: `csrf`, then `avatar` (a PNG, JPEG or WebP file, at most account.avatar_max_bytes)",
        content_type = "multipart/form-data"),
    responses(
        (status = 303, description = "Set: back to GET /account with a notice; or, signed out, to the sign-in page"),
        (status = 400, description = "Missing or wrong CSRF token, an unreadable form, or a file that is not the image its type says", body = String, content_type = "text/html"),
        (status = 413, description = "The file is too big", body = String, content_type = "text/html"),
        (status = 415, description = "The file is not a PNG, JPEG or WebP image", body = String, content_type = "text/html"),
    ))]
pub async fn avatar(
    State(app): State<App>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(mut multipart) = multipart else { return pages::unreadable_form() };
    let (mut browser, signed_in) = match visit(&app, &headers).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    // The CSRF field comes first in the form: nothing else is read without it.
    let csrf = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    if let Some(res) = browser.csrf_refusal(&app, &csrf) {
        return browser.finish(res);
    }
    let Some((user, at)) = signed_in else { return browser.finish(to_sign_in()) };
    let visit = Visit { browser, user, signed_in: at };
    let ctx = context(client, &headers);
    let res = match upload(&app, &visit.user.id, &mut multipart).await {
        Ok(()) => back("avatar"),
        Err(Failure::Refused(refusal)) => render(&app, &visit, &ctx, None, Some(&refusal), None).await,
        Err(Failure::Server(cause)) => pages::failed(&cause),
    };
    visit.browser.finish(res)
}

/// Reads the `avatar` field and sets it, as `PUT /me/avatar` does.
async fn upload(app: &App, uid: &UserId, multipart: &mut Multipart) -> Result<(), Failure> {
    let refuse = |status, why: &str| Err(Refusal::new(Section::Avatar, status, why).into());
    let max = app.config().account.avatar_max_bytes;
    let field = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("avatar") => field,
        Ok(_) => return refuse(StatusCode::BAD_REQUEST, "Choose a picture to upload."),
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "The upload was cut off or could not be read. Try again."),
    };
    let content_type = field.content_type().unwrap_or_default().to_owned();
    let Some(format) = crate::ops::avatar::format_of(&content_type) else {
        let why = if field.file_name().unwrap_or_default().is_empty() {
            "Choose a picture to upload."
        } else {
            "A picture must be a PNG, JPEG or WebP image."
        };
        let status =
            if why.starts_with("Choose") { StatusCode::BAD_REQUEST } else { StatusCode::UNSUPPORTED_MEDIA_TYPE };
        return refuse(status, why);
    };
    let bytes = match field.bytes().await {
        Ok(b) if b.len() > max => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, &format!("That picture is too big: at most {}.", size(max)));
        }
        Ok(b) if b.is_empty() => return refuse(StatusCode::BAD_REQUEST, "That file is empty."),
        Ok(b) => b,
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "The upload was cut off or could not be read. Try again."),
    };
    app.directory()
        .set_avatar(uid, bytes, format, uid.as_str())
        .await
        .map(|_| ())
        .map_err(|e| Refusal::from_api(Section::Avatar, e.into()))
}

/// `bytes` for people: "1 MiB", "512 KiB".
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// One device as the page shows it.
#[derive(Serialize)]
struct DeviceRow {
    device_id: String,
    /// "Firefox on Linux", "Mobile Safari on iOS · iPhone"; an agent the parser does not know
    /// is named by its device id (an app's own name for it, such as `alices-terminal`).
    name: String,
    last_seen: String,
    last_ip: Option<String>,
    /// What is signed in on it, when it is only this browser's page.
    apps: Option<&'static str>,
    this: bool,
}

/// One app allowed.
#[derive(Serialize)]
struct AppRow {
    client_id: String,
    name: String,
    scope: String,
    granted_at: String,
}

/// How a device is named on the page (see [`DeviceRow::name`]).
fn device_name(browser: &str, os: &str, device: &str, device_id: &str) -> String {
    const UNKNOWN: &str = "Other";
    match (browser, os, device) {
        (UNKNOWN, UNKNOWN, _) => format!("Unknown app or device ({device_id})"),
        (_, _, UNKNOWN) => format!("{browser} on {os}"),
        _ => format!("{browser} on {os} · {device}"),
    }
}

/// A time as the page shows it: minutes, UTC.
fn when(t: &str) -> String {
    DateTime::parse_from_rfc3339(t).map_or_else(|_| t.to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The signed-in page, with `notice` or `refusal`; `kept`: the profile form as typed.
async fn render(
    app: &App,
    visit: &Visit,
    ctx: &RequestContext,
    notice: Option<&str>,
    refusal: Option<&Refusal>,
    kept: Option<&AccountForm>,
) -> Response {
    let user = &visit.user;
    let Gathered { devices, more, apps, avatar } = match gather(app, visit, ctx).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let error_in = |s: Section| refusal.filter(|r| r.section == s).map(|r| r.message.as_str());
    let status = refusal.map_or(StatusCode::OK, |r| r.status);
    let form = match kept {
        Some(f) => context! { username => f.username.chars().take(256).collect::<String>(),
        display_name => f.display_name.chars().take(256).collect::<String>() },
        None => {
            context! { username => user.username.as_str(), display_name => user.display_name.as_deref().unwrap_or("") }
        }
    };
    let initial = user
        .display_name
        .as_deref()
        .unwrap_or(user.username.as_str())
        .chars()
        .next()
        .map(|c| c.to_uppercase().to_string());
    let mut res = pages::render(
        status,
        "account.html",
        context! {
            user => context! {
                username => user.username.as_str(), display_name => user.display_name.as_deref(),
                email => user.email.as_ref().map(ToString::to_string), phone => user.phone.as_ref().map(ToString::to_string),
                created_at => user.created_at.format("%Y-%m-%d").to_string(), avatar_url => avatar,
                has_password => user.has_password(), initial,
            },
            form, devices, more, apps, notice,
            errors => context! {
                profile => error_in(Section::Profile), avatar => error_in(Section::Avatar),
                devices => error_in(Section::Devices), apps => error_in(Section::Apps),
                password => error_in(Section::Password),
            },
            csrf => app.tokens().csrf_token(&visit.browser.csrf, visit.browser.login.as_deref()),
            avatar_max => size(app.config().account.avatar_max_bytes),
            min_password => portcullis_domain::password::MIN_PASSWORD_LEN,
            paths => context! {
                profile => "/account/profile", password => "/account/password", avatar => paths::ACCOUNT_AVATAR,
                avatar_delete => "/account/remove-avatar", sign_out_device => "/account/sign-out-device",
                sign_out_others => "/account/sign-out-others", remove_app => "/account/remove-app",
                sign_out => "/account/sign-out",
            },
        },
    );
    if let Some(secs) = refusal.and_then(|r| r.retry_after) {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// What the page lists.
struct Gathered {
    devices: Vec<DeviceRow>,
    /// More devices than the page lists.
    more: bool,
    apps: Vec<AppRow>,
    avatar: Option<String>,
}

/// The devices (live ones; this browser first, marked, and listed even when only the page is
/// signed in on it), the apps allowed, and the picture's path.
async fn gather(app: &App, visit: &Visit, ctx: &RequestContext) -> Result<Gathered, Response> {
    let uid = &visit.user.id;
    let failed = |what: &'static str| move |e: crate::ops::OpError| pages::failed(&Cause::context(what, e));
    let mut devices = Vec::new();
    let mut cursor: Option<String> = None;
    // Inactive devices are history: they are skipped, at most a few pages of them.
    for _ in 0..10 {
        let page =
            app.directory().devices(uid, cursor.as_deref(), MAX_DEVICES).await.map_err(failed("listing devices"))?;
        let this = visit.browser.device.as_ref().map(DeviceId::as_str);
        devices.extend(page.devices.into_iter().filter(|d| d.active).map(|d| DeviceRow {
            this: Some(d.device_id.as_str()) == this,
            last_seen: when(&d.last_seen),
            name: device_name(&d.browser, &d.os, &d.device, &d.device_id),
            device_id: d.device_id,
            last_ip: d.last_ip,
            apps: None,
        }));
        cursor = page.next_cursor;
        if cursor.is_none() || devices.len() >= MAX_DEVICES {
            break;
        }
    }
    let more = cursor.is_some() || devices.len() > MAX_DEVICES;
    devices.truncate(MAX_DEVICES);
    devices.sort_by_key(|d| !d.this);
    if !devices.iter().any(|d| d.this)
        && let Some(device) = &visit.browser.device
    {
        let families = portcullis_fingerprint::UserAgentFamilies::parse(ctx.user_agent.as_deref());
        devices.insert(
            0,
            DeviceRow {
                device_id: device.to_string(),
                name: device_name(&families.browser, &families.os, &families.device, device.as_str()),
                last_seen: app.tokens().now().format("%Y-%m-%d %H:%M UTC").to_string(),
                last_ip: ctx.ip.clone(),
                apps: Some("signed in to this page only"),
                this: true,
            },
        );
    }
    // Browsers signed in to this page only, elsewhere: they can act on the account too.
    let logins =
        app.tokens().browser_logins(uid).await.map_err(|e| pages::failed(&Cause::context("listing logins", e)))?;
    for login in logins {
        let Some(device) = login.device_id else { continue };
        if devices.iter().any(|d| d.device_id == device.as_str()) {
            continue;
        }
        devices.push(DeviceRow {
            device_id: device.to_string(),
            name: "Another browser".into(),
            last_seen: login.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_ip: None,
            apps: Some("signed in to this page only"),
            this: false,
        });
    }
    let consents =
        app.tokens().consents(uid).await.map_err(|e| pages::failed(&Cause::context("listing consents", e)))?;
    let mut apps = Vec::with_capacity(consents.len());
    for c in consents {
        let name = match app.directory().client(&c.client_id).await {
            Ok(client) => client.name,
            Err(crate::ops::OpError::NotFound(_)) => continue,
            Err(e) => return Err(failed("reading a client")(e)),
        };
        apps.push(AppRow {
            client_id: c.client_id.to_string(),
            name,
            scope: c.scope.to_string(),
            granted_at: c.granted_at.format("%Y-%m-%d").to_string(),
        });
    }
    let avatar = app.directory().avatar_path(uid).await.map_err(failed("reading the picture"))?;
    Ok(Gathered { devices, more, apps, avatar })
}
