//! `TokenRequest`: the token endpoint's input, parsed and bounded once.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oxide_auth::code_grant::client_credentials::Request as CcRequest;
use oxide_auth::endpoint::{NormalizedParameter, QueryParameter, WebRequest};
use portcullis_domain::grant::GrantType;

use crate::error::OAuthError;

/// Longest value of any single form parameter.
pub const MAX_PARAM_LEN: usize = 4096;
// A password parameter must fit any password the policy allows.
const _: () = assert!(MAX_PARAM_LEN >= portcullis_domain::password::MAX_PASSWORD_BYTES);

/// What the HTTP layer knows about the request besides its form.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `X-Device-Id`, an alternative to the `device_id` form parameter.
    pub device_id_header: Option<String>,
}

/// How the client identified itself.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1), form-decoded.
    Basic {
        id: String,
        secret: Vec<u8>,
    },
    /// `client_id` and `client_secret` in the form.
    Body {
        id: String,
        secret: String,
    },
    /// `client_id` alone: a public client.
    Public {
        id: String,
    },
    None,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { id, .. } => write!(f, "Basic({id}, <secret>)"),
            Self::Body { id, .. } => write!(f, "Body({id}, <secret>)"),
            Self::Public { id } => write!(f, "Public({id})"),
            Self::None => f.write_str("None"),
        }
    }
}

impl ClientAuth {
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Basic { id, .. } | Self::Body { id, .. } | Self::Public { id } => Some(id),
            Self::None => None,
        }
    }

    pub fn secret(&self) -> Option<&[u8]> {
        match self {
            Self::Basic { secret, .. } => Some(secret),
            Self::Body { secret, .. } => Some(secret.as_bytes()),
            _ => None,
        }
    }

    pub fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// A client-authenticated form request (token, introspection, revocation), parsed once.
/// `Debug` shows no parameter values.
pub struct FormRequest {
    params: NormalizedParameter,
    pub auth: ClientAuth,
}

impl std::fmt::Debug for FormRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormRequest").field("auth", &self.auth).finish_non_exhaustive()
    }
}

impl FormRequest {
    /// Reads the form and the Authorization header of `req`.
    pub fn from_web<R: WebRequest>(req: &mut R) -> Result<Self, OAuthError> {
        let auth_header = req
            .authheader()
            .map_err(|_| OAuthError::invalid_request("the Authorization header is malformed"))?
            .map(Cow::into_owned);
        let params = req
            .urlbody()
            .map_err(|_| OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"))?
            .normalize();
        Self::new(params, auth_header.as_deref())
    }

    /// A request whose parameters came some other way than a form (a JSON body's
    /// `client_id` and `client_secret`), authenticated as at the token endpoint.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        auth_header: Option<&str>,
    ) -> Result<Self, OAuthError> {
        let mut params = NormalizedParameter::new();
        for (k, v) in pairs {
            params.insert_or_poison(Cow::Owned(k.to_owned()), Cow::Owned(v.to_owned()));
        }
        Self::new(params, auth_header)
    }

    pub fn new(params: NormalizedParameter, auth_header: Option<&str>) -> Result<Self, OAuthError> {
        let mut me = Self { params, auth: ClientAuth::None };
        me.auth = me.client_auth(auth_header)?;
        Ok(me)
    }

    fn client_auth(&self, header: Option<&str>) -> Result<ClientAuth, OAuthError> {
        let body_id = self.param("client_id")?;
        let body_secret = self.param("client_secret")?;
        if let Some(header) = header {
            let (id, secret) = parse_basic(header)?;
            if body_secret.is_some() || body_id.as_deref().is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not Basic and the form both",
                ));
            }
            return Ok(ClientAuth::Basic { id, secret });
        }
        Ok(match (body_id, body_secret) {
            (Some(id), Some(secret)) => ClientAuth::Body { id: id.into_owned(), secret: secret.into_owned() },
            (Some(id), None) => ClientAuth::Public { id: id.into_owned() },
            (None, Some(_)) => return Err(OAuthError::invalid_request("client_secret without client_id")),
            (None, None) => ClientAuth::None,
        })
    }

    /// A parameter, if present once. Repeated or oversized parameters are refused.
    pub fn param(&self, key: &str) -> Result<Option<Cow<'_, str>>, OAuthError> {
        match self.params.unique_value(key) {
            Some(v) if v.len() > MAX_PARAM_LEN => {
                Err(OAuthError::InvalidRequest(format!("{key} is longer than {MAX_PARAM_LEN} bytes").into()))
            }
            Some(v) if v.is_empty() => Ok(None),
            other => Ok(other),
        }
    }

    pub fn required(&self, key: &str) -> Result<Cow<'_, str>, OAuthError> {
        self.param(key)?.ok_or_else(|| OAuthError::InvalidRequest(format!("{key} is missing or repeated").into()))
    }
}

/// A parsed token request: a form request with a known `grant_type`.
#[derive(Debug)]
pub struct TokenRequest {
    pub form: FormRequest,
    pub grant_type: GrantType,
}

impl std::ops::Deref for TokenRequest {
    type Target = FormRequest;

    fn deref(&self) -> &FormRequest {
        &self.form
    }
}

impl TokenRequest {
    pub fn from_web<R: WebRequest>(req: &mut R) -> Result<Self, OAuthError> {
        Self::from_form(FormRequest::from_web(req)?)
    }

    pub fn new(params: NormalizedParameter, auth_header: Option<&str>) -> Result<Self, OAuthError> {
        Self::from_form(FormRequest::new(params, auth_header)?)
    }

    fn from_form(form: FormRequest) -> Result<Self, OAuthError> {
        let grant = form.required("grant_type")?;
        let grant_type = GrantType::from_wire(&grant).ok_or_else(|| {
            OAuthError::UnsupportedGrantType(
                format!(
                    "grant_type must be one of password, client_credentials, refresh_token, authorization_code, {}",
                    GrantType::OTP_URN
                )
                .into(),
            )
        })?;
        Ok(Self { form, grant_type })
    }
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, Vec<u8>), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed HTTP Basic client credentials", true);
    let (scheme, data) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client("client authentication must use HTTP Basic", false));
    }
    if data.len() > 2 * MAX_PARAM_LEN {
        return Err(bad());
    }
    let decoded = STANDARD.decode(data.trim()).map_err(|_| bad())?;
    let colon = decoded.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let id = form_decode(&decoded[..colon]);
    let secret = form_decode(&decoded[colon + 1..]);
    let id = String::from_utf8(id).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

fn form_decode(b: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = b.iter().map(|&c| if c == b'+' { b' ' } else { c }).collect();
    percent_encoding::percent_decode(&plus).collect()
}

/// The view oxide-auth's client-credentials flow takes of a request.
impl CcRequest for TokenRequest {
    fn valid(&self) -> bool {
        true
    }

    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        match &self.auth {
            ClientAuth::Basic { id, secret } => Some((Cow::Borrowed(id), Cow::Borrowed(secret))),
            _ => None,
        }
    }

    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope").ok().flatten()
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.grant_type.as_str()))
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        // With Basic, the form's client_id (if any) was checked equal and is not a second method.
        if self.auth.is_basic() && matches!(key, "client_id" | "client_secret") {
            return None;
        }
        self.param(key).ok().flatten()
    }

    fn allow_credentials_in_body(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(form: &[(&'static str, &'static str)], header: Option<&str>) -> Result<TokenRequest, OAuthError> {
        let mut p = NormalizedParameter::new();
        for (k, v) in form {
            p.insert_or_poison(Cow::Borrowed(*k), Cow::Borrowed(*v));
        }
        TokenRequest::new(p, header)
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn grant_type_rules() {
        assert!(matches!(req(&[], None), Err(OAuthError::InvalidRequest(_))));
        assert!(matches!(req(&[("grant_type", "implicit")], None), Err(OAuthError::UnsupportedGrantType(_))));
        assert!(matches!(
            req(&[("grant_type", "password"), ("grant_type", "password")], None),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn client_auth_methods() {
        let r = req(&[("grant_type", "client_credentials")], Some(&basic("a%3Ab", "s+p%25"))).unwrap();
        assert_eq!(r.auth, ClientAuth::Basic { id: "a:b".into(), secret: b"s p%".to_vec() });
        let r = req(&[("grant_type", "password"), ("client_id", "c"), ("client_secret", "s")], None).unwrap();
        assert_eq!(r.auth, ClientAuth::Body { id: "c".into(), secret: "s".into() });
        let r = req(&[("grant_type", "password"), ("client_id", "c")], None).unwrap();
        assert_eq!(r.auth, ClientAuth::Public { id: "c".into() });
        assert!(matches!(
            req(&[("grant_type", "password"), ("client_secret", "s")], Some(&basic("c", "s"))),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            req(&[("grant_type", "password")], Some("Basic !!!")),
            Err(OAuthError::InvalidClient { basic: true, .. })
        ));
        assert!(
            format!("{:?}", req(&[("grant_type", "password")], Some(&basic("c", "hunter2"))).unwrap())
                .find("hunter2")
                .is_none()
        );
    }

    #[test]
    fn oversized_params_are_refused() {
        let big: &'static str = Box::leak("x".repeat(MAX_PARAM_LEN + 1).into_boxed_str());
        let r = req(&[("grant_type", "password"), ("username", big)], None).unwrap();
        assert!(matches!(r.param("username"), Err(OAuthError::InvalidRequest(_))));
    }
}

/// Properties of the token-endpoint form and of HTTP Basic over untrusted input.
#[cfg(test)]
mod props {
    use std::borrow::Cow;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use oxide_auth::endpoint::NormalizedParameter;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;

    use super::*;

    fn form(pairs: &[(String, String)]) -> NormalizedParameter {
        let mut p = NormalizedParameter::new();
        for (k, v) in pairs {
            p.insert_or_poison(Cow::Owned(k.clone()), Cow::Owned(v.clone()));
        }
        p
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// RFC 6749 §2.3.1: any id and secret, form-encoded then base64'd, parse back exactly.
        #[test]
        fn basic_round_trips(id in "\\PC{1,40}", secret in "\\PC{0,60}") {
            let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
            let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
            let (got_id, got_secret) = parse_basic(&header).expect("well-formed Basic parses");
            prop_assert_eq!(got_id, id);
            prop_assert_eq!(got_secret, secret.into_bytes());
        }

        /// Any Authorization header: an answer (never a panic), and a refusal is `invalid_client`.
        #[test]
        fn basic_never_panics(header in any::<String>()) {
            if let Err(e) = parse_basic(&header) {
                prop_assert_eq!(e.body().error.as_str(), "invalid_client");
            }
        }

        /// Any form, any header: a parsed request or an RFC error with a client-error status.
        #[test]
        fn token_form_answers_every_input(
            pairs in prop::collection::vec(
                (prop_oneof![Just("grant_type".to_owned()), Just("client_id".to_owned()),
                    Just("client_secret".to_owned()), Just("scope".to_owned()), "[a-z_]{1,12}"],
                 "\\PC{0,40}"),
                0..8),
            header in prop::option::of("(Basic|Bearer|basic) [A-Za-z0-9+/=:]{0,40}"),
        ) {
            match TokenRequest::new(form(&pairs), header.as_deref()) {
                Ok(req) => prop_assert!(!req.grant_type.as_str().is_empty()),
                Err(e) => prop_assert!((400..500).contains(&e.status()), "{e:?}"),
            }
        }

        /// A parameter longer than the bound is refused, however it is spelled.
        #[test]
        fn oversized_parameters_are_refused(extra in 1usize..64) {
            let long = "x".repeat(MAX_PARAM_LEN + extra);
            let req = FormRequest::new(form(&[("scope".into(), long)]), None).expect("no client auth is fine");
            prop_assert!(req.param("scope").is_err());
        }
    }
}
