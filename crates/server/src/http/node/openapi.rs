//! `GET /openapi.json`: the OpenAPI 3 document of every endpoint. Its paths come from the routes
//! themselves (`crate::http::openapi`); this holds what is not a route: info, shared schemas.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "OAuth 2.0 authorization server with JWT access tokens and real session control."
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
#[utoipa::path(get, path = crate::http::paths::OPENAPI, tag = "operations", responses((status = 200, description = "OpenAPI 3")))]
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(crate::http::openapi())
}
