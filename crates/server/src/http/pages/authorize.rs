//! `GET /oauth2/authorize` and the login and consent forms it shows (posted back to the same
//! URL). The cookies they rely on are [`super::cookies`]'; the sign-in pages,
//! [`super::login_pages`].

use axum::Extension;
use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use portcullis_domain::error::Cause;
use portcullis_oauth::authorize::{AuthorizeError, AuthorizeRequest, Authorized, Decision, Prompt};
use portcullis_oauth::{OAuthError, RequestContext};
use serde::Deserialize;

use super::code_login;
use super::cookies::{Browser, logged_in};
use super::login_pages::{Forms, asks_signup, refused};
use super::render as pages;
use crate::app::App;
use crate::http::oauth::token::context;

/// What the login and consent forms post.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PageForm {
    /// The form's hidden CSRF field.
    #[serde(default)]
    pub(super) csrf: String,
    /// `login` (password), `send_code`, `code_login`, `signup`, `allow` or `deny`.
    #[serde(default)]
    pub(super) action: String,
    /// With `login`.
    #[serde(default)]
    pub(super) username: String,
    /// With `login`.
    #[serde(default)]
    pub(super) password: String,
    /// With `send_code` and `code_login`: a phone number or an email address.
    #[serde(default)]
    pub(super) destination: String,
    /// With `code_login`: the 6 digits.
    #[serde(default)]
    pub(super) code: String,
    /// With `signup`: the password again.
    #[serde(default)]
    pub(super) confirm_password: String,
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
    let res = answer(&app, &browser, query.as_deref(), outcome);
    browser.finish(res)
}

/// The login and consent forms, posted to the authorization URL itself (same query string).
/// For browsers only: it needs the CSRF cookie set by `GET /oauth2/authorize`.
#[utoipa::path(post, path = crate::http::paths::AUTHORIZE, tag = "oauth2",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "action=send_code: the code page (the same whether or not an account has the destination)", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in (password or code): back to GET /oauth2/authorize; or, after allow or deny, to the client with code and state or an RFC 6749 §4.1.2.1 error"),
        (status = 400, description = "Missing or wrong CSRF token, unknown action, an unreadable form, a malformed phone number or email address, or a bad client or redirect URI", body = String, content_type = "text/html"),
        (status = 401, description = "Wrong username or password, or a wrong, expired, used or dead code: the page again, with the error", body = String, content_type = "text/html"),
        (status = 429, description = "Too many failed sign-ins, codes or code tries: the page again, with the error and Retry-After", body = String, content_type = "text/html"),
        (status = 503, description = "The code could not be sent, or the server is too busy to check a password: the page again, with Retry-After", body = String, content_type = "text/html"),
    ))]
pub async fn submit(
    State(app): State<App>,
    Extension(client): Extension<crate::http::client_addr::ClientAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    form: Result<Form<PageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return pages::unreadable_form();
    };
    let req = AuthorizeRequest::from_query(query.as_deref().unwrap_or(""));
    let mut browser = Browser::read(&app, &headers);
    if let Some(res) = browser.csrf_refusal(&app, &form.csrf) {
        return browser.finish(res);
    }
    let res = match form.action.as_str() {
        "login" | "send_code" | "code_login" | "signup" => {
            sign_in(&app, &mut browser, &req, query.as_deref(), &form, &context(client, &headers)).await
        }
        "allow" | "deny" => {
            let decision = if form.action == "allow" { Decision::Allow } else { Decision::Deny };
            match logged_in(&app, &browser).await {
                Ok(user) => {
                    let device = browser.device.clone();
                    let outcome = app.tokens().authorize(&req, user.as_ref(), decision, device).await;
                    answer(&app, &browser, query.as_deref(), outcome)
                }
                Err(res) => res,
            }
        }
        _ => pages::error(StatusCode::BAD_REQUEST, "Unknown form action."),
    };
    browser.finish(res)
}

/// The login page's forms: the request is checked first (a bad one gets its error, not a login),
/// then the password or the code.
async fn sign_in(
    app: &App,
    browser: &mut Browser,
    req: &AuthorizeRequest,
    query: Option<&str>,
    form: &PageForm,
    ctx: &RequestContext,
) -> Response {
    let outcome = app.tokens().authorize(req, None, Decision::None, None).await;
    let prompt = match outcome {
        Ok(Authorized::Login(prompt)) => prompt,
        other => return answer(app, browser, query, other),
    };
    let forms = Forms::new(app, browser, query, &prompt.client_name).offering_signup(query, prompt.signup);
    let client_id = req.client_id().unwrap_or_default();
    match form.action.as_str() {
        "signup" if prompt.signup => signup(app, browser, &forms, form, (client_id, query), ctx).await,
        "signup" => pages::error(StatusCode::BAD_REQUEST, "This app does not create accounts."),
        "send_code" => code_login::send(app, &forms, &form.destination, client_id, ctx).await,
        "code_login" => code_login::verify(app, browser, &forms, (&form.destination, &form.code), client_id, ctx).await,
        _ => password_login(app, browser, &forms, form, client_id, ctx).await,
    }
}

/// The password form: right, the browser is signed in and sent back to the forms' URL (the
/// authorization URL, or `/account`); wrong, the login page again with why.
pub(super) async fn password_login(
    app: &App,
    browser: &mut Browser,
    forms: &Forms,
    form: &PageForm,
    client_id: &str,
    ctx: &RequestContext,
) -> Response {
    let device = browser.device();
    match app.tokens().browser_login(&form.username, &form.password, client_id, &device, ctx).await {
        Ok(done) => browser.signed_in(&done, forms.back()),
        Err(OAuthError::Server(cause)) => pages::failed(&cause),
        Err(e) => refused(&e, forms.login(StatusCode::OK, Some((e.description(), &form.username)), None)),
    }
}

/// `action=signup` (the client signs people up): the per-address count first, then the
/// username and password checked as `POST /signup` checks them, the account made and this
/// browser signed in to it; back to the authorization URL (without `prompt=create`), which goes
/// on to consent.
async fn signup(
    app: &App,
    browser: &mut Browser,
    forms: &Forms,
    form: &PageForm,
    (client_id, query): (&str, Option<&str>),
    ctx: &RequestContext,
) -> Response {
    let again = |status: StatusCode, why: &str| forms.signup(status, Some(why), &form.username, query);
    let per_hour = app.config().account.max_signups_per_ip;
    if let Err(e) = app.tokens().browser_signup_gate(ctx, per_hour).await {
        return match e {
            OAuthError::Server(cause) => pages::failed(&cause),
            e => refused(&e, again(StatusCode::OK, e.description())),
        };
    }
    if form.password != form.confirm_password {
        return again(StatusCode::BAD_REQUEST, "The two passwords differ. Type the same password twice.");
    }
    if let Err(e) = crate::http::me::account::check_chosen_username(&form.username) {
        return again(e.status, &e.description);
    }
    let new = crate::ops::NewUser {
        username: form.username.clone(),
        password: Some(portcullis_domain::secret::Secret::new(form.password.clone())),
        phone: None,
        email: None,
    };
    let user = match app.directory().create_user(new, &format!("signup:{client_id}")).await {
        Ok(user) => user,
        Err(crate::ops::OpError::Conflict(_)) => {
            return again(StatusCode::CONFLICT, "That username is taken. Choose another.");
        }
        Err(e) => {
            let e = crate::http::error::ApiError::from(e);
            if e.status.is_server_error() {
                return pages::failed(&e.cause.unwrap_or_else(|| Cause::msg(e.description)));
            }
            return again(e.status, &e.description);
        }
    };
    let device = browser.device();
    match app.tokens().browser_new_account(&user.id, client_id, &device, ctx).await {
        Ok(done) => browser.signed_in(&done, forms.back()),
        Err(OAuthError::Server(cause)) => pages::failed(&cause),
        Err(e) => refused(&e, forms.login(StatusCode::OK, Some((e.description(), &form.username)), None)),
    }
}

/// Maps the outcome of an authorization request to a redirect or a page.
fn answer(app: &App, browser: &Browser, query: Option<&str>, outcome: Result<Authorized, AuthorizeError>) -> Response {
    match outcome {
        Ok(Authorized::Redirect(url)) => pages::see_other(url.as_str()),
        Ok(Authorized::Login(Prompt { client_name, signup, login_hint, .. })) => {
            let forms = Forms::new(app, browser, query, &client_name).offering_signup(query, signup);
            if signup && asks_signup(query) {
                forms.signup(StatusCode::OK, None, "", query)
            } else {
                forms.login(StatusCode::OK, login_hint.as_deref().map(|hint| ("", hint)), None)
            }
        }
        Ok(Authorized::Consent { prompt, .. }) => {
            let forms = Forms::new(app, browser, query, &prompt.client_name);
            let scopes: Vec<String> = prompt.scope.iter().map(str::to_owned).collect();
            pages::render(
                StatusCode::OK,
                "consent.html",
                context! {
                    client_name => prompt.client_name, account_url => crate::http::paths::ACCOUNT,
                    origin => prompt.redirect_origin, scopes, action => forms.action(), csrf => forms.csrf()
                },
            )
        }
        Err(AuthorizeError::BadRequest(why)) => pages::error(StatusCode::BAD_REQUEST, &why),
        Err(AuthorizeError::Server(cause)) => pages::failed(&cause),
    }
}
