//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the end-session request's
//! checks, and the ending itself — the browser's login, the device sessions it signed in, and
//! the session the ID token hint names — through `SessionControl`, as every other logout.

use portcullis_domain::client::Client;
use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId};
use portcullis_domain::revocation::Reason;
use portcullis_domain::session::DeviceSession;
use portcullis_proto::IdTokenClaims;
use url::Url;

use crate::control::{ControlError, SessionControl};
use crate::service::TokenService;

/// The parameters of an end-session request, as sent (GET query or POST form).
#[derive(Clone, Debug, Default)]
pub struct EndSessionParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// Why an end-session request is not honoured.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    /// The request's fault: shown on an error page (400), never sent to a URI nobody registered.
    #[error("{0}")]
    Refused(&'static str),
    /// Ours: the client could not be looked up.
    #[error(transparent)]
    Store(#[from] portcullis_domain::ports::StoreError),
}

/// A checked end-session request.
#[derive(Clone, Debug)]
pub struct EndSession {
    /// The hint's claims: whom the app believes is signed in, and its session.
    pub hint: Option<IdTokenClaims>,
    /// The app that asked, if it said (by `client_id` or the hint's `aud`).
    pub client: Option<Client>,
    /// Where to send the browser afterwards: a registered post-logout URI, with `state`.
    pub redirect: Option<Url>,
}

/// Who a logout is for and what it may end, decided from the request and the browser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogoutPlan {
    /// The person must confirm first: the app did not name who is signed in here.
    pub confirm: bool,
    /// The user whose sessions on this browser's device end (with the device cookie).
    pub user: Option<UserId>,
    /// The hint's session, when it is this browser's to end.
    pub hint_session: Option<DeviceSession>,
}

impl LogoutPlan {
    /// Whether signing out ends anything at all (else the page says the browser was not signed in).
    pub fn ends_anything(&self, login_cookie: bool) -> bool {
        login_cookie || self.user.is_some() || self.hint_session.is_some()
    }
}

impl TokenService {
    /// Checks an end-session request.
    pub async fn end_session_request(&self, p: &EndSessionParams) -> Result<EndSession, EndSessionError> {
        use EndSessionError::Refused;
        let hint = match p.id_token_hint.as_deref() {
            Some(h) => {
                let ring = self.deps.issuance.keys.current();
                let claims = portcullis_tokens::verify_id_token_hint(&ring, h, &self.deps.issuance.minter.issuer)
                    .map_err(|_| Refused("id_token_hint is not an ID token this server issued"))?;
                Some(claims)
            }
            None => None,
        };
        let named = match (p.client_id.as_deref(), &hint) {
            (Some(id), Some(h)) if id != h.aud => {
                return Err(Refused("client_id is not the audience of id_token_hint"));
            }
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(h)) => Some(h.aud.clone()),
            (None, None) => None,
        };
        // A hint of a deleted client still signs the browser out, but sends it nowhere.
        let client = match &named {
            Some(id) => {
                let id = ClientId::parse(id).map_err(|_| Refused("unknown client_id"))?;
                self.deps.clients.find(&id).await?
            }
            None => None,
        };
        let redirect = match p.post_logout_redirect_uri.as_deref() {
            None => None,
            Some(uri) => {
                let client = match (&client, &named) {
                    (Some(client), _) => client,
                    (None, Some(_)) => return Err(Refused("the client of this request is unknown or deleted")),
                    (None, None) => return Err(Refused("post_logout_redirect_uri needs client_id or id_token_hint")),
                };
                if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                    return Err(Refused("post_logout_redirect_uri is not registered for this client"));
                }
                let mut url = Url::parse(uri).map_err(|_| Refused("post_logout_redirect_uri is malformed"))?;
                if let Some(state) = p.state.as_deref() {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url)
            }
        };
        Ok(EndSession { hint, client, redirect })
    }

    /// Decides a checked request for a browser: `signed_in` its live login's user, `device` its
    /// device cookie. The hint's session is this browser's when the browser is signed in as the
    /// hint's user, or when the session was opened on this browser's device; only then does the
    /// hint act — a leaked ID token, replayed from elsewhere, ends nothing. Without a live login
    /// (logins last minutes, sessions weeks) a hint bound to this device still names the user
    /// whose sessions on it end.
    pub async fn plan_logout(
        &self,
        request: &EndSession,
        signed_in: Option<&UserId>,
        device: Option<&DeviceId>,
    ) -> Result<LogoutPlan, portcullis_domain::ports::StoreError> {
        let mut bound = None;
        if let Some(hint) = &request.hint
            && let Some(sid) = hint.sid.as_deref().and_then(|s| SessionId::parse(s).ok())
            && let Some(session) = self.deps.issuance.sessions.find(&sid).await?
            && session.user_id.as_str() == hint.sub
        {
            let here =
                signed_in.is_some_and(|u| *u == session.user_id) || device.is_some_and(|d| *d == session.device_id);
            if here {
                bound = Some(session);
            }
        }
        let confirm = match (signed_in, &request.hint) {
            (Some(_), None) => true,
            (Some(user), Some(hint)) => user.as_str() != hint.sub,
            (None, _) => false,
        };
        let user = signed_in.cloned().or_else(|| bound.as_ref().map(|s| s.user_id.clone()));
        Ok(LogoutPlan { confirm, user, hint_session: bound })
    }
}

impl SessionControl<'_> {
    /// RP-initiated logout as `plan` says: the user's sessions on this browser's `device` (a
    /// kick of the device, which also ends its logins), the login by its cookie, and the hint's
    /// session.
    pub async fn log_browser_out(
        &self,
        plan: &LogoutPlan,
        login_cookie: Option<&str>,
        device: Option<&DeviceId>,
    ) -> Result<(), ControlError> {
        let svc = self.svc;
        if let (Some(user), Some(device)) = (&plan.user, device) {
            match self.kick(user, Some(device.as_str()), Reason::Logout, user.as_str()).await {
                Ok(_) | Err(ControlError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(cookie) = login_cookie {
            svc.browser_logout(cookie).await?;
        }
        if let Some(session) = &plan.hint_session {
            svc.end_session(session, Reason::Logout, session.user_id.as_str()).await?;
        }
        Ok(())
    }
}
