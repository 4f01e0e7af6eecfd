//! The HTML pages of the authorization endpoint (minijinja, templates compiled in), and the
//! headers every such page carries.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};

/// The templates: constant data, parsed once.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `.html` names turn on HTML auto-escaping.
    for (name, source) in [
        ("base.html", include_str!("../../../templates/base.html")),
        ("login.html", include_str!("../../../templates/login.html")),
        ("code.html", include_str!("../../../templates/code.html")),
        ("consent.html", include_str!("../../../templates/consent.html")),
        ("error.html", include_str!("../../../templates/error.html")),
        ("account.html", include_str!("../../../templates/account.html")),
        ("signup.html", include_str!("../../../templates/signup.html")),
        ("logout.html", include_str!("../../../templates/logout.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(error = %portcullis_domain::error::Chain(&e), name, "template does not parse");
        }
    }
    env
});

/// Renders `name` with `ctx` as an HTML response with `status`.
pub(super) fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    let body = TEMPLATES.get_template(name).and_then(|t| t.render(ctx));
    let mut res = match body {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %portcullis_domain::error::Chain(&e), name, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"))
                .into_response()
        }
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
        ),
    );
    res
}

/// The 500 page; `cause` goes to the log (once, here at the edge), never to the page.
pub(super) fn failed(cause: &portcullis_domain::error::Cause) -> Response {
    tracing::error!(cause = %cause.chain(), "request failed inside the server");
    error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Please try again.")
}

/// A 303 to `location`, not to be cached (a redirect of these pages carries a code, a state or
/// a notice); the 500 page if `location` cannot be a header value.
pub(super) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => failed(&portcullis_domain::error::Cause::context("a redirect is not a header value", e)),
    }
}

/// The page for a form body that does not parse.
pub(super) fn unreadable_form() -> Response {
    error(StatusCode::BAD_REQUEST, "The form could not be read. Please go back and try again.")
}

/// The error page: for requests that must not be redirected anywhere.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    render(status, "error.html", minijinja::context! { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes() {
        for name in
            ["login.html", "code.html", "consent.html", "error.html", "account.html", "signup.html", "logout.html"]
        {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
        let html = TEMPLATES
            .get_template("error.html")
            .and_then(|t| t.render(minijinja::context! { message => "<script>x</script>" }))
            .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>x"));
        assert!(html.contains(r#"<html lang="en">"#));
    }
}
