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

/// What every operation shares, added once the routes are in: the security schemes the
/// operations name, and the refusals every operation can give (a 500 anywhere; 401, 403 and 503
/// where a bearer token is required; 400 where a query or a body is parsed), each an RFC JSON
/// body.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::PartialSchema;
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
    use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};

    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
    components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    let error = |why: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(why)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        let operations =
            [item.get.as_mut(), item.post.as_mut(), item.put.as_mut(), item.delete.as_mut(), item.patch.as_mut()];
        for op in operations.into_iter().flatten() {
            let bearer = op.security.as_ref().is_some_and(|reqs| !reqs.is_empty());
            // Path parameters are any string: a bad id is a 404, never a 400.
            let parses = op.request_body.is_some()
                || op.parameters.iter().flatten().any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query);
            let html = op.responses.responses.values().any(|r| match r {
                RefOr::T(r) => r.content.contains_key("text/html"),
                RefOr::Ref(_) => false,
            });
            let responses = &mut op.responses.responses;
            if html {
                // A page: its refusals are pages too.
                let page = RefOr::T(
                    ResponseBuilder::new()
                        .description("an error page; the cause is logged")
                        .content("text/html", ContentBuilder::new().schema(Some(String::schema())).build())
                        .build(),
                );
                responses.entry("500".into()).or_insert(page);
                continue;
            }
            if bearer {
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("no valid bearer token (RFC 6750 invalid_token)"));
                responses
                    .entry("403".into())
                    .or_insert_with(|| error("the token lacks the scope or is not a user's (insufficient_scope)"));
                responses.entry("503".into()).or_insert_with(|| {
                    error("the token could not be checked against revocations now (temporarily_unavailable); retry")
                });
            }
            if parses {
                responses
                    .entry("400".into())
                    .or_insert_with(|| error("a malformed query, path or body (invalid_request)"));
            }
            responses.entry("500".into()).or_insert_with(|| error("server_error: the cause is logged, not shown"));
        }
    }
}
