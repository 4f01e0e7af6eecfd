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
    /// The app the person signs in to; `None`: the account page.
    client_name: Option<String>,
    action: String,
    /// Where a browser goes once signed in.
    back: String,
    csrf: String,
    channels: Vec<Channel>,
    /// The authorization URL asking for the sign-up page (`prompt=create`), when the client
    /// signs people up.
    signup_url: Option<String>,
}

impl Forms {
    /// The forms of the authorization request `query`, for the app `client_name`.
    pub(super) fn new(app: &App, browser: &Browser, query: Option<&str>, client_name: &str) -> Self {
        Self {
            client_name: Some(client_name.to_owned()),
            action: format!("{}?{}", paths::AUTHORIZE, query.unwrap_or("")),
            back: after_sign_in(query),
            csrf: app.tokens().csrf_token(&browser.csrf, browser.login.as_deref()),
            channels: app.tokens().browser_code_channels(),
            signup_url: None,
        }
    }

    /// With the "create an account" link (`prompt=create`, as OpenID Connect's "Initiating User
    /// Registration" names it): for a client that signs people up.
    pub(super) fn offering_signup(mut self, query: Option<&str>, signup: bool) -> Self {
        self.signup_url = signup.then(|| with_prompt(query, Some("create")));
        self
    }

    /// The sign-up page, with `error` and the username to keep.
    pub(super) fn signup(
        &self,
        status: StatusCode,
        error: Option<&str>,
        username: &str,
        query: Option<&str>,
    ) -> Response {
        render::render(
            status,
            "signup.html",
            context! {
                client_name => self.client_name, action => self.action, csrf => self.csrf, error,
                username => keep(username), min_password => portcullis_domain::password::MIN_PASSWORD_LEN,
                sign_in_url => with_prompt(query, None),
            },
        )
    }

    /// The forms of the account page's sign-in, which post to `/account`.
    pub(super) fn account(app: &App, browser: &Browser) -> Self {
        Self {
            client_name: None,
            action: paths::ACCOUNT.to_owned(),
            back: paths::ACCOUNT.to_owned(),
            csrf: app.tokens().csrf_token(&browser.csrf, browser.login.as_deref()),
            channels: app.tokens().browser_code_channels(),
            signup_url: None,
        }
    }

    /// The authorization URL (or the account page's): where the forms post.
    pub(super) fn action(&self) -> &str {
        &self.action
    }

    /// Where a browser goes once signed in: the authorization URL without what asked for the
    /// sign-in (see [`after_sign_in`]), or the account page.
    pub(super) fn back(&self) -> &str {
        &self.back
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
                signup_url => self.signup_url,
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

/// The authorization URL of `query` with its `prompt` replaced by `prompt` (or removed).
pub(super) fn with_prompt(query: Option<&str>, prompt: Option<&str>) -> String {
    rewritten(query, &["prompt"], prompt)
}

/// The authorization URL of `query` without the parameters named `drop` (compared decoded, as
/// the authorization endpoint reads them: `%70rompt` is `prompt`), then `prompt` if given.
fn rewritten(query: Option<&str>, drop: &[&str], prompt: Option<&str>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !drop.contains(&k.as_ref()) {
            out.append_pair(&k, &v);
        }
    }
    if let Some(p) = prompt {
        out.append_pair("prompt", p);
    }
    format!("{}?{}", paths::AUTHORIZE, out.finish())
}

/// The values of the request's `prompt` (decoded, space-separated).
fn prompts(query: Option<&str>) -> Vec<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "prompt")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// The authorization URL of `query` once the browser has signed in: without `max_age` and
/// without the `prompt` values that asked for the sign-in (`login`, `select_account`,
/// `create`), which would otherwise ask again; `prompt=consent` stays.
pub(super) fn after_sign_in(query: Option<&str>) -> String {
    let asks_consent = prompts(query).iter().any(|p| p == "consent");
    rewritten(query, &["prompt", "max_age"], asks_consent.then_some("consent"))
}

/// Whether the authorization request asks for the sign-up page (`prompt=create`).
pub(super) fn asks_signup(query: Option<&str>) -> bool {
    prompts(query).iter().any(|p| p == "create")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_read_parameters_decoded_as_the_endpoint_does() {
        let q = Some("client_id=c&%70rompt=login+consent&max%5Fage=0&state=a%26b");
        assert_eq!(after_sign_in(q), "/oauth2/authorize?client_id=c&state=a%26b&prompt=consent");
        assert_eq!(after_sign_in(Some("prompt=login&x=1")), "/oauth2/authorize?x=1");
        assert_eq!(with_prompt(Some("%70rompt=none&y=2"), Some("create")), "/oauth2/authorize?y=2&prompt=create");
        assert!(asks_signup(Some("%70rompt=create")) && asks_signup(Some("prompt=login%20create")));
        assert!(!asks_signup(Some("prompt=login")));
    }
}
