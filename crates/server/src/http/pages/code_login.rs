//! The login page's one-time-code forms (`otp.browser_login`): "send me a code" shows the code
//! page, and the code page's form signs the browser in. The codes, their limits, their tries
//! and sign-up are the OTP grant's own (`TokenService::browser_send_code`,
//! `browser_code_login`), so the page is no easier a way in than `POST /oauth2/otp`.

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_oauth::{OAuthError, RequestContext};

use super::cookies::Browser;
use super::login_pages::{Forms, refused};
use super::render as pages;
use crate::app::App;

/// `action=send_code`: sends a code to what the person typed, then the code page. The page
/// reads the same whether or not an account has that destination.
pub(super) async fn send(app: &App, forms: &Forms, typed: &str, client_id: &str, ctx: &RequestContext) -> Response {
    match app.tokens().browser_send_code(typed, client_id, ctx).await {
        Ok((to, sent)) => forms.code(StatusCode::OK, to.address(), Some(sent), None),
        Err(OAuthError::Server(cause)) => pages::failed(&cause),
        // The destination itself is wrong: back to the form it was typed into.
        Err(e @ OAuthError::InvalidRequest(_)) => {
            refused(&e, forms.login(StatusCode::OK, None, Some((e.description(), typed))))
        }
        // A limit or a sender down: the code page, where a code sent before still works.
        Err(e) => refused(&e, forms.code(StatusCode::OK, typed.trim(), None, Some(e.description()))),
    }
}

/// `action=code_login`: tries the code; right, the browser is signed in (a login cookie, a
/// new CSRF cookie, back to the authorization URL); wrong, the code page again with why.
pub(super) async fn verify(
    app: &App,
    browser: &mut Browser,
    forms: &Forms,
    (typed, code): (&str, &str),
    client_id: &str,
    ctx: &RequestContext,
) -> Response {
    let device = browser.device();
    match app.tokens().browser_code_login(typed, code, client_id, &device, ctx).await {
        Ok(done) => browser.signed_in(&done, forms.back()),
        Err(OAuthError::Server(cause)) => pages::failed(&cause),
        Err(e @ OAuthError::InvalidRequest(_)) => {
            refused(&e, forms.login(StatusCode::OK, None, Some((e.description(), typed))))
        }
        Err(e) => refused(&e, forms.code(StatusCode::OK, typed.trim(), None, Some(e.description()))),
    }
}
