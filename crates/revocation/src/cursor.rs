//! Which revocation ids this node has taken in, despite ids that commit out of order.
//!
//! PostgreSQL hands out ids when a transaction inserts, not when it commits, so id 42 may
//! become visible after 43. The cursor remembers what it took above its low-water mark and
//! waits `GAP_WAIT` for a missing id before giving up on it (a rolled-back insert leaves a hole
//! for ever).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long a missing id is waited for.
pub const GAP_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Cursor {
    /// Every id up to here has been taken in (or given up on).
    pub low: i64,
    /// Ids above `low` already taken in.
    seen: BTreeSet<i64>,
    gap_since: Option<Instant>,
}

impl Cursor {
    pub fn at(low: i64) -> Self {
        Self { low, ..Self::default() }
    }

    /// Marks `id` taken in; false when it already was.
    pub fn take(&mut self, id: i64) -> bool {
        id > self.low && self.seen.insert(id)
    }

    /// Moves the low-water mark over contiguous ids, and over a gap older than `GAP_WAIT`.
    pub fn advance(&mut self, now: Instant) {
        loop {
            while self.seen.first() == Some(&(self.low + 1)) {
                self.seen.pop_first();
                self.low += 1;
            }
            let Some(&next) = self.seen.first() else {
                self.gap_since = None;
                return;
            };
            match self.gap_since {
                None => {
                    self.gap_since = Some(now);
                    return;
                }
                Some(since) if now.duration_since(since) >= GAP_WAIT => {
                    self.low = next - 1;
                    self.gap_since = None;
                }
                Some(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_late_id_then_gives_up() {
        let t0 = Instant::now();
        let mut c = Cursor::at(40);
        assert!(c.take(41) && c.take(43));
        assert!(!c.take(43) && !c.take(40));
        c.advance(t0);
        assert_eq!(c.low, 41);
        // 42 arrives late: taken, and the mark moves over both.
        assert!(c.take(42));
        c.advance(t0 + Duration::from_secs(1));
        assert_eq!(c.low, 43);
        // 44 never comes.
        assert!(c.take(45));
        c.advance(t0);
        assert_eq!(c.low, 43);
        c.advance(t0 + GAP_WAIT);
        assert_eq!(c.low, 45);
    }
}
