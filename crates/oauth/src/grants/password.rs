//! `grant_type=password` (RFC 6749 §4.3). oxide-auth has no such flow; this one takes the
//! same steps with the same primitives as the client-credentials flow: authenticate the
//! client (`Registrar::check`), bind it to the grant (`bound_redirect`), negotiate the scope
//! (`negotiate`), then — the one extra step — authenticate the resource owner, and issue
//! (`Issuer::issue`) with a device session.

use chrono::{DateTime, Utc};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::Username;
use portcullis_domain::password::MAX_PASSWORD_LEN;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{User, UserStatus};
use portcullis_proto::TokenResponse;

use crate::error::OAuthError;
use crate::passwords::VerifyError;
use crate::request::{RequestContext, TokenRequest};
use crate::service::TokenService;

const BAD_CREDENTIALS: &str = "wrong username or password";

pub(crate) async fn run(
    svc: &TokenService,
    req: &TokenRequest,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let username = req.required("username")?;
    let password = req.required("password")?;
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Err(OAuthError::InvalidRequest(
            format!("password is longer than {MAX_PASSWORD_LEN} characters").into(),
        ));
    }
    let (client_id, registrar, pre_grant, device) =
        super::start_owner_grant(svc, req, ctx, GrantType::Password).await?;
    let device_id = device.device_id.clone();
    let who = Attempt { ctx, client_id, device_id: Some(device_id.as_str()) };
    let user_key = throttle(svc, &username, &who).await?;
    let (user, at) = authenticate_user(svc, &username, Secret::new(password.into_owned()), &who).await?;

    let issued = super::issue_for_user(svc, &registrar, pre_grant, device, &user, at).await?;
    if let Err(e) = svc.deps.accounts.attempts.reset(&user_key).await {
        tracing::warn!(error = %portcullis_domain::error::Chain(&e), "could not clear the login attempt count");
    }

    let mut event = login_event(svc, AuditKind::LoginSucceeded, &who);
    event.user_id = Some(user.id.to_string());
    event.actor = Some(user.id.to_string());
    event.detail = issued.minted.claims.sid.clone().map(|sid| format!("sid={sid}"));
    svc.audit(event).await;
    Ok(issued.into_response())
}

/// Where a password attempt comes from, for the throttle and the audit trail.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt<'a> {
    pub ctx: &'a RequestContext,
    pub client_id: &'a str,
    pub device_id: Option<&'a str>,
}

/// Counts this attempt against the address, then the username — before any password is
/// checked, so parallel guesses cannot pass the limit — and refuses it past either limit.
/// Past the address's limit no username key is made at all: a flood of names from one address
/// costs one key. Returns the username's counter key (cleared after a successful login).
pub(crate) async fn throttle(svc: &TokenService, username: &str, who: &Attempt<'_>) -> Result<String, OAuthError> {
    let policy = svc.deps.accounts.throttle;
    let over = |key: String, limit: u32| async move {
        match svc.deps.accounts.attempts.hit(&key, policy.window).await {
            // The attempt that first passes the limit is the one the audit trail records.
            Ok((n, left)) => (n > limit).then_some((left, n == limit.saturating_add(1))),
            Err(e) => {
                tracing::error!(error = %portcullis_domain::error::Chain(&e), "login attempt counter failed");
                None
            }
        }
    };
    let ip_key = format!("ip:{}", address_key(who.ctx.ip.as_deref()));
    let mut refused = over(ip_key, policy.per_ip).await;
    let user_key = format!("user:{}", username.chars().take(Username::MAX_LEN).collect::<String>());
    if refused.is_none() {
        refused = over(user_key.clone(), policy.per_user).await;
    }
    if let Some((retry_after, first)) = refused {
        metrics::counter!("portcullis_logins_throttled_total").increment(1);
        // One audit row per key and window, however long the flood: the rest are counted in
        // the metric above, not written (a flood must not fill the database).
        if first {
            let mut event = login_event(svc, AuditKind::LoginFailed, who);
            event.detail = Some("throttled".to_owned());
            svc.audit(event).await;
        }
        return Err(OAuthError::TooManyAttempts {
            retry_after,
            description: "too many login attempts; wait and try again (see Retry-After)".into(),
        });
    }
    Ok(user_key)
}

/// The address an attempt is counted under: an IPv4 address, or the /64 network of an IPv6
/// one (one subscriber's allocation: an attacker holds a whole /64, not one address of it).
pub(crate) fn address_key(ip: Option<&str>) -> String {
    match ip.map(str::parse::<std::net::IpAddr>) {
        Some(Ok(std::net::IpAddr::V6(v6))) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(Ok(std::net::IpAddr::V6(v6))) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        Some(Ok(ip)) => ip.to_string(),
        _ => ip.unwrap_or("unknown").chars().take(64).collect(),
    }
}

pub(crate) fn login_event(svc: &TokenService, kind: AuditKind, who: &Attempt<'_>) -> AuditEvent {
    let mut e = AuditEvent::new(svc.now(), kind);
    e.client_id = Some(who.client_id.to_owned());
    e.device_id = who.device_id.map(str::to_owned);
    e.ip = who.ctx.ip.clone();
    e.user_agent = who.ctx.user_agent.clone();
    e
}

/// Checks the resource owner's credentials; every refusal is audited with its reason and
/// answered with the same `invalid_grant`, except a ban, which is told only to someone who
/// knows the password. Returns the user and when the check began (the session's
/// authentication time).
pub(crate) async fn authenticate_user(
    svc: &TokenService,
    username: &str,
    password: Secret,
    who: &Attempt<'_>,
) -> Result<(User, DateTime<Utc>), OAuthError> {
    let at = svc.now();
    let user = match Username::parse(username) {
        Ok(name) => svc
            .deps
            .accounts
            .users
            .find_by_username(&name)
            .await
            .map_err(|e| OAuthError::server("looking up a user", e))?,
        Err(_) => None,
    };
    check_password(svc, user, password, who).await.map(|u| (u, at))
}

/// Verifies `password` for `user` (the same time spent when there is none), auditing a refusal.
pub(crate) async fn check_password(
    svc: &TokenService,
    user: Option<User>,
    password: Secret,
    who: &Attempt<'_>,
) -> Result<User, OAuthError> {
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = svc.deps.accounts.passwords.verify(password, stored).await.map_err(|e| match e {
        VerifyError::Busy => OAuthError::Busy { retry_after: 1 },
        VerifyError::Failed(e) => OAuthError::server("verifying a password", e),
    })?;
    let failure = match (&user, matches) {
        (None, _) => Some(("unknown_user", OAuthError::InvalidGrant(BAD_CREDENTIALS.into()))),
        (Some(_), false) => Some(("wrong_password", OAuthError::InvalidGrant(BAD_CREDENTIALS.into()))),
        (Some(u), true) if u.status == UserStatus::Banned => {
            Some(("banned", OAuthError::InvalidGrant("this account is banned; contact an administrator".into())))
        }
        (Some(_), true) => None,
    };
    match (failure, user) {
        (None, Some(user)) => Ok(user),
        (Some((why, err)), user) => {
            let mut event = login_event(svc, AuditKind::LoginFailed, who);
            event.user_id = user.map(|u| u.id.to_string());
            event.detail = Some(why.to_owned());
            svc.audit(event).await;
            Err(err)
        }
        (None, None) => Err(OAuthError::broken("a password matched no user")),
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(address_key(Some("192.0.2.7")), "192.0.2.7");
        assert_eq!(address_key(Some("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some("2001:db8:1:2:ffff:ffff:ffff:ffff")), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(address_key(None), "unknown");
    }
}
