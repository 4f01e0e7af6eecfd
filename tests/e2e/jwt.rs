//! Independent verification of issued tokens, as a resource server would do it: fetch the
//! JWKS, find the kid, verify RS256 with jsonwebtoken.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_e2e::TestServer;
use serde_json::Value;

/// The decoded header and claims of a JWS, without verification.
pub fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().expect("part")).expect("b64")).expect("json")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

/// Verifies `token` against the server's JWKS as a resource server would.
pub async fn verify_with_jwks(server: &TestServer, token: &str) -> Value {
    let (header, _) = parts(token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let kid = header["kid"].as_str().expect("kid");
    let (_, _, jwks) = server.get_json(portcullis_server::http::paths::JWKS).await;
    let jwk = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid).expect("kid is in the JWKS");
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e")).expect("key");
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["api"]);
    v.set_issuer(&[server.base.as_str()]);
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("token verifies against the JWKS").claims
}
