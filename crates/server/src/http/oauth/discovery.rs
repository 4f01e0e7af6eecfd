//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3): one document, the
//! second with the OpenID Provider's fields added.

use axum::Json;
use axum::extract::State;
use portcullis_domain::grant::GrantType;
use portcullis_proto::{ProviderMetadata, ServerMetadata};

use crate::app::App;
use crate::http::paths;

/// Authorization-server metadata.
#[utoipa::path(get, path = crate::http::paths::DISCOVERY, tag = "oauth2",
    responses((status = 200, description = "RFC 8414 metadata", body = ServerMetadata)))]
pub async fn metadata(State(app): State<App>) -> Json<ServerMetadata> {
    let scopes = app.directory().advertised_scopes().await;
    Json(server_metadata(&app, scopes))
}

/// OpenID Provider metadata: the RFC 8414 document and the OpenID fields.
#[utoipa::path(get, path = crate::http::paths::OPENID_DISCOVERY, tag = "oauth2",
    responses((status = 200, description = "OpenID Connect Discovery 1.0 metadata", body = ProviderMetadata)))]
pub async fn openid_configuration(State(app): State<App>) -> Json<ProviderMetadata> {
    let scopes = app.directory().advertised_scopes().await;
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Json(ProviderMetadata {
        oauth: server_metadata(&app, scopes),
        userinfo_endpoint: app.url(paths::USERINFO),
        end_session_endpoint: Some(app.url(paths::END_SESSION)),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        subject_types_supported: strings(&["public"]),
        claims_supported: strings(&[
            "sub",
            "iss",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "at_hash",
            "name",
            "preferred_username",
            "picture",
            "updated_at",
            "email",
            "phone_number",
        ]),
        response_modes_supported: strings(&["query"]),
        prompt_values_supported: strings(&["none", "login", "consent", "select_account", "create"]),
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        backchannel_logout_supported: false,
        backchannel_logout_session_supported: false,
    })
}

/// The OpenID Connect scopes, advertised whatever the clients list (Discovery 1.0 §3).
const OPENID_SCOPES: [&str; 4] = ["openid", "profile", "email", "phone"];

/// The metadata, advertising `scopes` (those of the registered clients, and OpenID Connect's).
pub fn server_metadata(app: &App, mut scopes: Vec<String>) -> ServerMetadata {
    scopes.extend(OPENID_SCOPES.iter().map(|s| (*s).to_owned()));
    scopes.sort();
    scopes.dedup();
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let auth_methods = strings(&["client_secret_basic", "client_secret_post", "none"]);
    ServerMetadata {
        issuer: app.issuer().to_owned(),
        authorization_endpoint: app.url(paths::AUTHORIZE),
        token_endpoint: app.url(paths::TOKEN),
        jwks_uri: app.url(paths::JWKS),
        revocation_endpoint: app.url(paths::REVOKE),
        introspection_endpoint: app.url(paths::INTROSPECT),
        revocation_feed_endpoint: Some(app.url(paths::REVOCATION_FEED)),
        grant_types_supported: strings(&[
            "authorization_code",
            "password",
            "client_credentials",
            "refresh_token",
            GrantType::OTP_URN,
        ]),
        response_types_supported: strings(&["code"]),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: auth_methods,
        introspection_endpoint_auth_methods_supported: strings(&["client_secret_basic", "client_secret_post"]),
        code_challenge_methods_supported: strings(&["S256"]),
        scopes_supported: scopes,
    }
}
