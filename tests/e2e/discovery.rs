//! Discovery metadata, JWKS, OpenAPI and the operations endpoints.

use portcullis_e2e::TestServer;

#[tokio::test]
async fn metadata_names_every_endpoint() {
    let s = TestServer::start().await;
    let (status, _, m) = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(status, 200);
    assert_eq!(m["issuer"], s.base);
    assert_eq!(m["token_endpoint"], s.url("/oauth2/token"));
    assert_eq!(m["jwks_uri"], s.url("/.well-known/jwks.json"));
    assert_eq!(m["introspection_endpoint"], s.url("/oauth2/introspect"));
    for key in ["revocation_endpoint", "authorization_endpoint", "scopes_supported", "response_types_supported"] {
        assert!(m.get(key).is_some(), "metadata lacks {key}");
    }
    assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    let grants = m["grant_types_supported"].as_array().expect("array");
    assert!(grants.contains(&"password".into()) && grants.contains(&"client_credentials".into()));
}

#[tokio::test]
async fn jwks_is_cacheable_rs256_only() {
    let s = TestServer::start().await;
    let (status, headers, jwks) = s.get_json("/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!((k["kty"].as_str(), k["use"].as_str(), k["alg"].as_str()), (Some("RSA"), Some("sig"), Some("RS256")));
    assert_eq!(k["kid"], portcullis_e2e::keys::test_key().kid);
    assert!(k.get("d").is_none() && k.get("p").is_none(), "no private member may leak");
    assert_eq!(k.as_object().expect("object").len(), 6, "exactly kty kid use alg n e: {k}");
}

#[tokio::test]
async fn operations_endpoints() {
    let s = TestServer::start().await;
    assert_eq!(s.get_json("/healthz").await.0, 200);
    let (status, _, ready) = s.get_json("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["database"], "up");
    // Traffic shows up in the metrics.
    let c = s.client(&[portcullis_domain::grant::GrantType::ClientCredentials], "").await;
    s.client_token(&c, None).await;
    let text = s.http.get(s.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(text.contains("portcullis_http_requests_total"), "{text}");
    assert!(text.contains(r#"grant="client_credentials",outcome="issued""#), "{text}");
    assert!(text.contains("portcullis_token_issue_seconds_bucket"), "{text}");
    let (status, _, api) = s.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(api["openapi"].as_str().expect("version").starts_with("3."));
    // The document and the router come from one declaration: every operation the document
    // names is served (no fallback 404, no 405), whatever the answer to an empty request is.
    let paths = api["paths"].as_object().expect("paths");
    assert!(paths.len() >= 25, "{} paths", paths.len());
    for (path, ops) in paths {
        let concrete = path.replace('{', "x").replace('}', "");
        for method in ops.as_object().expect("operations").keys() {
            if path == "/oauth2/revocation-feed" {
                continue; // a stream; served, as the feed tests show
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let res = s.http.request(method.clone(), s.url(&concrete)).send().await.expect("answered");
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            assert!(
                status != 405 && !body.contains("no such endpoint"),
                "{method} {path} is documented, not served: {status}"
            );
        }
    }
    let form = &api["paths"]["/oauth2/authorize"]["post"]["requestBody"]["content"];
    assert!(form.get("application/x-www-form-urlencoded").is_some(), "the form post is described: {form}");
}

#[tokio::test]
async fn readyz_reports_a_dead_database() {
    let s = TestServer::start().await;
    s.store.connection().clone().close().await.expect("close pool");
    let (status, _, body) = s.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["database"], "down");
}

#[tokio::test]
async fn unknown_paths_are_json_404() {
    let s = TestServer::start().await;
    let (status, _, body) = s.get_json("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    assert!(body["error_description"].is_string());
}

/// A query that does not parse (a repeated parameter, a limit that is not a number) gets the RFC
/// JSON 400, not a plain-text rejection; so does a login form that is not a form.
#[tokio::test]
async fn malformed_queries_and_forms_get_a_clear_400() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    for query in ["limit=5&limit=6", "limit=ten", "limit=0", "cursor=1&cursor=2"] {
        let res =
            s.http.get(s.url(&format!("/admin/users?{query}"))).bearer_auth(&admin).send().await.expect("answered");
        assert_eq!(res.status(), 400, "{query}");
        assert_eq!(res.headers()["content-type"], "application/json", "{query}");
        let body: serde_json::Value = res.json().await.expect("JSON");
        assert_eq!(body["error"], "invalid_request", "{query}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{query}: {body}");
    }
    // The cursor's bound is in characters, as the document says (the fuzzer found it in bytes).
    let wide = "é".repeat(256);
    let res = s.http.get(s.url("/admin/users")).query(&[("cursor", &wide)]).bearer_auth(&admin).send().await;
    assert_eq!(res.expect("answered").status(), 200, "256 characters are a valid cursor");
    let res = s.http.post(s.url("/oauth2/authorize")).body("not a form").send().await.expect("answered");
    assert_eq!(res.status(), 400);
    assert!(res.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
}

#[tokio::test]
async fn scopes_supported_are_the_registered_clients_scopes_and_openid_connects() {
    use portcullis_domain::grant::GrantType::ClientCredentials;
    let s = TestServer::start().await;
    s.client(&[ClientCredentials], "orders:read orders:write").await;
    s.client(&[ClientCredentials], "orders:read profile").await;
    let (_, _, m) = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(
        m["scopes_supported"],
        serde_json::json!(["email", "openid", "orders:read", "orders:write", "phone", "profile"])
    );
}

/// Discovery is what a resource server's guard reads at start: a database that is down does not
/// fail it (the last list of scopes is served), and many requests at once read the scopes once.
#[tokio::test]
async fn discovery_survives_a_dead_database() {
    use portcullis_domain::grant::GrantType::ClientCredentials;
    let clock = std::sync::Arc::new(portcullis_domain::clock::ManualClock::from_system());
    let s = TestServer::start_with_clock(clock).await;
    s.client(&[ClientCredentials], "orders:read").await;
    let fetches = (0..20).map(|_| s.get_json("/.well-known/oauth-authorization-server"));
    for (status, _, m) in futures::future::join_all(fetches).await {
        assert_eq!(status, 200);
        assert_eq!(m["scopes_supported"], serde_json::json!(["email", "openid", "orders:read", "phone", "profile"]));
    }
    s.store.connection().clone().close().await.expect("close pool");
    // Past the cache's 10 s: the scopes must be read again, and cannot be.
    s.manual_clock().advance(chrono::Duration::seconds(11));
    let (status, _, m) = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m["scopes_supported"],
        serde_json::json!(["email", "openid", "orders:read", "phone", "profile"]),
        "the last list"
    );
}

/// Every JSON body ends with a newline (what `curl` users expect), the success bodies and the
/// error bodies alike, and its Content-Length counts it.
#[tokio::test]
async fn json_bodies_end_with_a_newline() {
    let s = TestServer::start().await;
    for path in ["/readyz", "/healthz", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/nope"] {
        let res = s.http.get(s.url(path)).send().await.expect("sent");
        let length = res.content_length();
        let body = res.bytes().await.expect("body");
        assert!(body.ends_with(b"}\n"), "{path}: {:?}", String::from_utf8_lossy(&body));
        if let Some(length) = length {
            assert_eq!(length as usize, body.len(), "{path}");
        }
    }
    let res = s.post_form("/oauth2/token", &[("grant_type", "nope")], None, &[]).await;
    assert_eq!(res.status(), 400);
    assert!(res.bytes().await.expect("body").ends_with(b"}\n"));
}
