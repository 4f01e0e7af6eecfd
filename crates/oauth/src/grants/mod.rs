//! One module per grant type.

pub mod client_credentials;
pub mod password;

use oxide_auth::primitives::scope::Scope as OxideScope;
use portcullis_domain::scope::Scope;

use crate::error::OAuthError;
use crate::registrar::to_oxide_scope;
use crate::request::TokenRequest;

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
