//! OAuth clients: who may ask for tokens, by which grants, for which scopes.

use chrono::{DateTime, Utc};

use crate::grant::GrantType;
use crate::ids::ClientId;
use crate::scope::Scope;
use crate::secret::SecretHash;

/// Longest client name accepted.
pub const MAX_CLIENT_NAME_LEN: usize = 200;
/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;

/// A registered client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    /// `None` for a public client (no secret; sends only its id).
    pub secret_hash: Option<SecretHash>,
    pub grants: Vec<GrantType>,
    pub scope: Scope,
    pub redirect_uris: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }
}

/// Why a client registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientSpecError {
    #[error("client name must be 1 to {MAX_CLIENT_NAME_LEN} characters")]
    BadName,
    #[error("a client needs at least one grant")]
    NoGrant,
    #[error("a public client cannot use client_credentials (it has no secret)")]
    PublicClientCredentials,
    #[error("authorization_code needs at least one redirect URI")]
    MissingRedirectUri,
    #[error(
        "redirect URI must be an absolute http(s) or custom-scheme URI without fragment, at most {MAX_REDIRECT_URI_LEN} bytes"
    )]
    BadRedirectUri,
    #[error("at most {MAX_REDIRECT_URIS} redirect URIs")]
    TooManyRedirectUris,
}

/// What an admin asks for when registering a client, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    pub name: String,
    pub grants: Vec<GrantType>,
    pub scope: Scope,
    pub redirect_uris: Vec<String>,
    pub public: bool,
}

impl ClientSpec {
    pub fn new(
        name: &str,
        mut grants: Vec<GrantType>,
        scope: Scope,
        redirect_uris: Vec<String>,
        public: bool,
    ) -> Result<Self, ClientSpecError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_CLIENT_NAME_LEN || name.chars().any(char::is_control) {
            return Err(ClientSpecError::BadName);
        }
        grants.sort();
        grants.dedup();
        if grants.is_empty() {
            return Err(ClientSpecError::NoGrant);
        }
        if public && grants.contains(&GrantType::ClientCredentials) {
            return Err(ClientSpecError::PublicClientCredentials);
        }
        if redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(ClientSpecError::TooManyRedirectUris);
        }
        if !redirect_uris.iter().all(|u| is_valid_redirect_uri(u)) {
            return Err(ClientSpecError::BadRedirectUri);
        }
        if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ClientSpecError::MissingRedirectUri);
        }
        Ok(Self { name: name.to_owned(), grants, scope, redirect_uris, public })
    }
}

/// Absolute URI with a scheme, no fragment (RFC 6749 §3.1.2), bounded.
fn is_valid_redirect_uri(u: &str) -> bool {
    if u.len() > MAX_REDIRECT_URI_LEN || u.contains('#') || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = u.split_once(':') else { return false };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    scheme_ok && !rest.is_empty() && (!matches!(scheme, "http" | "https") || rest.starts_with("//") && rest.len() > 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(grants: Vec<GrantType>, uris: Vec<&str>, public: bool) -> Result<ClientSpec, ClientSpecError> {
        ClientSpec::new("app", grants, Scope::empty(), uris.into_iter().map(String::from).collect(), public)
    }

    #[test]
    fn checks() {
        assert!(spec(vec![GrantType::ClientCredentials], vec![], false).is_ok());
        assert_eq!(spec(vec![], vec![], false), Err(ClientSpecError::NoGrant));
        assert_eq!(
            spec(vec![GrantType::ClientCredentials], vec![], true),
            Err(ClientSpecError::PublicClientCredentials)
        );
        assert_eq!(spec(vec![GrantType::AuthorizationCode], vec![], true), Err(ClientSpecError::MissingRedirectUri));
        assert!(spec(vec![GrantType::AuthorizationCode], vec!["https://app.example/cb"], true).is_ok());
        assert!(spec(vec![GrantType::AuthorizationCode], vec!["com.example.app:/cb"], true).is_ok());
        for bad in ["/relative", "https://x/cb#frag", "https:", "no scheme", "http:/x"] {
            assert_eq!(
                spec(vec![GrantType::AuthorizationCode], vec![bad], true),
                Err(ClientSpecError::BadRedirectUri),
                "{bad}"
            );
        }
        assert_eq!(
            ClientSpec::new("  ", vec![GrantType::Password], Scope::empty(), vec![], false),
            Err(ClientSpecError::BadName)
        );
    }
}
