//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0): an app sends the browser
//! here to sign it out. With an ID token hint naming who is signed in, the browser is signed
//! out at once; without one (or naming someone else) the person confirms first, so that a link
//! on another site cannot sign them out. A hint acts only on its own browser
//! (`TokenService::plan_logout`). Then back to a registered `post_logout_redirect_uri` with
//! `state`, or a "signed out" page that says whether anything was signed in.

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use portcullis_domain::error::Cause;
use portcullis_oauth::logout::{EndSession, EndSessionError, EndSessionParams, LogoutPlan};
use serde::Deserialize;

use super::cookies::{Browser, logged_in};
use super::render as pages;
use crate::app::App;
use crate::http::paths;

/// Longest parameter read (an ID token hint is at most 8 KiB, as every token).
const MAX_PARAM: usize = 8 * 1024;

/// The end-session request's parameters, and the confirmation form's fields.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct LogoutForm {
    /// An ID token this server issued to the app: whom it believes is signed in.
    id_token_hint: Option<String>,
    client_id: Option<String>,
    /// Registered for the client (exact match): where the browser goes afterwards.
    post_logout_redirect_uri: Option<String>,
    /// Sent back with the browser, unchanged.
    state: Option<String>,
    /// OpenID Connect's; accepted and unused (the pages are in English).
    #[serde(rename = "ui_locales")]
    _ui_locales: Option<String>,
    /// OpenID Connect's; accepted and unused (one person is signed in per browser).
    #[serde(rename = "logout_hint")]
    _logout_hint: Option<String>,
    /// The confirmation form's CSRF token.
    #[serde(default)]
    csrf: String,
    /// The confirmation form's button: `logout` or `stay`.
    #[serde(default)]
    action: String,
}

impl LogoutForm {
    /// The parameters, or `None` when one is too long.
    fn params(&self) -> Option<EndSessionParams> {
        let fields = [&self.id_token_hint, &self.client_id, &self.post_logout_redirect_uri, &self.state];
        if fields.iter().any(|f| f.as_ref().is_some_and(|v| v.len() > MAX_PARAM)) {
            return None;
        }
        let keep = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Some(EndSessionParams {
            id_token_hint: keep(&self.id_token_hint),
            client_id: keep(&self.client_id),
            post_logout_redirect_uri: keep(&self.post_logout_redirect_uri),
            state: keep(&self.state),
        })
    }
}

/// An app signs the browser out (the parameters in the query).
#[utoipa::path(get, path = crate::http::paths::END_SESSION, tag = "oauth2", params(LogoutForm),
    responses(
        (status = 200, description = "The confirmation page (no hint, or a hint naming someone else), or \"signed out\"", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out: to the registered post_logout_redirect_uri, with state"),
        (status = 400, description = "A hint this server did not issue, an unregistered post_logout_redirect_uri, or a client_id that is not the hint's audience: an error page", body = String, content_type = "text/html"),
    ))]
pub async fn get(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<LogoutForm>, QueryRejection>,
) -> Response {
    let Ok(Query(form)) = query else {
        return pages::error(StatusCode::BAD_REQUEST, "This sign-out request is malformed.");
    };
    end_session(&app, &headers, form, false).await
}

/// The same with the parameters in a form, and the confirmation page's answer.
#[utoipa::path(post, path = crate::http::paths::END_SESSION, tag = "oauth2",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The confirmation page, \"signed out\", or \"still signed in\"", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out: to the registered post_logout_redirect_uri, with state"),
        (status = 400, description = "A bad request or CSRF token: an error page", body = String, content_type = "text/html"),
    ))]
pub async fn post(
    State(app): State<App>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return pages::error(StatusCode::BAD_REQUEST, "This sign-out request is malformed.");
    };
    end_session(&app, &headers, form, true).await
}

async fn end_session(app: &App, headers: &HeaderMap, form: LogoutForm, posted: bool) -> Response {
    let Some(params) = form.params() else {
        return pages::error(StatusCode::BAD_REQUEST, "A parameter of this sign-out request is too long.");
    };
    let request = match app.tokens().end_session_request(&params).await {
        Ok(r) => r,
        Err(EndSessionError::Refused(why)) => return pages::error(StatusCode::BAD_REQUEST, why),
        Err(EndSessionError::Store(e)) => return pages::failed(&Cause::context("checking a logout's client", e)),
    };
    let mut browser = Browser::read(app, headers);
    let signed_in = match logged_in(app, &browser).await {
        Ok(user) => user.map(|(user, _)| user),
        Err(res) => return res,
    };
    let answered = posted && !form.action.is_empty();
    if answered && let Some(res) = browser.csrf_refusal(app, &form.csrf) {
        return browser.finish(res);
    }
    let client_name = request.client.as_ref().map(|c| c.name.clone());
    if answered && form.action == "stay" {
        return pages::render(StatusCode::OK, "logout.html", context! { stayed => true, client_name });
    }
    let plan = match app.tokens().plan_logout(&request, signed_in.as_ref(), browser.device.as_ref()).await {
        Ok(plan) => plan,
        Err(e) => return pages::failed(&Cause::context("deciding a logout", e)),
    };
    if !answered && plan.confirm {
        browser.ensure_csrf();
        let csrf = app.tokens().csrf_token(&browser.csrf, browser.login.as_deref());
        let res = pages::render(
            StatusCode::OK,
            "logout.html",
            context! {
                client_name, action => paths::END_SESSION, csrf,
                id_token_hint => params.id_token_hint, client_id => params.client_id,
                post_logout_redirect_uri => params.post_logout_redirect_uri, state => params.state,
            },
        );
        return browser.finish(res);
    }
    let res = sign_out(app, &mut browser, &request, &plan).await;
    browser.finish(res)
}

/// Ends what the request covers, clears the login cookie, and says so.
async fn sign_out(app: &App, browser: &mut Browser, request: &EndSession, plan: &LogoutPlan) -> Response {
    let ended = plan.ends_anything(browser.login.is_some());
    if let Err(e) = app.control().log_browser_out(plan, browser.login.as_deref(), browser.device.as_ref()).await {
        return pages::failed(&Cause::context("signing a browser out", e));
    }
    if browser.login.is_some() {
        browser.signed_out();
    }
    match &request.redirect {
        Some(url) => pages::see_other(url.as_str()),
        None => {
            let client_name = request.client.as_ref().map(|c| c.name.clone());
            pages::render(StatusCode::OK, "logout.html", context! { done => true, ended, client_name })
        }
    }
}
