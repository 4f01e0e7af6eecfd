//! The janitor: forgets history (`portcullis_domain::retention`) in small batches off the
//! request path, one node at a time (a lease in the database), with metrics per table.

use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::clock::Clock;
use portcullis_domain::policy::TokenPolicy;
use portcullis_domain::ports::{RetentionStore, StoreError};
use portcullis_domain::retention::{RetentionPolicy, Table};

/// The lease every node competes for.
const LEASE: &str = "retention";

/// How often the sessions table is swept: finding ended sessions takes a scan of it (an index
/// would cost every rotation), and a month's retention does not mind an hour's delay.
const SESSIONS_EVERY: chrono::Duration = chrono::Duration::hours(1);

/// A pause between two batches, so a long backlog is worked off without crowding requests out
/// of the database.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// How one node prunes.
pub struct Janitor {
    store: Arc<dyn RetentionStore>,
    clock: Arc<dyn Clock>,
    policy: RetentionPolicy,
    tokens: TokenPolicy,
    batch: u64,
    /// The lease is held this long past each renewal: a node that dies hands over after it.
    lease_for: chrono::Duration,
    /// This node, in the lease.
    holder: String,
    /// When this node last swept the sessions table.
    sessions_swept: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// False when another node held the lease (and this one did nothing).
    pub leader: bool,
    /// Rows deleted per table.
    pub pruned: Vec<(Table, u64)>,
}

/// What a janitor is made of.
pub struct JanitorParts {
    pub store: Arc<dyn RetentionStore>,
    pub clock: Arc<dyn Clock>,
    pub policy: RetentionPolicy,
    pub tokens: TokenPolicy,
    pub batch: u64,
    pub interval: Duration,
}

impl Janitor {
    pub fn new(p: JanitorParts) -> Self {
        let lease_for = (p.interval * 3).max(Duration::from_secs(60));
        let lease_for = chrono::Duration::from_std(lease_for).unwrap_or(chrono::Duration::MAX);
        let holder = format!("{}-{}", std::process::id(), portcullis_domain::ids::random_id());
        Self {
            store: p.store,
            clock: p.clock,
            policy: p.policy,
            tokens: p.tokens,
            batch: p.batch.max(1),
            lease_for,
            holder,
            sessions_swept: std::sync::Mutex::default(),
        }
    }

    async fn hold_lease(&self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        self.store.lease(LEASE, &self.holder, now, now + self.lease_for).await
    }

    /// Whether the sessions table is due (and if so, marks it swept now).
    fn sessions_due(&self) -> bool {
        let now = self.clock.now();
        let mut last = self.sessions_swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|at| now - at >= SESSIONS_EVERY);
        if due {
            *last = Some(now);
        }
        due
    }

    /// One pass over every table, if this node holds (or takes) the lease: batches until a table
    /// has nothing old left, the lease renewed before each table. The sessions table is visited
    /// hourly (by the clock), the others every time.
    pub async fn sweep(&self) -> Result<Swept, StoreError> {
        let mut swept = Swept::default();
        for table in Table::ALL {
            if !self.hold_lease().await? {
                return Ok(swept);
            }
            swept.leader = true;
            if table == Table::DeviceSessions && !self.sessions_due() {
                continue;
            }
            let mut total = 0;
            loop {
                let horizon = self.policy.horizon(table, &self.tokens, self.clock.now());
                let n = self.store.prune(table, horizon, self.batch).await?;
                total += n;
                metrics::counter!("portcullis_retention_pruned_total", "table" => table.as_str()).increment(n);
                if n < self.batch {
                    break;
                }
                tokio::time::sleep(BATCH_PAUSE).await;
            }
            let age = match self.store.oldest(table).await? {
                Some(at) => (self.clock.now() - at).num_milliseconds().max(0) as f64 / 1000.0,
                None => 0.0,
            };
            metrics::gauge!("portcullis_retention_oldest_row_age_seconds", "table" => table.as_str()).set(age);
            swept.pruned.push((table, total));
        }
        Ok(swept)
    }

    /// Sweeps every `every` (the first after one interval), logging what went and any failure.
    pub fn spawn(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.sweep().await {
                    Ok(s) if s.pruned.iter().any(|(_, n)| *n > 0) => {
                        let rows: Vec<String> = s.pruned.iter().map(|(t, n)| format!("{}={n}", t.as_str())).collect();
                        tracing::info!(pruned = %rows.join(" "), "retention sweep");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %portcullis_domain::error::Chain(&e), "retention sweep failed; retrying at the next interval")
                    }
                }
            }
        })
    }
}
