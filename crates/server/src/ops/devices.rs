//! A user's devices: list them, end one, end all. Shared by self-service and the admin API.

use portcullis_domain::clock::Clock;
use portcullis_domain::devices::{self, Device};
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::ports::{SessionRepo, StoreError};
use portcullis_domain::revocation::Reason;
use portcullis_domain::session::DeviceSession;
use portcullis_oauth::TokenService;
use portcullis_proto::{DeviceList, DeviceView};

/// Sessions considered when listing a user's devices (most recently seen first).
pub const MAX_SESSIONS_LISTED: u64 = 1000;

fn view(d: Device) -> DeviceView {
    DeviceView {
        device_id: d.device_id,
        browser: d.browser,
        os: d.os,
        device: d.device,
        first_seen: d.first_seen.to_rfc3339(),
        last_seen: d.last_seen.to_rfc3339(),
        last_ip: d.last_ip,
        active: d.active,
    }
}

async fn all(sessions: &dyn SessionRepo, clock: &dyn Clock, user: &UserId) -> Result<Vec<Device>, StoreError> {
    Ok(devices::group(sessions.list_for_user(user, MAX_SESSIONS_LISTED).await?, clock.now()))
}

pub async fn list(
    sessions: &dyn SessionRepo,
    clock: &dyn Clock,
    user: &UserId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<DeviceList, StoreError> {
    let (page, next_cursor) = devices::page(all(sessions, clock, user).await?, cursor, limit);
    Ok(DeviceList { devices: page.into_iter().map(view).collect(), next_cursor })
}

/// Ends every live session of `device_id` (or of every device when `None`). Returns how many
/// devices the user has under that id (0: unknown device).
pub async fn end(
    sessions: &dyn SessionRepo,
    tokens: &TokenService,
    clock: &dyn Clock,
    user: &UserId,
    device_id: Option<&str>,
    reason: Reason,
    actor: &str,
) -> Result<usize, StoreError> {
    let mine = all(sessions, clock, user).await?;
    let chosen: Vec<Device> = mine.into_iter().filter(|d| device_id.is_none_or(|id| d.device_id == id)).collect();
    end_live(tokens, chosen.iter().flat_map(|d| &d.sessions), None, reason, actor).await?;
    Ok(chosen.len())
}

/// Ends every live session of `user` but `keep` (a password change keeps the caller's).
pub async fn end_all_but(
    sessions: &dyn SessionRepo,
    tokens: &TokenService,
    user: &UserId,
    keep: &SessionId,
    reason: Reason,
    actor: &str,
) -> Result<(), StoreError> {
    let mine = sessions.list_for_user(user, MAX_SESSIONS_LISTED).await?;
    end_live(tokens, mine.iter(), Some(keep), reason, actor).await
}

async fn end_live<'a>(
    tokens: &TokenService,
    sessions: impl Iterator<Item = &'a DeviceSession>,
    keep: Option<&SessionId>,
    reason: Reason,
    actor: &str,
) -> Result<(), StoreError> {
    let live: Vec<&DeviceSession> = sessions.filter(|s| s.revoked_at.is_none() && Some(&s.id) != keep).collect();
    tokens.end_sessions(&live, reason, actor).await?;
    Ok(())
}
