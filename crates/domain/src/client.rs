//! OAuth clients: who may ask for tokens, by which grants, for which scopes, and where
//! authorization responses may be sent.

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
/// Most browser origins one client may list.
pub const MAX_ALLOWED_ORIGINS: usize = 20;

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
    /// A resource server: it may introspect tokens and follow the revocation feed.
    pub resource_server: bool,
    /// An unknown phone or email that logs in by code becomes a new user (contract §6).
    pub otp_signup: bool,
    /// People may create accounts through this client (`POST /signup`, the login page's
    /// "create account"; contract §7).
    pub signup: bool,
    /// Browser origins (`https://app.example`) allowed to call the token, revocation, `/me*`
    /// and userinfo endpoints for this client (CORS; contract §7).
    pub allowed_origins: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards (exact match; OpenID Connect
    /// RP-Initiated Logout 1.0 §3.1).
    pub post_logout_redirect_uris: Vec<String>,
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
    #[error("a public client cannot be a resource server (it has no secret to authenticate with)")]
    PublicResourceServer,
    #[error("authorization_code needs at least one redirect URI")]
    MissingRedirectUri,
    #[error("redirect URI {uri:?}: {why}")]
    BadRedirectUri { uri: String, why: RedirectUriError },
    #[error("at most {MAX_REDIRECT_URIS} redirect URIs and {MAX_REDIRECT_URIS} post-logout redirect URIs")]
    TooManyRedirectUris,
    #[error("otp_signup needs a grant that signs people in with a code: otp, or authorization_code (the login page)")]
    SignupWithoutOtp,
    #[error("signup needs a grant that signs people in: password, otp or authorization_code")]
    SignupWithoutLogin,
    #[error("at most {MAX_ALLOWED_ORIGINS} allowed origins")]
    TooManyOrigins,
    #[error(
        "allowed origin {0:?}: must be scheme://host[:port] with no path, https (or http on a loopback host), in lower case"
    )]
    BadOrigin(String),
}

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("longer than {MAX_REDIRECT_URI_LEN} bytes")]
    TooLong,
    #[error("contains whitespace or control characters")]
    BadCharacter,
    #[error("has a fragment; RFC 6749 §3.1.2 forbids one")]
    Fragment,
    #[error("is not an absolute URI")]
    NotAbsolute,
    #[error("uses a scheme a browser runs or reads locally (javascript, data, file, vbscript)")]
    DangerousScheme,
    #[error("plain http is allowed only on a loopback IP literal (127.0.0.1 or [::1]); use https")]
    PlainHttp,
    #[error("must name a host")]
    NoHost,
    #[error("must not carry user information")]
    UserInfo,
    #[error(
        "must use https, http on a loopback IP literal, or a private-use scheme with a dot, like com.example.app (RFC 8252 §7.1)"
    )]
    UnknownScheme,
}

/// What an admin asks for when registering a client. [`ClientSpec::checked`] validates it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSpec {
    pub name: String,
    pub grants: Vec<GrantType>,
    pub scope: Scope,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub resource_server: bool,
    pub otp_signup: bool,
    pub signup: bool,
    pub allowed_origins: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

impl ClientSpec {
    /// The spec with its name trimmed and its grants sorted, or why it cannot be registered.
    pub fn checked(mut self) -> Result<Self, ClientSpecError> {
        self.name = self.name.trim().to_owned();
        let name = &self.name;
        if name.is_empty() || name.chars().count() > MAX_CLIENT_NAME_LEN || name.chars().any(char::is_control) {
            return Err(ClientSpecError::BadName);
        }
        self.grants.sort();
        self.grants.dedup();
        if self.grants.is_empty() {
            return Err(ClientSpecError::NoGrant);
        }
        if self.public && self.grants.contains(&GrantType::ClientCredentials) {
            return Err(ClientSpecError::PublicClientCredentials);
        }
        if self.public && self.resource_server {
            return Err(ClientSpecError::PublicResourceServer);
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(ClientSpecError::TooManyRedirectUris);
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|why| ClientSpecError::BadRedirectUri { uri: shown(uri), why })?;
        }
        if self.grants.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(ClientSpecError::MissingRedirectUri);
        }
        // Codes sign people in through the OTP grant, or the login page of an authorization
        // request: sign-up means something only for a client with one of them.
        if self.otp_signup && !self.grants.iter().any(|g| matches!(g, GrantType::Otp | GrantType::AuthorizationCode)) {
            return Err(ClientSpecError::SignupWithoutOtp);
        }
        let logs_in = |g: &GrantType| matches!(g, GrantType::Password | GrantType::Otp | GrantType::AuthorizationCode);
        if self.signup && !self.grants.iter().any(logs_in) {
            return Err(ClientSpecError::SignupWithoutLogin);
        }
        if self.allowed_origins.len() > MAX_ALLOWED_ORIGINS {
            return Err(ClientSpecError::TooManyOrigins);
        }
        for origin in &self.allowed_origins {
            if !is_origin(origin) {
                return Err(ClientSpecError::BadOrigin(shown(origin)));
            }
        }
        self.allowed_origins.sort();
        self.allowed_origins.dedup();
        if self.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(ClientSpecError::TooManyRedirectUris);
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri).map_err(|why| ClientSpecError::BadRedirectUri { uri: shown(uri), why })?;
        }
        Ok(self)
    }
}

/// Whether `o` is a browser origin as the `Origin` header carries it (RFC 6454): `https://host`
/// or `https://host:port` (or `http` on a loopback host, for development), lower case, with no
/// path, query, user information or trailing slash. It is compared byte for byte.
pub fn is_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else { return false };
    if o.len() > 300 || o.chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace() || c.is_control()) {
        return false;
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return false;
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let Some((host, after)) = v6.split_once(']') else { return false };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return false,
                },
            }
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let port_ok = port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0));
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
    !host.is_empty() && port_ok && (scheme == "https" || (scheme == "http" && loopback))
}

/// A redirect URI as an error message may quote it: bounded, without control characters.
fn shown(uri: &str) -> String {
    uri.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Whether `u` may be registered as a redirect URI: `https://host…`, `http://` on a loopback IP
/// literal (RFC 8252 §7.3), or a private-use scheme containing a dot (RFC 8252 §7.1), with no
/// fragment (RFC 6749 §3.1.2). Schemes a browser would run or read locally never are.
pub fn check_redirect_uri(u: &str) -> Result<(), RedirectUriError> {
    use RedirectUriError as E;
    if u.len() > MAX_REDIRECT_URI_LEN {
        return Err(E::TooLong);
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(E::BadCharacter);
    }
    if u.contains('#') {
        return Err(E::Fragment);
    }
    let Some((scheme, rest)) = u.split_once(':') else { return Err(E::NotAbsolute) };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() {
        return Err(E::NotAbsolute);
    }
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "javascript" | "data" | "file" | "vbscript" => Err(E::DangerousScheme),
        "https" => authority(rest).map(|_| ()),
        "http" => match authority(rest)? {
            host if is_loopback_ip(host) => Ok(()),
            _ => Err(E::PlainHttp),
        },
        s if s.contains('.') => Ok(()),
        _ => Err(E::UnknownScheme),
    }
}

/// The host of `//host[:port]/…`, refusing user information and an empty host.
fn authority(rest: &str) -> Result<&str, RedirectUriError> {
    let rest = rest.strip_prefix("//").ok_or(RedirectUriError::NoHost)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(RedirectUriError::UserInfo);
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(h, _)| h).ok_or(RedirectUriError::NoHost)?,
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() { Err(RedirectUriError::NoHost) } else { Ok(host) }
}

fn is_loopback_ip(host: &str) -> bool {
    host == "127.0.0.1" || host == "::1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_scheme_host_and_port() {
        for ok in [
            "https://app.example",
            "https://app.example:8443",
            "http://localhost:5173",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
            "https://[2001:db8::1]",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "https://app.example/",
            "https://app.example/path",
            "https://App.example",
            "http://app.example",
            "app.example",
            "https://",
            "https://app.example:0",
            "https://app.example:99999",
            "https://u@app.example",
            "https://app.example?x",
            "https://app.example:",
            "*",
            "null",
            "https://[::1",
            "https://[::1]x",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    fn spec(grants: Vec<GrantType>, uris: Vec<&str>, public: bool) -> Result<ClientSpec, ClientSpecError> {
        ClientSpec {
            name: "app".into(),
            grants,
            redirect_uris: uris.into_iter().map(String::from).collect(),
            public,
            ..ClientSpec::default()
        }
        .checked()
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
        let bad_name = ClientSpec { name: "  ".into(), grants: vec![GrantType::Password], ..ClientSpec::default() };
        assert_eq!(bad_name.checked(), Err(ClientSpecError::BadName));
        let public_rs = ClientSpec {
            name: "rs".into(),
            grants: vec![GrantType::Password],
            public: true,
            resource_server: true,
            ..ClientSpec::default()
        };
        assert_eq!(public_rs.checked(), Err(ClientSpecError::PublicResourceServer));
        let signup = ClientSpec {
            name: "app".into(),
            grants: vec![GrantType::Password],
            otp_signup: true,
            ..ClientSpec::default()
        };
        assert_eq!(signup.clone().checked(), Err(ClientSpecError::SignupWithoutOtp));
        assert!(ClientSpec { grants: vec![GrantType::Otp], ..signup.clone() }.checked().is_ok());
        let page = ClientSpec {
            grants: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["https://app.example/cb".into()],
            ..signup
        };
        assert!(page.checked().is_ok(), "signs up on the login page");
    }

    #[test]
    fn redirect_uris_are_https_loopback_http_or_private_use() {
        for good in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8000/callback",
            "http://[::1]:8000/callback",
            "com.example.app:/oauth2redirect",
            "com.example.app://cb",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        use RedirectUriError as E;
        for (bad, why) in [
            ("javascript:alert(1)", E::DangerousScheme),
            ("JavaScript:alert(1)//", E::DangerousScheme),
            ("data:text/html,<script>x</script>", E::DangerousScheme),
            ("file:///etc/passwd", E::DangerousScheme),
            ("vbscript:msgbox", E::DangerousScheme),
            ("https://app.example/cb#frag", E::Fragment),
            ("http://app.example/cb", E::PlainHttp),
            ("http://localhost:8000/cb", E::PlainHttp),
            ("http://127.0.0.2/cb", E::PlainHttp),
            ("https://user@app.example/cb", E::UserInfo),
            ("http://127.0.0.1@evil.example/cb", E::UserInfo),
            ("https:/app.example", E::NoHost),
            ("https:///cb", E::NoHost),
            ("myapp:/cb", E::UnknownScheme),
            ("/relative", E::NotAbsolute),
            ("no scheme", E::BadCharacter),
            ("https:", E::NotAbsolute),
        ] {
            assert_eq!(check_redirect_uri(bad), Err(why), "{bad}");
        }
        assert_eq!(check_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000))), Err(E::TooLong));
    }
}
