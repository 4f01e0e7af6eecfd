//! The axum extractors and layer: 401 without or with a bad token, 403 without the scope,
//! RFC 6750 challenges and JSON bodies, Bearer only unless another scheme is opted in.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use portcullis_guard::testing::FakeIssuer;
use portcullis_guard::{Authenticated, Guard, GuardLayer, RequireScopes, Revocation, Scopes};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{builder, following};

struct Read;
impl Scopes for Read {
    const SCOPES: &'static [&'static str] = &["read"];
}

struct ReadWrite;
impl Scopes for ReadWrite {
    const SCOPES: &'static [&'static str] = &["read", "write"];
}

fn app(guard: Guard) -> Router {
    Router::new()
        .route("/me", get(|Authenticated(c): Authenticated| async move { c.sub }))
        .route("/read", get(|auth: RequireScopes<Read>| async move { auth.claims().sub.clone() }))
        .route("/write", get(|auth: RequireScopes<ReadWrite>| async move { auth.into_claims().sub }))
        .route(
            "/layered",
            get(|Authenticated(c): Authenticated| async move { c.sub })
                .route_layer(GuardLayer::new(guard.clone()).require_scopes(&["write"])),
        )
        .with_state(guard)
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: Value,
}

async fn get_as(app: &Router, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(a) = authorization {
        request = request.header(header::AUTHORIZATION, a);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("response");
    let status = response.status();
    let challenge =
        response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().expect("ASCII challenge").to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, challenge, body }
}

#[tokio::test]
async fn missing_bad_and_insufficient_tokens() {
    let issuer = FakeIssuer::start().await;
    let app = app(following(&issuer).await);
    let (read_only, _) = issuer.token("user-1", "read");
    let bearer = format!("Bearer {read_only}");

    let ok = get_as(&app, "/read", Some(&bearer)).await;
    assert_eq!((ok.status, ok.body), (StatusCode::OK, Value::String("user-1".into())));

    let missing = get_as(&app, "/read", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge.as_deref(), Some("Bearer"), "no error code without credentials");
    assert_eq!(missing.body["error"], "invalid_token");

    let bad = get_as(&app, "/me", Some("Bearer not.a.token")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the access token is not a well-formed JWS""#)
    );
    assert_eq!(bad.body["error"], "invalid_token");
    assert_eq!(bad.body["error_description"], "the access token is not a well-formed JWS");

    let forbidden = get_as(&app, "/write", Some(&bearer)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let challenge = forbidden.challenge.unwrap();
    assert!(challenge.starts_with(r#"Bearer error="insufficient_scope""#), "{challenge}");
    assert!(challenge.ends_with(r#"scope="read write""#), "{challenge}");
    assert_eq!(forbidden.body["error"], "insufficient_scope");

    let (both, _) = issuer.token("user-1", "read write");
    assert_eq!(get_as(&app, "/write", Some(&format!("Bearer {both}"))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_is_401() {
    let issuer = FakeIssuer::start().await;
    let guard = following(&issuer).await;
    let app = app(guard.clone());
    let (token, c) = issuer.token("user-1", "read");
    let bearer = format!("Bearer {token}");
    assert_eq!(get_as(&app, "/read", Some(&bearer)).await.status, StatusCode::OK);
    issuer.revoke_session("user-1", c.sid.as_deref().unwrap());
    let gone = crate::support::within(std::time::Duration::from_secs(1), || async {
        get_as(&app, "/read", Some(&bearer)).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(gone.is_some());
    let answer = get_as(&app, "/read", Some(&bearer)).await;
    assert_eq!(answer.body["error_description"], "the access token has been revoked");
}

#[tokio::test]
async fn the_layer_checks_scopes_and_hands_on_the_claims() {
    let issuer = FakeIssuer::start().await;
    let app = app(builder(&issuer, Revocation::Off).build().await.unwrap());
    let (read_only, _) = issuer.token("user-1", "read");
    let (writer, _) = issuer.token("user-2", "write");
    assert_eq!(get_as(&app, "/layered", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_as(&app, "/layered", Some(&format!("Bearer {read_only}"))).await.status, StatusCode::FORBIDDEN);
    let ok = get_as(&app, "/layered", Some(&format!("Bearer {writer}"))).await;
    assert_eq!((ok.status, ok.body), (StatusCode::OK, Value::String("user-2".into())));
}

#[tokio::test]
async fn only_bearer_unless_another_scheme_is_opted_in() {
    let issuer = FakeIssuer::start().await;
    let (token, _) = issuer.token("user-1", "read");
    let strict = app(builder(&issuer, Revocation::Off).build().await.unwrap());
    let jwt = get_as(&strict, "/me", Some(&format!("JWT {token}"))).await;
    assert_eq!((jwt.status, jwt.challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer")));
    assert_eq!(get_as(&strict, "/me", Some(&format!("bearer {token}"))).await.status, StatusCode::OK);

    let lenient = app(builder(&issuer, Revocation::Off).accept_scheme("JWT").build().await.unwrap());
    assert_eq!(get_as(&lenient, "/me", Some(&format!("JWT {token}"))).await.status, StatusCode::OK);
    assert_eq!(get_as(&lenient, "/me", Some(&format!("Basic {token}"))).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_in_the_query_or_a_form_body_only_when_opted_in() {
    let issuer = FakeIssuer::start().await;
    let (token, _) = issuer.token("user-9", "read write");
    let query = format!("/me?access_token={token}");

    // Off by default: a query token is no credential at all.
    let strict = app(builder(&issuer, Revocation::Off).build().await.unwrap());
    let refused = get_as(&strict, &query, None).await;
    assert_eq!((refused.status, refused.challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer")));

    let lenient_guard =
        builder(&issuer, Revocation::Off).token_in_query(true).token_in_form_body(true).build().await.unwrap();
    let lenient = app(lenient_guard.clone());
    let ok = get_as(&lenient, &query, None).await;
    assert_eq!((ok.status, ok.body), (StatusCode::OK, Value::String("user-9".into())));
    assert_eq!(get_as(&lenient, "/read?x=1&access_token=not.a.token", None).await.status, StatusCode::UNAUTHORIZED);
    // Sent two ways: refused (RFC 6750 §2), even when both are the same token.
    let twice = get_as(&lenient, &query, Some(&format!("Bearer {token}"))).await;
    assert_eq!(twice.status, StatusCode::UNAUTHORIZED);
    assert!(twice.body["error_description"].as_str().expect("description").contains("more than one way"));
    let two_params = get_as(&lenient, &format!("{query}&access_token={token}"), None).await;
    assert_eq!(two_params.status, StatusCode::UNAUTHORIZED);

    // A form body, read by the layer, which hands the body on unchanged.
    let form_app = Router::new()
        .route(
            "/submit",
            axum::routing::post(
                |Authenticated(c): Authenticated, body: String| async move { format!("{} {body}", c.sub) },
            )
            .route_layer(GuardLayer::new(lenient_guard.clone())),
        )
        .with_state(lenient_guard.clone());
    let post = |content_type: &'static str, body: String| {
        let request = Request::post("/submit").header(header::CONTENT_TYPE, content_type).body(Body::from(body));
        let app = form_app.clone();
        async move {
            let response = app.oneshot(request.expect("request")).await.expect("response");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let form = format!("note=hi&access_token={token}");
    let (status, echoed) = post("application/x-www-form-urlencoded", form.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, format!("user-9 {form}"), "the handler reads the same body");
    let (status, _) = post("text/plain", form.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "only a form-encoded body carries a token");
    let strict_guard = builder(&issuer, Revocation::Off).build().await.unwrap();
    let strict_form = Router::new()
        .route(
            "/submit",
            axum::routing::post(|Authenticated(c): Authenticated| async move { c.sub })
                .route_layer(GuardLayer::new(strict_guard.clone())),
        )
        .with_state(strict_guard);
    let request = Request::post("/submit")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    assert_eq!(strict_form.oneshot(request).await.expect("response").status(), StatusCode::UNAUTHORIZED);
}
