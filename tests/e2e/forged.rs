//! Introspection, and forged tokens: `alg: none`, HS256 keyed with the public key, a foreign
//! RSA key, tampered claims, wrong type, issuer, audience, expiry — all inactive.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_domain::grant::GrantType::{ClientCredentials, Password};
use portcullis_domain::ports::SessionRepo;
use portcullis_e2e::TestServer;
use portcullis_e2e::keys::test_key;
use portcullis_tokens::keyfile::KeyFile;
use serde_json::{Value, json};

use crate::jwt::parts;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// Signs `header.claims` with an RSA key (PKCS#1 DER).
fn rs256(header: &Value, claims: &Value, der: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let pair = RsaKeyPair::from_der(der).expect("key");
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test]
async fn genuine_tokens_are_active_and_forgeries_are_not() {
    let s = TestServer::start().await;
    let introspector = s.resource_server().await;
    let c = s.client(&[ClientCredentials, Password], "read admin").await;
    let real = s.client_token(&c, Some("read")).await["access_token"].as_str().expect("token").to_owned();

    let live = s.introspect(&introspector, &real).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["client_id"], c.id);
    assert_eq!(live["scope"], "read");
    assert_eq!(live["token_type"], "Bearer");

    let (header, claims) = parts(&real);
    let key = test_key();
    let mut forged = Vec::new();

    // alg none.
    let none_header = json!({"alg": "none", "typ": "at+jwt", "kid": key.kid});
    forged.push(("alg none", format!("{}.{}.", b64(&none_header), b64(&claims))));
    // HS256 keyed with the public key, in every form an attacker might try.
    let hs_header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid});
    let (_, _, jwks) = s.get_json("/.well-known/jwks.json").await;
    for secret in [
        serde_json::to_vec(&jwks["keys"][0]).expect("jwk"),
        key.jwk.n.clone().into_bytes(),
        URL_SAFE_NO_PAD.decode(&key.jwk.n).expect("n"),
    ] {
        forged.push(("HS256 with the public key", hs256(&hs_header, &claims, &secret)));
    }
    // A foreign RSA key claiming our kid.
    let foreign = KeyFile::generate().expect("keygen");
    forged.push(("foreign key", rs256(&header, &claims, &foreign.der)));
    // Tampered claims under the genuine signature.
    let mut escalated = claims.clone();
    escalated["scope"] = json!("read admin");
    let sig = real.rsplit('.').next().expect("sig");
    forged.push(("tampered claims", format!("{}.{}.{sig}", b64(&header), b64(&escalated))));
    // Properly signed with our key, but wrong in a claim or the type.
    let mut t = claims.clone();
    t["iss"] = json!("http://evil.example");
    forged.push(("wrong iss", rs256(&header, &t, &key.der)));
    let mut t = claims.clone();
    t["aud"] = json!("another-api");
    forged.push(("wrong aud", rs256(&header, &t, &key.der)));
    let mut t = claims.clone();
    t["exp"] = json!(t["iat"].as_i64().expect("iat") - 10);
    forged.push(("expired", rs256(&header, &t, &key.der)));
    let mut t = claims.clone();
    t["nbf"] = json!(t["iat"].as_i64().expect("iat") + 3600);
    forged.push(("not yet valid", rs256(&header, &t, &key.der)));
    let jwt_typ = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    forged.push(("typ JWT", rs256(&jwt_typ, &claims, &key.der)));
    let no_kid = json!({"alg": "RS256", "typ": "at+jwt"});
    forged.push(("no kid", rs256(&no_kid, &claims, &key.der)));
    forged.push(("garbage", "not.a.jwt".to_owned()));
    forged.push(("long garbage", "a".repeat(4000)));

    for (what, token) in forged {
        let answer = s.introspect(&introspector, &token).await;
        assert_eq!(answer, json!({"active": false}), "{what} must be inactive");
    }
    // Past the parameter bound, the request itself is refused.
    let huge = "a".repeat(9000);
    let res = s.post_form("/oauth2/introspect", &[("token", &huge)], Some(&introspector), &[]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_request");
}

#[tokio::test]
async fn introspection_requires_a_confidential_client() {
    let s = TestServer::start().await;
    let public = s.public_client(&[Password], "").await;
    let res = s.post_form("/oauth2/introspect", &[("token", "x"), ("client_id", &public.id)], None, &[]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_client");
    let res = s.post_form("/oauth2/introspect", &[("token", "x")], None, &[]).await;
    assert_eq!(res.status(), 401);
    // A confidential client that is not a resource server may not scan tokens (RFC 7662 §2.1).
    let app = s.client(&[ClientCredentials], "").await;
    let res = s.post_form("/oauth2/introspect", &[("token", "x")], Some(&app), &[]).await;
    assert_eq!(res.status(), 403);
    let body = res.json::<Value>().await.expect("json");
    assert_eq!(body["error"], "unauthorized_client");
    assert!(body["error_description"].as_str().expect("d").contains("--resource-server"), "{body}");
    let c = s.resource_server().await;
    let res = s.post_form("/oauth2/introspect", &[], Some(&c), &[]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_request");
}

#[tokio::test]
async fn user_tokens_die_with_their_session() {
    let s = TestServer::start().await;
    let c = s.client(&[Password], "read").await;
    let rs = s.resource_server().await;
    s.user("carol", "carol's password").await;
    let body = s.login(&c, "carol", "carol's password", &[]).await;
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(s.introspect(&rs, token).await["active"], true);
    let (_, claims) = parts(token);
    // Ended through the storage port every revocation takes (kick, logout, reuse...), which
    // records the revocation with it; nothing else needs to tell the server.
    let sid = portcullis_domain::ids::SessionId::parse(claims["sid"].as_str().expect("sid")).expect("sid");
    let user = portcullis_domain::ids::UserId::parse(claims["sub"].as_str().expect("sub")).expect("sub");
    let which = portcullis_domain::ports::Ending::One { sid: &sid, user: &user };
    let ended =
        SessionRepo::end(&s.store, which, s.now(), portcullis_domain::revocation::Reason::Kicked, "test", false);
    assert_eq!(ended.await.expect("end"), 1);
    s.app.revocations().recorded().await;
    assert_eq!(s.introspect(&rs, token).await, json!({"active": false}));
}

/// One rule set decides at the server and in the guard: a table of tokens signed with the
/// server's own key, each judged the same by introspection and by `portcullis-guard`.
#[tokio::test]
async fn the_server_and_the_guard_judge_every_token_alike() {
    let s = TestServer::start().await;
    let rs = s.resource_server().await;
    let c = s.client(&[ClientCredentials], "read").await;
    let real = s.client_token(&c, Some("read")).await["access_token"].as_str().expect("token").to_owned();
    let guard = portcullis_guard::Guard::builder(&s.base)
        .client_credentials(&rs.id, rs.secret.as_deref().expect("secret"))
        .build()
        .await
        .expect("guard");
    tokio::time::timeout(std::time::Duration::from_secs(10), guard.caught_up()).await.expect("caught up");
    let (_, claims) = parts(&real);
    let key = test_key();
    let header = |extra: Value| {
        let mut h = json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid});
        h.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        h
    };
    let now = claims["iat"].as_i64().expect("iat");
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let table = [
        ("genuine", header(json!({})), claims.clone(), true),
        ("full media type", header(json!({"typ": "application/at+jwt"})), claims.clone(), true),
        ("typ in capitals", header(json!({"typ": "AT+JWT"})), claims.clone(), true),
        ("a crit header", header(json!({"crit": ["exp"], "exp": 1})), claims.clone(), false),
        ("typ JWT", header(json!({"typ": "JWT"})), claims.clone(), false),
        ("expired a second ago", header(json!({})), with("exp", json!(now - 1)), false),
        ("nbf 20 s ahead (inside the leeway)", header(json!({})), with("nbf", json!(now + 20)), true),
        ("nbf 60 s ahead", header(json!({})), with("nbf", json!(now + 60)), false),
        (
            "no jti",
            header(json!({})),
            {
                let mut c = claims.clone();
                c.as_object_mut().expect("o").remove("jti");
                c
            },
            false,
        ),
        ("wrong aud", header(json!({})), with("aud", json!("elsewhere")), false),
    ];
    for (what, h, c, live) in table {
        let token = rs256(&h, &c, &key.der);
        let server = s.introspect(&rs, &token).await["active"] == true;
        let guarded = guard.verify(&token).await.is_ok();
        assert_eq!((server, guarded), (live, live), "{what}: server {server}, guard {guarded}");
    }
}
