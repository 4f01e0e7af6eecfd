//! `GET /openapi.json`: the OpenAPI 3 document of every endpoint.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "OAuth 2.0 authorization server with JWT access tokens and real session control."
    ),
    paths(
        super::token::token,
        super::authorize::authorize,
        super::authorize::submit,
        super::introspect::introspect,
        super::revoke::revoke,
        super::feed::feed,
        super::me::me,
        super::me::logout,
        super::me::devices,
        super::me::forget_device,
        super::consents::list,
        super::consents::withdraw,
        super::admin_users::create,
        super::admin_users::list,
        super::admin_users::get,
        super::admin_users::ban,
        super::admin_users::unban,
        super::admin_users::change_password,
        super::admin_clients::create,
        super::admin_clients::list,
        super::admin_clients::delete,
        super::admin_clients::audit,
        super::admin::user_devices,
        super::admin::kick_device,
        super::admin::kick_all,
        super::jwks::jwks,
        super::discovery::metadata,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        openapi_json,
    ),
    components(schemas(
        portcullis_proto::TokenResponse,
        portcullis_proto::ErrorBody,
        portcullis_proto::ErrorCode,
        portcullis_proto::JwkSet,
        portcullis_proto::Jwk,
        portcullis_proto::ServerMetadata,
        portcullis_proto::IntrospectionResponse,
        portcullis_proto::AccessTokenClaims,
        portcullis_proto::Me,
        portcullis_proto::ConsentList,
        portcullis_proto::ConsentView,
        portcullis_proto::DeviceList,
        portcullis_proto::UserView,
        portcullis_proto::ClientView,
        portcullis_proto::ClientList,
        portcullis_proto::NewClient,
        portcullis_proto::CreatedClient,
        portcullis_proto::AuditEventView,
        portcullis_proto::AuditList,
        portcullis_proto::UserList,
        portcullis_proto::NewUser,
        portcullis_proto::BanRequest,
        portcullis_proto::PasswordChange,
        portcullis_proto::DeviceView,
        portcullis_proto::FeedEvent,
        portcullis_proto::feed::FeedSubject,
        portcullis_proto::feed::SubjectId,
    ))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
