//! `grant_type=urn:portcullis:params:oauth:grant-type:otp` (contract §6): the one-time code
//! sent by `POST /oauth2/otp` logs its owner in on a device, exactly as a password would: the
//! same client checks, scope negotiation, device session, refresh token and audit trail, so
//! rotation, fingerprints, kicks and bans apply unchanged.
//!
//! A try is counted before its digits are compared (the destination's hourly limit, then the
//! code's own count, one atomic statement), so parallel guesses get no more tries than the
//! rules allow; the digits are compared in constant time; the first right try wins the code
//! by a conditional update, so a code works once even for two tries in the same instant.

use portcullis_domain::audit::AuditKind;
use portcullis_domain::grant::GrantType;
use portcullis_domain::otp::{self, CodeRefusal, Destination};
use portcullis_domain::user::{User, UserStatus};
use portcullis_proto::TokenResponse;

use super::password::{Attempt, address_key, login_event};
use super::send_code::{Binding, destination, limit, signup};
use crate::error::OAuthError;
use crate::request::{RequestContext, TokenRequest};
use crate::service::TokenService;

pub(crate) async fn run(
    svc: &TokenService,
    req: &TokenRequest,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let to = destination(req)?;
    let code = req.required("code")?;
    let (client_id, registrar, pre_grant, device) = super::start_owner_grant(svc, req, ctx, GrantType::Otp).await?;
    let device_id = device.device_id.clone();
    let who = Attempt { ctx, client_id, device_id: Some(device_id.as_str()) };
    let signup = registrar.client().is_some_and(|c| c.otp_signup);
    let (user, at) = redeem(svc, &to, &code, signup, &who).await?;
    let issued = super::issue_for_user(svc, &registrar, pre_grant, device, &user, at).await?;
    metrics::counter!("portcullis_otp_total", "channel" => to.channel().as_str(), "outcome" => "login").increment(1);
    let mut event = login_event(svc, AuditKind::LoginSucceeded, &who);
    event.user_id = Some(user.id.to_string());
    event.actor = Some(user.id.to_string());
    event.detail = Some(match issued.minted.claims.sid.as_deref() {
        Some(sid) => format!("method=otp channel={} sid={sid}", to.channel()),
        None => format!("method=otp channel={}", to.channel()),
    });
    svc.audit(event).await;
    Ok(issued.into_response())
}

/// Spends `code` for `to` on behalf of `who.client_id`, then finds its owner (signing them up
/// when `signup`). A banned owner is refused. Returns the user and when the try began (the
/// authentication time). Shared by the grant and the login page.
pub(crate) async fn redeem(
    svc: &TokenService,
    to: &Destination,
    code: &str,
    signup: bool,
    who: &Attempt<'_>,
) -> Result<(User, chrono::DateTime<chrono::Utc>), OAuthError> {
    let at = spend(svc, to, code, Binding::login(who.client_id), who).await?;
    let user = owner(svc, to, signup, who).await?;
    if user.status == UserStatus::Banned {
        let mut event = login_event(svc, AuditKind::LoginFailed, who);
        event.user_id = Some(user.id.to_string());
        event.detail = Some("method=otp banned".to_owned());
        svc.audit(event).await;
        return Err(OAuthError::InvalidGrant("this account is banned; contact an administrator".into()));
    }
    Ok((user, at))
}

/// Spends `code` for `to`, bound as `binding` says: counts the try (this address's tries over
/// every destination, then this destination's over all its codes with this binding, then the
/// code's own count), compares the digits in constant time, and wins the code once. Returns
/// when the try began.
pub(crate) async fn spend(
    svc: &TokenService,
    to: &Destination,
    code: &str,
    binding: Binding<'_>,
    who: &Attempt<'_>,
) -> Result<chrono::DateTime<chrono::Utc>, OAuthError> {
    let otp = &svc.deps.otp;
    let policy = otp.policy;
    let bound = binding.code;
    // Counted before anything is looked up: this address's tries this hour, over every
    // destination (guesses spread thin), then this destination's, over all its codes — per
    // binding, so another app's guesses cannot lock it out of this one. (No per-client limit:
    // a client's tries reach only its own codes, at most `sends_per_client` an hour with
    // `max_attempts` each, and such a limit would let anyone lock the whole app out.)
    let hour = chrono::Duration::hours(1);
    let address = format!("otp-verify-ip:{}", address_key(who.ctx.ip.as_deref()));
    limit(svc, &address, policy.verifications_per_address, hour).await?;
    let verify_key = format!("otp-verify:{bound}:{}", to.key());
    limit(svc, &verify_key, policy.verifications_per_destination, hour).await?;
    if !otp::is_code_shaped(code) {
        return Err(refuse(svc, to, who, CodeRefusal::Wrong).await);
    }
    let at = svc.now();
    let key = to.key();
    let tried = otp.codes.try_code(&key, bound).await.map_err(|e| OAuthError::server("reading a one-time code", e))?;
    if let Some(why) = otp::check(tried.as_ref().map(|(c, _)| c), bound, at, &policy) {
        return Err(refuse(svc, to, who, why).await);
    }
    let Some((_, stored)) = tried else { return Err(OAuthError::broken("a checked code was not there")) };
    if !svc.deps.hasher.verify(code.as_bytes(), &stored) {
        return Err(refuse(svc, to, who, CodeRefusal::Wrong).await);
    }
    let won = otp
        .codes
        .use_code(&key, bound, &stored, policy.max_attempts, at)
        .await
        .map_err(|e| OAuthError::server("using a one-time code", e))?;
    if !won {
        // Another try of the same code got there first (or it was replaced in between).
        return Err(refuse(svc, to, who, CodeRefusal::Used).await);
    }
    Ok(at)
}

/// The user the destination belongs to, made now when the client signs people up.
async fn owner(svc: &TokenService, to: &Destination, signs_up: bool, who: &Attempt<'_>) -> Result<User, OAuthError> {
    let users = &svc.deps.accounts.users;
    if let Some(user) = users.find_by_destination(to).await.map_err(|e| OAuthError::server("looking up a user", e))? {
        return Ok(user);
    }
    if !signs_up {
        // The account went between the code and its use (a code is only sent to an account,
        // or for a client that signs people up).
        return Err(OAuthError::InvalidGrant("no account has this destination".into()));
    }
    signup(svc, to, who).await
}

/// Counts, audits and words a refused try: `invalid_grant` with the refusal's description.
async fn refuse(svc: &TokenService, to: &Destination, who: &Attempt<'_>, why: CodeRefusal) -> OAuthError {
    let channel = to.channel().as_str();
    metrics::counter!("portcullis_otp_total", "channel" => channel, "outcome" => refusal_name(why)).increment(1);
    let mut event = login_event(svc, AuditKind::OtpFailed, who);
    event.detail = Some(format!("{channel} {}", refusal_name(why)));
    svc.audit(event).await;
    OAuthError::InvalidGrant(why.to_string().into())
}

fn refusal_name(why: CodeRefusal) -> &'static str {
    match why {
        CodeRefusal::None => "no_code",
        CodeRefusal::Expired => "expired",
        CodeRefusal::Used => "used",
        CodeRefusal::Dead => "dead",
        CodeRefusal::Wrong => "wrong",
    }
}
