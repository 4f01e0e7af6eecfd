//! A user's devices, as self-service and the admin API list them: a page over every session.

use portcullis_domain::clock::Clock;
use portcullis_domain::devices::Device;
use portcullis_domain::ids::UserId;
use portcullis_domain::ports::{SessionRepo, StoreError};
use portcullis_proto::{DeviceList, DeviceView};

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

/// The devices after `cursor` (a device id), at most `limit`, each summarised over all of its
/// sessions however many there are.
pub async fn list(
    sessions: &dyn SessionRepo,
    clock: &dyn Clock,
    user: &UserId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<DeviceList, StoreError> {
    let devices = sessions.devices(user, cursor, limit as u64 + 1, clock.now()).await?;
    let (page, next_cursor) = super::cut(devices, limit, |d| d.device_id.clone());
    Ok(DeviceList { devices: page.into_iter().map(view).collect(), next_cursor })
}
