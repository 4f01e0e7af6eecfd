//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::Json;
use axum::extract::State;
use portcullis_domain::grant::GrantType;
use portcullis_proto::ServerMetadata;

use crate::app::App;
use crate::http::paths;

/// Authorization-server metadata.
#[utoipa::path(get, path = crate::http::paths::DISCOVERY, tag = "oauth2",
    responses((status = 200, description = "RFC 8414 metadata", body = ServerMetadata)))]
pub async fn metadata(State(app): State<App>) -> Json<ServerMetadata> {
    let scopes = app.directory().advertised_scopes().await;
    Json(server_metadata(&app, scopes))
}

/// The metadata, advertising `scopes` (those of the registered clients).
pub fn server_metadata(app: &App, scopes: Vec<String>) -> ServerMetadata {
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
