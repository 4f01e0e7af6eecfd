//! Admin API bodies: clients and the audit trail.

use serde::{Deserialize, Serialize};

/// A registered client (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub grants: Vec<String>,
    pub scope: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    /// May introspect tokens and follow the revocation feed.
    pub resource_server: bool,
    /// An unknown phone or email that logs in by code becomes a new user.
    pub otp_signup: bool,
    /// People may create accounts through it (`POST /signup`).
    pub signup: bool,
    /// Browser origins allowed to call the API with its tokens (CORS).
    pub allowed_origins: Vec<String>,
    /// Where RP-initiated logout may send the browser back to (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientList {
    pub clients: Vec<ClientView>,
    pub next_cursor: Option<String>,
}

/// The grants a client may be allowed (documentation of `NewClient::grants`).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum GrantName {
    Password,
    ClientCredentials,
    RefreshToken,
    AuthorizationCode,
    Otp,
}

/// `POST /admin/clients`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewClient {
    /// 1 to 200 characters after trimming, no control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub name: String,
    /// At least one of `password`, `client_credentials`, `refresh_token`, `authorization_code`,
    /// `otp`.
    /// A public client may not have `client_credentials`; `authorization_code` needs a redirect URI.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, inline, value_type = Vec<GrantName>))]
    pub grants: Vec<String>,
    /// Space-separated RFC 6749 §3.3 scope tokens the client may ask for.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024, pattern = "^[ !#-\\[\\]-~]*$"))]
    pub scope: String,
    /// https, http on a loopback IP literal, or a private-use scheme (RFC 8252); no fragment.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    /// A resource server: it may introspect tokens and follow the revocation feed.
    #[serde(default)]
    pub resource_server: bool,
    /// With the `otp` grant: an unknown phone or email that logs in by code becomes a new user.
    #[serde(default)]
    pub otp_signup: bool,
    /// People may create accounts through this client (`POST /signup`); needs a grant that
    /// signs people in (`password`, `otp` or `authorization_code`).
    #[serde(default)]
    pub signup: bool,
    /// Browser origins (`https://app.example`, lower case, no path) allowed to call the token,
    /// revocation, `/me*` and userinfo endpoints for this client (CORS).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub allowed_origins: Vec<String>,
    /// Where RP-initiated logout (`end_session_endpoint`) may send the browser afterwards, with
    /// `post_logout_redirect_uri`: compared exactly, the same rules as `redirect_uris`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub post_logout_redirect_uris: Vec<String>,
}

/// The answer to `POST /admin/clients`: the secret is shown this once. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedClient {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client: ClientView,
}

impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedClient").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    pub kind: String,
    pub actor: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub device_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

/// Newest first; pass `next_cursor` back as `cursor` for older events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}
