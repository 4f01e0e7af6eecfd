//! One module per grant type.

pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use oxide_auth::primitives::scope::Scope as OxideScope;
use portcullis_domain::scope::Scope;

use crate::error::OAuthError;
use crate::registrar::to_oxide_scope;
use crate::request::{RequestContext, TokenRequest};
use portcullis_domain::ids::DeviceId;

/// The `scope` parameter, checked against RFC 6749 §3.3 (a malformed scope is `invalid_scope`).
pub(crate) fn requested_scope(req: &TokenRequest) -> Result<Option<OxideScope>, OAuthError> {
    let Some(raw) = req.param("scope")? else { return Ok(None) };
    let scope: Scope = raw
        .parse()
        .map_err(|e: portcullis_domain::scope::ScopeError| OAuthError::InvalidScope(e.to_string().into()))?;
    if scope.is_empty() {
        return Ok(None);
    }
    to_oxide_scope(&scope).map(Some).ok_or(OAuthError::Server)
}

/// The device id from the form or `X-Device-Id` (they must agree), if any.
pub(crate) fn device_id(req: &TokenRequest, ctx: &RequestContext) -> Result<Option<DeviceId>, OAuthError> {
    let form = req.param("device_id")?;
    let chosen = match (form.as_deref(), ctx.device_id_header.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_request("device_id and X-Device-Id disagree"));
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    chosen.map(|raw| DeviceId::parse(raw).map_err(|e| OAuthError::InvalidRequest(e.to_string().into()))).transpose()
}
