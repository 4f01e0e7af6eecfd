//! Devices: a user's device sessions grouped by device id, as self-service and admins see them.

use chrono::{DateTime, Utc};

/// One device of a user: every session it opened (one per client and login), summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub device_id: String,
    /// Browser, OS and device families, and the last address, of its most recently seen session.
    pub browser: String,
    pub os: String,
    pub device: String,
    pub last_ip: Option<String>,
    /// The earliest `first_seen` and the latest `last_seen` of its sessions.
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// At least one of its sessions is live.
    pub active: bool,
}
