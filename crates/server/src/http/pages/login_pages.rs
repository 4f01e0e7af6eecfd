//! The pages that sign a person in: the login page (the password form and, with
//! `otp.browser_login`, the "sign in with a code" form) and the code page that follows a send.
//! Both post back to the authorization URL with the CSRF token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use minijinja::context;
use portcullis_domain::otp::Channel;
use portcullis_oauth::OAuthError;
use portcullis_oauth::grants::send_code::CodeSent;

use super::cookies::Browser;
use super::render;
use crate::app::App;
use crate::http::paths;

/// What every form of these pages carries: where it posts, its CSRF token, the app's name and
/// the channels codes go out on (none: no code form).
pub(super) struct Forms {
    client_name: String,
    action: String,
    csrf: String,
    channels: Vec<Channel>,
}

impl Forms {
    pub(super) fn new(app: &App, browser: &Browser, query: Option<&str>, client_name: &str) -> Self {
        Self {
            client_name: client_name.to_owned(),
            action: format!("{}?{}", paths::AUTHORIZE, query.unwrap_or("")),
            csrf: app.tokens().csrf_token(&browser.csrf, browser.login.as_deref()),
            channels: app.tokens().browser_code_channels(),
        }
    }

    /// The authorization URL: where the forms post, and where a signed-in browser goes back to.
    pub(super) fn action(&self) -> &str {
        &self.action
    }

    /// The CSRF token the forms carry.
    pub(super) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The login page; `password` is the password form's error and the username to keep,
    /// `code` the code form's error and the destination to keep.
    pub(super) fn login(
        &self,
        status: StatusCode,
        password: Option<(&str, &str)>,
        code: Option<(&str, &str)>,
    ) -> Response {
        let (error, username) = password.unwrap_or_default();
        let (code_error, destination) = code.unwrap_or_default();
        let (label, autocomplete, inputmode) = match self.channels.as_slice() {
            [Channel::Sms] => ("Phone number, with its country code", "tel", "tel"),
            [Channel::Email] => ("Email address", "email", "email"),
            _ => ("Phone number (with its country code) or email address", "username", "text"),
        };
        render::render(
            status,
            "login.html",
            context! {
                client_name => self.client_name, action => self.action, csrf => self.csrf, error,
                username => keep(username), codes => !self.channels.is_empty(), code_error,
                destination => keep(destination), destination_label => label, autocomplete, inputmode,
            },
        )
    }

    /// The code page for `destination` (as the server normalised it): after a send (`sent`),
    /// or again with the `error` of a try or a resend.
    pub(super) fn code(
        &self,
        status: StatusCode,
        destination: &str,
        sent: Option<CodeSent>,
        error: Option<&str>,
    ) -> Response {
        let minutes = sent.map(|s| s.expires_in.div_ceil(60));
        render::render(
            status,
            "code.html",
            context! {
                client_name => self.client_name, action => self.action, csrf => self.csrf,
                destination => keep(destination), minutes, error,
            },
        )
    }
}

/// At most 256 characters of what the person typed, to show it back.
fn keep(typed: &str) -> String {
    typed.chars().take(256).collect()
}

/// The status a refused sign-in is shown with, and its `Retry-After` where it has one.
pub(super) fn refused(e: &OAuthError, mut res: Response) -> Response {
    *res.status_mut() = match e {
        OAuthError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        OAuthError::Busy { .. } | OAuthError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNAUTHORIZED,
    };
    if let Some(secs) = e.retry_after() {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}
