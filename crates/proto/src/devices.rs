//! Device lists, for self-service (`/me/devices`) and admins (`/admin/users/{id}/devices`).

use serde::{Deserialize, Serialize};

/// One device of a user: what the latest of its sessions says, and whether any is live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceView {
    pub device_id: String,
    /// Browser family (never a version).
    pub browser: String,
    pub os: String,
    pub device: String,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    pub last_ip: Option<String>,
    pub active: bool,
}

/// A page of devices; pass `next_cursor` back as `cursor` for the next page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
    pub next_cursor: Option<String>,
}
