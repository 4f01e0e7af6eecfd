//! OpenID Connect on top of the grants: which claims a user's scopes grant (Core §5.4), and
//! what an ID token minted with an access token says.

use chrono::{DateTime, Utc};
use portcullis_domain::user::User;
use portcullis_proto::{OPENID_SCOPE, ProfileClaims};
use portcullis_tokens::IdTokenInput;

/// Whether a space-separated scope asks for OpenID Connect.
pub fn wants_id_token(scope: &str) -> bool {
    scope.split(' ').any(|s| s == OPENID_SCOPE)
}

/// The standard claims `scope` grants about `user`; the picture is the caller's to add (it
/// needs the avatar store and the issuer's URL).
pub fn profile_claims(user: &User, scope: &str) -> ProfileClaims {
    let has = |s: &str| scope.split(' ').any(|t| t == s);
    let mut claims = ProfileClaims::default();
    if has("profile") {
        claims.name = user.display_name.clone();
        claims.preferred_username = Some(user.username.to_string());
        claims.updated_at = Some(user.updated_at.timestamp());
    }
    if has("email") {
        claims.email = user.email.as_ref().map(ToString::to_string);
    }
    if has("phone") {
        claims.phone_number = user.phone.as_ref().map(ToString::to_string);
    }
    claims
}

/// Who an ID token is about, as the grant knows them: the user as read with the credential
/// check, and the authorization request's `nonce` (the code flow only).
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub user: User,
    pub nonce: Option<String>,
}

impl Identity {
    /// The ID token's input for a token of `scope`, the user having authenticated at
    /// `auth_time`; none when the scope does not ask for one.
    pub(crate) fn input(&self, scope: &str, auth_time: DateTime<Utc>) -> Option<IdTokenInput> {
        wants_id_token(scope).then(|| IdTokenInput {
            auth_time: auth_time.timestamp(),
            nonce: self.nonce.clone(),
            profile: profile_claims(&self.user, scope),
        })
    }
}

/// Longest `nonce` kept with a code (its column's width).
pub const MAX_NONCE_LEN: usize = 512;

/// The OpenID Connect parameters of an authorization request (Core §3.1.2.1). `ui_locales`
/// and `claims_locales` are accepted and ignored: the pages are in English only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OidcParams {
    /// `prompt=none`: answer without showing any page, or with an error.
    pub none: bool,
    /// `prompt=login` (or `select_account`, which for one account per browser means the same):
    /// sign in again even if the browser is signed in.
    pub login: bool,
    /// `prompt=consent`: ask again even if a standing consent covers the scope.
    pub consent: bool,
    /// `max_age`: the longest time, in seconds, since the user last signed in.
    pub max_age: Option<i64>,
    pub nonce: Option<String>,
    pub id_token_hint: Option<String>,
    /// Shown in the login form's username field.
    pub login_hint: Option<String>,
}

impl OidcParams {
    /// Reads them through `get`; an error is an `invalid_request`'s description.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, &'static str> {
        let mut p = Self::default();
        for value in get("prompt").unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => p.none = true,
                "login" | "select_account" => p.login = true,
                "consent" => p.consent = true,
                // The sign-up page (OpenID Connect Prompt Create 1.0); the pages handle it.
                "create" => {}
                _ => return Err("prompt may hold only none, login, consent, select_account and create"),
            }
        }
        if p.none && (p.login || p.consent || get("prompt").is_some_and(|v| v.contains("create"))) {
            return Err("prompt=none may not be combined with another value");
        }
        if let Some(raw) = get("max_age") {
            let secs = raw.parse::<i64>().ok().filter(|s| *s >= 0);
            p.max_age = Some(secs.ok_or("max_age must be a whole number of seconds, 0 or more")?);
        }
        if let Some(nonce) = get("nonce") {
            if nonce.len() > MAX_NONCE_LEN {
                return Err("nonce may be at most 512 characters");
            }
            p.nonce = Some(nonce.to_owned());
        }
        p.id_token_hint = get("id_token_hint").map(str::to_owned);
        p.login_hint = get("login_hint").map(|h| h.chars().take(256).collect());
        Ok(p)
    }

    /// Whether a sign-in at `auth_time` is too old for `max_age` at `now`.
    pub fn too_old(&self, auth_time: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.max_age.is_some_and(|max| (now - auth_time).num_seconds() > max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<OidcParams, &'static str> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        OidcParams::parse(|k| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()))
    }

    #[test]
    fn prompt_values_combine_but_none_stands_alone() {
        let p = parse("prompt=login+consent&max_age=0&nonce=n").unwrap();
        assert!(p.login && p.consent && !p.none);
        assert_eq!((p.max_age, p.nonce.as_deref()), (Some(0), Some("n")));
        assert!(parse("prompt=none").unwrap().none);
        assert!(parse("prompt=none+login").is_err());
        assert!(parse("prompt=none+create").is_err());
        assert!(parse("prompt=sometimes").is_err());
        assert!(parse("max_age=-1").is_err());
        assert!(parse("max_age=soon").is_err());
        assert!(parse(&format!("nonce={}", "n".repeat(513))).is_err());
    }

    #[test]
    fn max_age_counts_whole_seconds() {
        let p = parse("max_age=60").unwrap();
        let at = DateTime::from_timestamp(1_000, 0).unwrap();
        assert!(!p.too_old(at, at + chrono::Duration::seconds(60)));
        assert!(p.too_old(at, at + chrono::Duration::seconds(61)));
        assert!(!OidcParams::default().too_old(at, at + chrono::Duration::days(999)));
    }
}
