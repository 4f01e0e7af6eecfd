//! How many revocation-feed streams each client holds open on this node
//! (`revocation.feed_max_per_client`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The open feed streams of each client on this node.
#[derive(Debug, Default)]
pub struct FeedConnections(Mutex<HashMap<String, usize>>);

/// One open stream; dropping it (the stream ends) frees its place.
pub struct FeedSlot {
    registry: Arc<FeedConnections>,
    client: String,
}

impl FeedConnections {
    /// A place for one more stream of `client`, if it has fewer than `max`.
    pub fn acquire(self: &Arc<Self>, client: &str, max: usize) -> Option<FeedSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(client.to_owned()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(FeedSlot { registry: Arc::clone(self), client: client.to_owned() })
    }
}

impl Drop for FeedSlot {
    fn drop(&mut self) {
        let mut open = self.registry.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}
