//! Self-service responses.

use serde::{Deserialize, Serialize};

/// `GET /me`: who the token speaks for, and from which device session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: String,
    pub username: String,
    pub client_id: String,
    pub scope: String,
    pub sid: String,
    pub device_id: String,
}

/// `GET /me/consents`: one client the user has allowed, and for which scopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentView {
    pub client_id: String,
    pub scope: String,
    /// RFC 3339.
    pub granted_at: String,
}

/// `GET /me/consents`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentList {
    pub consents: Vec<ConsentView>,
}
