//! Devices: a user's device sessions grouped by device id, as self-service and admins see them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::session::DeviceSession;

/// One device of a user: every session it opened (one per client and login), summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub device_id: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub last_ip: Option<String>,
    /// At least one of its sessions is live.
    pub active: bool,
    /// Its sessions, most recently seen first.
    pub sessions: Vec<DeviceSession>,
}

/// Groups sessions by device id; devices ordered by device id (a stable cursor order).
pub fn group(sessions: Vec<DeviceSession>, now: DateTime<Utc>) -> Vec<Device> {
    let mut by_id: BTreeMap<String, Vec<DeviceSession>> = BTreeMap::new();
    for s in sessions {
        by_id.entry(s.device_id.to_string()).or_default().push(s);
    }
    by_id
        .into_iter()
        .filter_map(|(device_id, mut sessions)| {
            sessions.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
            let latest = sessions.first()?.clone();
            Some(Device {
                device_id,
                browser: latest.browser.clone(),
                os: latest.os.clone(),
                device: latest.device.clone(),
                first_seen: sessions.iter().map(|s| s.first_seen).min()?,
                last_seen: latest.last_seen,
                last_ip: latest.last_ip.clone(),
                active: sessions.iter().any(|s| s.is_active(now)),
                sessions,
            })
        })
        .collect()
}

/// A page of devices after `cursor` (a device id), at most `limit`, and the next cursor.
pub fn page(devices: Vec<Device>, cursor: Option<&str>, limit: usize) -> (Vec<Device>, Option<String>) {
    let mut rest: Vec<Device> =
        devices.into_iter().filter(|d| cursor.is_none_or(|c| d.device_id.as_str() > c)).collect();
    let next = (rest.len() > limit).then(|| rest[limit - 1].device_id.clone());
    rest.truncate(limit);
    (rest, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientId, DeviceId, SessionId, UserId};
    use chrono::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn session(id: &str, device: &str, first: i64, last: i64, revoked: bool) -> DeviceSession {
        DeviceSession {
            id: SessionId::parse(id).unwrap(),
            user_id: UserId::parse("u").unwrap(),
            client_id: ClientId::parse("c").unwrap(),
            device_id: DeviceId::parse(device).unwrap(),
            fingerprint: "fp".into(),
            browser: format!("browser-{id}"),
            os: "Linux".into(),
            device: "Other".into(),
            scope: String::new(),
            last_ip: Some(format!("10.0.0.{last}")),
            first_seen: t(first),
            last_seen: t(last),
            idle_expires_at: t(last) + Duration::days(14),
            absolute_expires_at: t(first) + Duration::days(90),
            revoked_at: revoked.then(|| t(last)),
            revoked_reason: None,
        }
    }

    #[test]
    fn groups_by_device_and_summarises() {
        let devices = group(
            vec![
                session("s1", "laptop", 0, 10, true),
                session("s2", "laptop", 5, 20, false),
                session("s3", "phone", 1, 2, true),
            ],
            t(30),
        );
        assert_eq!(devices.len(), 2);
        let laptop = &devices[0];
        assert_eq!((laptop.device_id.as_str(), laptop.first_seen, laptop.last_seen), ("laptop", t(0), t(20)));
        assert_eq!(laptop.browser, "browser-s2", "the latest session speaks for the device");
        assert!(laptop.active);
        assert!(!devices[1].active);
    }

    #[test]
    fn pages_with_a_cursor() {
        let devices = group((0..5).map(|i| session(&format!("s{i}"), &format!("d{i}"), 0, 1, false)).collect(), t(2));
        let (first, next) = page(devices.clone(), None, 2);
        assert_eq!(first.iter().map(|d| d.device_id.as_str()).collect::<Vec<_>>(), ["d0", "d1"]);
        assert_eq!(next.as_deref(), Some("d1"));
        let (second, next) = page(devices.clone(), next.as_deref(), 2);
        assert_eq!(second[0].device_id, "d2");
        assert_eq!(next.as_deref(), Some("d3"));
        let (last, next) = page(devices, Some("d3"), 2);
        assert_eq!((last.len(), next), (1, None));
    }
}
