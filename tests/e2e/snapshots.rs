//! What clients depend on, pinned: the discovery document, the JWKS's shape, every error body
//! the token endpoint gives, and the OpenAPI document. A diff here is a change to the contract:
//! review it (`cargo insta review`) as one.

use portcullis_domain::grant::GrantType::{AuthorizationCode, ClientCredentials, Password, RefreshToken};
use portcullis_e2e::{TestClient, TestServer};
use serde_json::{Value, json};

/// `value` with this server's base URL written as `https://issuer.example`.
fn issuer_neutral(s: &TestServer, value: &Value) -> Value {
    let text = value.to_string().replace(&s.base, "https://issuer.example");
    serde_json::from_str(&text).expect("still JSON")
}

#[tokio::test]
async fn the_discovery_document() {
    let s = TestServer::start().await;
    // `scopes_supported` lists what the registered clients may ask for.
    s.client(&[ClientCredentials], "write read").await;
    s.client(&[ClientCredentials], "admin").await;
    let (status, _, doc) = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("discovery", issuer_neutral(&s, &doc));
    let (status, _, doc) = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("openid_configuration", issuer_neutral(&s, &doc));
}

#[tokio::test]
async fn the_jwks_shape() {
    let s = TestServer::start().await;
    let (status, headers, jwks) = s.get_json("/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    // The key material changes with every key; its members and their order do not.
    insta::assert_json_snapshot!("jwks", jwks, { ".keys[].kid" => "[kid]", ".keys[].n" => "[modulus]" });
}

#[tokio::test]
async fn the_openapi_document() {
    let s = TestServer::start().await;
    let (status, _, doc) = s.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("openapi", doc, { ".info.version" => "[version]" });
}

/// One refusal of the token endpoint, as a client sees it.
async fn refusal(s: &TestServer, case: &str, res: reqwest::Response) -> Value {
    let status = res.status().as_u16();
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().expect("ascii").to_owned());
    let (challenge, cache, retry) = (header("www-authenticate"), header("cache-control"), header("retry-after"));
    let body: Value = res.json().await.expect("a JSON body");
    issuer_neutral(
        s,
        &json!({"case": case, "status": status, "www_authenticate": challenge, "cache_control": cache,
            "retry_after": retry.is_some(), "body": body}),
    )
}

/// Every `error` the token endpoint can answer, each in the situation that causes it.
#[tokio::test]
async fn every_token_endpoint_error() {
    let s = TestServer::start_with(|c| c.login.max_attempts_per_user = 3).await;
    let pw = s.client(&[Password, RefreshToken], "read").await;
    let cc = s.client(&[ClientCredentials], "read").await;
    let public = s.app_client(&[AuthorizationCode, RefreshToken], "read", &["https://app.example/cb"], true).await;
    s.user("ann", "ann's long password").await;
    s.user("bob", "bob's long password").await;
    let wrong = TestClient { id: pw.id.clone(), secret: Some("pcs_wrong".into()) };
    let mut cases = Vec::new();
    let mut case = async |name: &str, res: reqwest::Response| cases.push(refusal(&s, name, res).await);

    case("no grant_type", s.token_request(&[], Some(&pw)).await).await;
    case("unknown grant_type", s.token_request(&[("grant_type", "implicit")], Some(&pw)).await).await;
    let dup = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&pw.id, pw.secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=client_credentials")
        .send()
        .await
        .expect("send");
    case("repeated parameter", dup).await;
    let json_body = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&pw.id, pw.secret.as_deref())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("send");
    case("not a form", json_body).await;
    case("wrong client secret (Basic)", s.token_request(&[("grant_type", "client_credentials")], Some(&wrong)).await)
        .await;
    let unknown = [("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "pcs_x")];
    case("unknown client (form)", s.token_request(&unknown, None).await).await;
    let both = [("grant_type", "client_credentials"), ("client_secret", "pcs_x")];
    case("Basic and the form both", s.token_request(&both, Some(&cc)).await).await;
    let password = [("grant_type", "password"), ("username", "ann"), ("password", "ann's long password")];
    case("grant not allowed for the client", s.token_request(&password, Some(&cc)).await).await;
    case(
        "scope beyond the client's",
        s.token_request(&[("grant_type", "client_credentials"), ("scope", "admin")], Some(&cc)).await,
    )
    .await;
    let bad = [("grant_type", "password"), ("username", "bob"), ("password", "not bob's password")];
    case("wrong password", s.token_request(&bad, Some(&pw)).await).await;
    for _ in 0..3 {
        s.token_request(&bad, Some(&pw)).await;
    }
    case("too many wrong passwords", s.token_request(&bad, Some(&pw)).await).await;
    case("missing username", s.token_request(&[("grant_type", "password"), ("password", "x")], Some(&pw)).await).await;
    let no_device = [("grant_type", "refresh_token"), ("refresh_token", "pcr_not-a-token")];
    case("refresh without its device", s.token_request(&no_device, Some(&pw)).await).await;
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "pcr_not-a-token"), ("device_id", "d")];
    case("unknown refresh token", s.token_request(&refresh, Some(&pw)).await).await;
    let code = [
        ("grant_type", "authorization_code"),
        ("code", "pca_not-a-code"),
        ("redirect_uri", "https://app.example/cb"),
        ("client_id", public.id.as_str()),
        ("code_verifier", "a-verifier-of-the-right-length-0123456789-abcdefghij"),
    ];
    case("unknown authorization code", s.token_request(&code, None).await).await;
    // The database gone: a generic 500 whose cause is in the log, not the body.
    s.store.connection().clone().close().await.expect("close the pool");
    let good = [("grant_type", "password"), ("username", "ann"), ("password", "ann's long password")];
    case("the database is down", s.token_request(&good, Some(&pw)).await).await;

    insta::assert_json_snapshot!("token_errors", cases);
}
