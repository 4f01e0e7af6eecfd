//! `POST /oauth2/otp` (contract §6): sends a one-time code to a phone or an email address, and
//! the parts the OTP grant shares with it (the destination parameter, the limits, sign-up).
//!
//! **The same answer whatever the account.** A known, active destination is sent a code; an
//! unknown one only when the client signs people up (`otp_signup`); a banned user never. Each
//! is answered 200 with the same body, and in about the same time: a request that sends
//! nothing waits as long as recent sends took ([`crate::service::SendTiming`]), so neither the answer nor its
//! timing tells whether an account exists.
//!
//! **Limits, counted before any work** (in Redis across nodes when it is configured): sends per
//! address and per client per hour (SMS pumping: many destinations from one source), one code
//! per destination per `resend_after`, sends per destination per hour. Past one: 429 with
//! `Retry-After`.
//!
//! **Nothing half-written.** The code is sent first and stored after: a sender that fails
//! leaves the destination's earlier code (if any) as it was, and is answered 503.

use std::time::Instant;

use chrono::Duration;
use portcullis_domain::audit::AuditKind;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::{UserId, Username};
use portcullis_domain::otp::{self, Destination, Email, OtpMessage, Phone};
use portcullis_domain::ports::{NewCode, StoreError};
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{User, UserStatus};

use super::password::{Attempt, address_key, login_event};
use crate::error::OAuthError;
use crate::request::{FormRequest, RequestContext};
use crate::service::TokenService;

/// The answer to a send: how long the code works, and when another may be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeSent {
    pub expires_in: u64,
    pub resend_after: u64,
}

/// The destination of a send or a grant: exactly one of `phone` and `email`, well formed.
pub(crate) fn destination(req: &FormRequest) -> Result<Destination, OAuthError> {
    destination_of(req.param("phone")?.as_deref(), req.param("email")?.as_deref())
}

/// Exactly one of a phone number (E.164) and an email address, well formed.
pub fn destination_of(phone: Option<&str>, email: Option<&str>) -> Result<Destination, OAuthError> {
    let bad = |e: portcullis_domain::ids::InvalidId| OAuthError::InvalidRequest(e.to_string().into());
    match (phone, email) {
        // A bare `+` in a form body reads as a space: say so, the usual slip with curl -d.
        (Some(phone), None) if phone.starts_with(' ') && phone[1..].starts_with(|c: char| c.is_ascii_digit()) => {
            Err(OAuthError::invalid_request(
                "phone must start with + and the country code; in a form body a + is written %2B (a bare + reads as a space)",
            ))
        }
        (Some(phone), None) => Phone::parse(phone).map(Destination::Phone).map_err(bad),
        (None, Some(email)) => Email::parse(email).map(Destination::Email).map_err(bad),
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send phone or email, not both")),
        (None, None) => Err(OAuthError::invalid_request("phone (E.164, e.g. +8613800138000) or email is required")),
    }
}

/// Counts one event under `key` and refuses it (429) once `allowed` are spent in `window`;
/// else the seconds until the window ends.
pub(crate) async fn limit(svc: &TokenService, key: &str, allowed: u32, window: Duration) -> Result<u64, OAuthError> {
    match svc.deps.otp.attempts.hit(key, window).await {
        Ok((n, left)) if n > allowed => {
            metrics::counter!("portcullis_otp_limited_total", "limit" => key.split(':').next().unwrap_or("otp").to_owned())
                .increment(1);
            Err(OAuthError::TooManyAttempts { retry_after: left.max(1), description: limit_description(key).into() })
        }
        Ok((_, left)) => Ok(left),
        // A counter that cannot count must not open the gate: refuse for now (codes cost money,
        // and guesses must stay counted), where the login throttle lets a password through.
        Err(e) => {
            tracing::error!(error = %portcullis_domain::error::Chain(&e), "one-time-code limit counter failed");
            Err(OAuthError::Unavailable {
                retry_after: 5,
                description: "cannot count requests right now; retry shortly".into(),
            })
        }
    }
}

fn limit_description(key: &str) -> &'static str {
    match key.split(':').next() {
        Some("otp-resend") => {
            "a code was sent to this destination moments ago; wait before asking again (see Retry-After)"
        }
        Some("otp-dest") => "too many codes for this destination this hour; wait (see Retry-After)",
        Some("otp-ip") => "too many codes asked for from this address this hour; wait (see Retry-After)",
        Some("otp-client") => "this client has asked for too many codes this hour; wait (see Retry-After)",
        Some("otp-verify") => "too many code attempts for this destination; wait (see Retry-After)",
        Some("signup-ip") => "too many accounts created from this address this hour; wait (see Retry-After)",
        Some("otp-verify-ip") => "too many code attempts from this address this hour; wait (see Retry-After)",
        _ => "too many requests; wait (see Retry-After)",
    }
}

/// The account page's name where a client id would go: the audit rows of its sign-ins and the
/// binding of the codes it sends. Not a valid client id (it has a `:`), so no client can spend
/// its codes. Its sends count per address and per destination, never on a per-client quota:
/// a quota shared by everyone signing in here would let anyone use it up and shut them out.
pub const ACCOUNT_PAGE: &str = "portcullis:account";

/// A destination as a person types it into the login page: an email address if it has an
/// `@`, else a phone number.
pub(crate) fn typed_destination(text: &str) -> Result<Destination, OAuthError> {
    let bad = |e: portcullis_domain::ids::InvalidId| OAuthError::InvalidRequest(e.to_string().into());
    let text = text.trim();
    if text.len() > 320 {
        return Err(OAuthError::invalid_request("that is too long for a phone number or an email address"));
    }
    if text.is_empty() {
        return Err(OAuthError::invalid_request(
            "enter a phone number (with its country code, e.g. +8613800138000) or an email address",
        ));
    }
    if text.contains('@') {
        Email::parse(text).map(Destination::Email).map_err(bad)
    } else {
        Phone::parse(text).map(Destination::Phone).map_err(bad)
    }
}

/// Whether `client_id` signs people up on their first code (a client gone meanwhile does not).
pub(crate) async fn signs_up(svc: &TokenService, client_id: &str) -> Result<bool, OAuthError> {
    let Ok(id) = portcullis_domain::ids::ClientId::parse(client_id) else { return Ok(false) };
    let client = svc.deps.clients.find(&id).await.map_err(|e| OAuthError::server("looking up a client", e))?;
    Ok(client.is_some_and(|c| c.otp_signup))
}

impl TokenService {
    /// Answers `POST /oauth2/otp`.
    pub async fn send_code(&self, req: &FormRequest, ctx: &RequestContext) -> Result<CodeSent, OAuthError> {
        let to = destination(req)?;
        let (client_id, _bound, registrar) = super::authenticate_and_bind(self, req, GrantType::Otp).await?;
        let signup = registrar.client().is_some_and(|c| c.otp_signup);
        deliver(self, &to, Binding::login(client_id), signup, ctx).await
    }
}

/// Who may spend a code, and whose quota sends it: a login code is the client's own; a password
/// reset's is bound apart (`reset:<client>`), so it never logs anyone in, nor a login code
/// resets a password; a new contact's is the user's (`contact:<user>`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding<'a> {
    /// Kept with the code (`otp_codes.client_id`): only a try with the same binding sees it.
    pub code: &'a str,
    /// The client that asked: its quota, and the audit rows.
    pub client_id: &'a str,
}

impl<'a> Binding<'a> {
    pub fn login(client_id: &'a str) -> Self {
        Self { code: client_id, client_id }
    }
}

/// Sends a code to `to` bound as `binding` says (its client authenticated or checked by the
/// caller) after the limits: to a known, active user, or to anyone when `signup`.
pub(crate) async fn deliver(
    svc: &TokenService,
    to: &Destination,
    binding: Binding<'_>,
    signup: bool,
    ctx: &RequestContext,
) -> Result<CodeSent, OAuthError> {
    let client_id = binding.client_id;
    let started = Instant::now();
    let otp = &svc.deps.otp;
    let policy = otp.policy;
    let cooldown = send_limits(svc, to, client_id, ctx).await?;

    let who = Attempt { ctx, client_id, device_id: None };
    let user = svc
        .deps
        .accounts
        .users
        .find_by_destination(to)
        .await
        .map_err(|e| OAuthError::server("looking up a user", e))?;
    let withheld = match &user {
        Some(u) if u.status == UserStatus::Banned => Some("banned"),
        Some(_) => None,
        None if signup => None,
        None => Some("no_account"),
    };
    let answer = CodeSent {
        expires_in: policy.code_ttl.num_seconds().max(0) as u64,
        resend_after: policy.resend_after.num_seconds().max(0) as u64,
    };
    let channel = to.channel().as_str();
    if let Some(why) = withheld {
        metrics::counter!("portcullis_otp_total", "channel" => channel, "outcome" => why).increment(1);
        let mut event = login_event(svc, AuditKind::OtpFailed, &who);
        event.user_id = user.map(|u| u.id.to_string());
        event.detail = Some(format!("{channel} not sent: {why}"));
        svc.audit(event).await;
        // A code nobody receives, so that tries against this destination go exactly as
        // against a real one (wrong, then dead after the limit, then expired): the grant's
        // answers tell no more than this one does.
        let decoy = svc.deps.hasher.hash(Secret::generate("decoy-").expose());
        let now = svc.now();
        let key = to.key();
        let kept = NewCode {
            destination: &key,
            hash: &decoy,
            client_id: binding.code,
            issued_at: now,
            expires_at: now + policy.code_ttl,
        };
        // This client's own (codes are per destination and client): it ends no code that
        // another app sent.
        otp.codes.put_code(kept).await.map_err(|e| OAuthError::server("storing a one-time code", e))?;
        // As long as a send would have taken.
        tokio::time::sleep(otp.timing.typical(to.channel()).saturating_sub(started.elapsed())).await;
        return Ok(answer);
    }

    send_and_store(svc, to, binding, cooldown, started).await?;
    let mut event = login_event(svc, AuditKind::OtpSent, &who);
    event.user_id = user.map(|u| u.id.to_string());
    event.detail = Some(channel.to_owned());
    svc.audit(event).await;
    Ok(answer)
}

/// The limits of every send, counted before any work: per address and per client an hour, one
/// code per destination per `resend_after`, codes per destination an hour. Returns the seconds
/// left of the resend cooldown this send starts.
pub(crate) async fn send_limits(
    svc: &TokenService,
    to: &Destination,
    client_id: &str,
    ctx: &RequestContext,
) -> Result<u64, OAuthError> {
    let otp = &svc.deps.otp;
    let policy = otp.policy;
    if !otp.sender.sends(to.channel()) {
        return Err(OAuthError::InvalidRequest(
            format!("this server sends no {} codes (otp.sender = {})", to.channel(), otp.sender.name()).into(),
        ));
    }
    let hour = Duration::hours(1);
    limit(svc, &format!("otp-ip:{}", address_key(ctx.ip.as_deref())), policy.sends_per_address, hour).await?;
    // The account page has no client whose spending to cap (see [`ACCOUNT_PAGE`]).
    if client_id != ACCOUNT_PAGE {
        limit(svc, &format!("otp-client:{client_id}"), policy.sends_per_client, hour).await?;
    }
    let cooldown = limit(svc, &format!("otp-resend:{}", to.key()), 1, policy.resend_after).await?;
    limit(svc, &format!("otp-dest:{}", to.key()), policy.sends_per_destination, hour).await?;
    Ok(cooldown)
}

/// Sends a fresh code to `to` and keeps its HMAC bound as `binding` says (after the limits).
/// A sender that fails leaves nothing stored and answers 503 with the cooldown's rest.
pub(crate) async fn send_and_store(
    svc: &TokenService,
    to: &Destination,
    binding: Binding<'_>,
    cooldown: u64,
    started: Instant,
) -> Result<(), OAuthError> {
    let otp = &svc.deps.otp;
    let policy = otp.policy;
    let channel = to.channel().as_str();
    let expires_in = policy.code_ttl.num_seconds().max(0) as u64;
    let code = otp::generate_code();
    let hash = svc.deps.hasher.hash(code.expose());
    let now = svc.now();
    let message = OtpMessage { destination: to.clone(), code, expires_in };
    if let Err(e) = otp.sender.send(&message).await {
        metrics::counter!("portcullis_otp_total", "channel" => channel, "outcome" => "send_failed").increment(1);
        tracing::error!(error = %portcullis_domain::error::Chain(&e), sender = otp.sender.name(), channel, "a one-time code could not be sent");
        // The try counts as a send (the gateway may have taken it before failing): the
        // cooldown holds, and the answer says when it ends, so a retry on Retry-After is not
        // met by a 429.
        return Err(OAuthError::Unavailable {
            retry_after: cooldown.max(5),
            description: "the code could not be sent; try again shortly".into(),
        });
    }
    let key = to.key();
    let stored = NewCode {
        destination: &key,
        hash: &hash,
        client_id: binding.code,
        issued_at: now,
        expires_at: now + policy.code_ttl,
    };
    otp.codes.put_code(stored).await.map_err(|e| OAuthError::server("storing a one-time code", e))?;
    metrics::counter!("portcullis_otp_total", "channel" => channel, "outcome" => "sent").increment(1);
    // The whole request's time, which a request that sends nothing then takes too.
    otp.timing.record(to.channel(), started.elapsed());
    Ok(())
}

/// Creates the user of a destination on its first successful code (the client signs people
/// up): an account with no password, the destination on it, audited `user_created` with the
/// channel. A user made meanwhile for the same destination (an admin, say) is the one returned.
pub(crate) async fn signup(svc: &TokenService, to: &Destination, who: &Attempt<'_>) -> Result<User, OAuthError> {
    let users = &svc.deps.accounts.users;
    let now = svc.now();
    let id = UserId::generate();
    let mut user = User {
        id: id.clone(),
        username: username_for(to, &id),
        password_hash: String::new(),
        phone: match to {
            Destination::Phone(p) => Some(p.clone()),
            Destination::Email(_) => None,
        },
        email: match to {
            Destination::Email(e) => Some(e.clone()),
            Destination::Phone(_) => None,
        },
        status: UserStatus::Active,
        display_name: None,
        ban_reason: None,
        cutoffs: Default::default(),
        created_at: now,
        updated_at: now,
    };
    let mut inserted = users.insert(&user).await;
    if matches!(inserted, Err(StoreError::Conflict)) {
        // Someone has the destination now (an admin made the user meanwhile): that user.
        if let Some(existing) =
            users.find_by_destination(to).await.map_err(|e| OAuthError::server("looking up a user", e))?
        {
            return Ok(existing);
        }
        // Else the destination was taken as someone's username: the name made from the id.
        user.username = id_username(&id);
        inserted = users.insert(&user).await;
    }
    inserted.map_err(|e| OAuthError::server("creating a user", e))?;
    let mut event = login_event(svc, AuditKind::UserCreated, who);
    event.user_id = Some(id.to_string());
    event.actor = Some(id.to_string());
    event.detail = Some(format!("signup channel={}", to.channel()));
    svc.audit(event).await;
    // As stored (the database keeps microseconds): the session's check compares `updated_at`.
    users
        .find(&id)
        .await
        .map_err(|e| OAuthError::server("reading a new user", e))?
        .ok_or_else(|| OAuthError::broken("a user just created is not there"))
}

/// A signed-up user's login name: the destination itself where it fits (64 characters), else
/// one made from the user id.
fn username_for(to: &Destination, id: &UserId) -> Username {
    Username::parse(to.address()).unwrap_or_else(|_| id_username(id))
}

fn id_username(id: &UserId) -> Username {
    Username::parse(&format!("user-{id}")).expect("a user id makes a valid username")
}
