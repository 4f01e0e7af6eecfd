//! Refresh-token rotation, atomically and in batches: the families' locks, the domain's
//! `decide`, the writes and the audit events, in one transaction per batch.
//!
//! **Batches.** Refreshes arriving at a node queue for a few workers. A worker takes the first
//! waiting refresh and every other one already waiting (at most [`MAX_BATCH`]) and rotates them
//! together: BEGIN, one lock statement, one or two reads, the writes, COMMIT, whatever the batch
//! size. A refresh that finds a worker idle is a batch of one and waits for nothing; under load
//! the round trips, statements and commits are shared by the whole batch. Should a batch fail
//! as a whole (a lost connection, say), its refreshes are rotated again one by one, so no refresh
//! fails for sharing a batch.
//!
//! **Locks.** The locks come first and every read the decisions use is made under them, so two
//! refreshes of one family never decide on the same facts, and no refresh decides while a
//! cut-off of its user (a ban, a password change, a kick-all) is being written. On PostgreSQL one
//! statement takes them all: `SELECT … FOR SHARE OF users FOR UPDATE OF device_sessions` over
//! the sessions of the presented tokens joined to their users, in (user id, session id) order,
//! each user's share lock before its sessions' exclusive locks (a cut-off takes the user's
//! exclusive lock before anything else, so it waits for deciding refreshes and they wait for it:
//! decision 0011; two batches on two nodes that share users or sessions lock them in the same
//! order and cannot deadlock; concurrent refreshes of one family queue behind its lock, other
//! families do not); the locked rows come back in their latest version. On SQLite a no-op
//! update of those sessions takes the database's write lock up front, so the transaction never has to upgrade a stale read snapshot. The tokens
//! are read next, in their own statement (PostgreSQL runs at READ COMMITTED, checked at start by
//! `connect`, so it sees what the locks' previous holders committed). Always sessions first, then
//! tokens: one lock order for every transaction, so a retry and a refresh racing in one family
//! cannot deadlock.
//!
//! **One decision per family per batch.** Two refreshes of one family in one batch (the same
//! token sent twice, a retry beside a replay) must see each other's effect, so only the first is
//! decided; the others go into the next batch, which sees the first one's writes.
//!
//! On PostgreSQL the rotations' writes go as one statement (data-modifying CTEs over the batch's
//! rows, passed as one JSON parameter, so the statement text and its prepared plan are the same
//! for every batch size). On SQLite (in-process: a statement costs no round trip) they go one by
//! one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use portcullis_domain::audit::{AuditEvent, AuditKind};
use portcullis_domain::ports::{RotateOutcome, RotateRequest, StoreError};
use portcullis_domain::revocation::{NewRevocation, Target};
use portcullis_domain::rotation::{Decision, Owner, Presentation, RevokeReason, decide, slid_expiry};
use portcullis_domain::scope::Scope;
use portcullis_domain::session::{DeviceSession, RefreshTokenRecord};
use portcullis_domain::user::{Cutoffs, UserStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    FromQueryResult, QueryFilter, Statement, TransactionTrait,
};
use serde::Serialize;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::entities::{device_session, refresh_token};
use crate::error::store_err;
use crate::json_params;
use crate::users::{GATE_COLUMNS, Gate};

/// The most refreshes one transaction rotates.
pub(crate) const MAX_BATCH: usize = 64;
/// Refreshes waiting for a worker before `rotate` itself waits.
const QUEUE: usize = 1024;

/// The node's rotation workers and the queue that feeds them.
#[derive(Debug)]
pub(crate) struct RotationQueue {
    jobs: mpsc::Sender<Job>,
}

impl RotationQueue {
    /// Starts the workers on the current tokio runtime: four on PostgreSQL (batches in flight
    /// overlap one another's round trips), each on a connection of the workers' own
    /// [`point_lookup_pool`], one on SQLite (it has one writer anyway). They stop when the queue
    /// is dropped.
    pub(crate) fn start(db: DatabaseConnection) -> Self {
        let (db, workers) = match db.get_database_backend() {
            DbBackend::Postgres => (point_lookup_pool(&db, 4), 4),
            _ => (db, 1),
        };
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers {
            tokio::spawn(work(db.clone(), Arc::clone(&queue)));
        }
        Self { jobs }
    }

    pub(crate) async fn rotate(&self, req: RotateRequest<'_>) -> Result<RotateOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let job = Job { req: Request::from(req), reply, queued: Instant::now() };
        self.jobs.send(job).await.map_err(|_| StoreError::malformed("the rotation workers have stopped"))?;
        outcome.await.map_err(|_| StoreError::malformed("a rotation worker stopped mid-batch"))?
    }
}

/// A [`RotateRequest`] the caller no longer has to keep alive.
struct Request {
    token_hash: String,
    client_id: String,
    fingerprint: String,
    scope: Option<Scope>,
    new_id: String,
    new_hash: String,
    now: DateTime<Utc>,
    grace: Duration,
    idle_ttl: Duration,
    ip: Option<String>,
    audit: AuditEvent,
}

impl From<RotateRequest<'_>> for Request {
    fn from(r: RotateRequest<'_>) -> Self {
        Self {
            token_hash: r.token_hash.as_str().to_owned(),
            client_id: r.by.client_id.to_owned(),
            fingerprint: r.by.fingerprint.to_owned(),
            scope: r.by.scope.cloned(),
            new_id: r.new_id,
            new_hash: r.new_hash.as_str().to_owned(),
            now: r.now,
            grace: r.grace,
            idle_ttl: r.idle_ttl,
            ip: r.ip.map(|s| s.chars().take(64).collect()),
            audit: r.audit,
        }
    }
}

struct Job {
    req: Request,
    reply: oneshot::Sender<Result<RotateOutcome, StoreError>>,
    /// When it joined the queue: the wait for a worker is half of a refresh's latency.
    queued: Instant,
}

async fn work(db: DatabaseConnection, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut jobs = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else { return };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        while !jobs.is_empty() {
            jobs = run(&db, jobs).await;
        }
    }
}

/// Rotates `jobs` and answers them; returns the ones left for the next batch.
async fn run(db: &DatabaseConnection, jobs: Vec<Job>) -> Vec<Job> {
    let requests: Vec<&Request> = jobs.iter().map(|j| &j.req).collect();
    metrics::histogram!("portcullis_refresh_batch_size").record(requests.len() as f64);
    let started = Instant::now();
    for job in &jobs {
        metrics::histogram!("portcullis_refresh_queue_wait_seconds")
            .record(started.saturating_duration_since(job.queued).as_secs_f64());
    }
    let result = rotate_batch(db, &requests).await;
    metrics::histogram!("portcullis_refresh_batch_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(outcomes) => {
            let mut later = Vec::new();
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                match outcome {
                    Some(outcome) => {
                        // The caller may have gone (a dropped connection); the rotation stands.
                        let _ = job.reply.send(Ok(outcome));
                    }
                    None => later.push(job),
                }
            }
            later
        }
        Err(e) if jobs.len() == 1 => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %portcullis_domain::error::Chain(&e), size = jobs.len(), "a rotation batch failed; rotating its refreshes one by one");
            for job in jobs {
                let outcome = match rotate_batch(db, &[&job.req]).await {
                    Ok(mut outcomes) => outcomes
                        .pop()
                        .flatten()
                        .ok_or_else(|| StoreError::malformed("a batch of one refresh left it undecided")),
                    Err(e) => Err(e),
                };
                let _ = job.reply.send(outcome);
            }
            Vec::new()
        }
    }
}

/// PostgreSQL: locks the families of the tokens with `hashes` and their users, in one
/// statement, and returns the sessions and the users' gates by id. Rows are locked as they come
/// out, in (user id, session id) order: each user's share lock, then its sessions' exclusive
/// locks. That is one order over every user and session, the order a cut-off keeps too (its
/// user's exclusive lock before anything else, then that user's sessions: decision 0011), so two
/// batches on two nodes, or a batch and a cut-off, cannot deadlock. Concurrent refreshes of one
/// family queue behind its lock, other families do not. Locked rows come back in their latest
/// version, so a ban or kick committed while this waited is seen.
async fn lock_families_and_owners(
    txn: &DatabaseTransaction,
    hashes: &[&str],
) -> Result<(HashMap<String, DeviceSession>, HashMap<String, Gate>), StoreError> {
    let gate: Vec<String> = GATE_COLUMNS.split(", ").map(|c| format!("u.{c} AS gate_{c}")).collect();
    let sql = format!(
        "SELECT s.*, {} FROM device_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id IN (SELECT session_id FROM refresh_tokens WHERE token_hash {}) \
         ORDER BY u.id, s.id FOR SHARE OF u FOR UPDATE OF s",
        gate.join(", "),
        json_params::in_list(DbBackend::Postgres, 1)
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [json_params::list(hashes.iter().copied())],
        ))
        .await
        .map_err(store_err)?;
    let (mut sessions, mut owners) = (HashMap::new(), HashMap::new());
    for r in &rows {
        let session = device_session::Model::from_query_result(r, "").map_err(store_err)?;
        let gate = Gate::from_query_result(r, "gate_").map_err(store_err)?;
        sessions.insert(session.id.clone(), session.into_domain()?);
        owners.insert(gate.id.clone(), gate);
    }
    Ok((sessions, owners))
}

/// SQLite: locks the families of the tokens with `hashes` (a no-op update takes the database's
/// write lock up front, so the transaction never has to upgrade a stale read snapshot) and
/// returns their sessions, by id.
async fn lock_sessions(
    txn: &DatabaseTransaction,
    hashes: &[&str],
) -> Result<HashMap<String, DeviceSession>, StoreError> {
    let backend = txn.get_database_backend();
    // Of a column no foreign key refers to.
    let sql = format!(
        "UPDATE device_sessions SET revoked_at = revoked_at WHERE id IN \
         (SELECT session_id FROM refresh_tokens WHERE token_hash {}) RETURNING *",
        json_params::in_list(backend, 1)
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [json_params::list(hashes.iter().copied())]))
        .await
        .map_err(store_err)?;
    rows.iter()
        .map(|r| {
            let m = device_session::Model::from_query_result(r, "").map_err(store_err)?;
            Ok((m.id.clone(), m.into_domain()?))
        })
        .collect()
}

/// SQLite: the users of the families of the tokens with `hashes`, by id, read under the write
/// lock the transaction already holds.
async fn owners(txn: &DatabaseTransaction, hashes: &[&str]) -> Result<HashMap<String, Gate>, StoreError> {
    let backend = txn.get_database_backend();
    let sql = format!(
        "SELECT {GATE_COLUMNS} FROM users WHERE id IN (SELECT s.user_id FROM device_sessions s \
         WHERE s.id IN (SELECT session_id FROM refresh_tokens WHERE token_hash {}))",
        json_params::in_list(backend, 1)
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [json_params::list(hashes.iter().copied())]))
        .await
        .map_err(store_err)?;
    rows.iter()
        .map(|r| {
            let g = Gate::from_query_result(r, "").map_err(store_err)?;
            Ok((g.id.clone(), g))
        })
        .collect()
}

/// What the batch read under its locks: tokens by hash, and the live successors of the used
/// ones by parent id.
struct Read {
    tokens: HashMap<String, (String, RefreshTokenRecord)>,
    successors: HashMap<String, RefreshTokenRecord>,
}

fn record(m: refresh_token::Model) -> (String, RefreshTokenRecord) {
    let r = RefreshTokenRecord {
        id: m.id,
        session_id: m.session_id,
        parent_id: m.parent_id,
        issued_at: m.issued_at,
        used_at: m.used_at,
        superseded_at: m.superseded_at,
        expires_at: m.expires_at,
    };
    (m.token_hash, r)
}

async fn read_tokens(txn: &DatabaseTransaction, hashes: &[&str]) -> Result<Read, StoreError> {
    let backend = txn.get_database_backend();
    let query = |sql: String, values: Vec<sea_orm::Value>| async move {
        let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await.map_err(store_err)?;
        rows.iter()
            .map(|r| refresh_token::Model::from_query_result(r, "").map(record).map_err(store_err))
            .collect::<Result<Vec<_>, StoreError>>()
    };
    let sql = format!("SELECT * FROM refresh_tokens WHERE token_hash {}", json_params::in_list(backend, 1));
    let tokens: HashMap<_, _> = query(sql, vec![json_params::list(hashes.iter().copied())])
        .await?
        .into_iter()
        .map(|(hash, t)| (hash.clone(), (hash, t)))
        .collect();
    // Only a used token can be a retry, and only then is its live successor needed.
    let used: Vec<&RefreshTokenRecord> = tokens.values().map(|(_, t)| t).filter(|t| t.used_at.is_some()).collect();
    let successors = if used.is_empty() {
        HashMap::new()
    } else {
        // session_id first: it is indexed, so the lookup stays within the families.
        let sql = format!(
            "SELECT * FROM refresh_tokens WHERE session_id {} AND parent_id {} \
             AND used_at IS NULL AND superseded_at IS NULL",
            json_params::in_list(backend, 1),
            json_params::in_list(backend, 2)
        );
        let values = vec![
            json_params::list(used.iter().map(|t| t.session_id.as_str())),
            json_params::list(used.iter().map(|t| t.id.as_str())),
        ];
        query(sql, values).await?.into_iter().filter_map(|(_, t)| Some((t.parent_id.clone()?, t))).collect()
    };
    Ok(Read { tokens, successors })
}

/// Every statement of a rotation finds its rows by key, a few per batch. PostgreSQL's planner
/// does not know that: it guesses 100 rows for a JSON list, and a table young enough to have no
/// statistics yet looks small, so it picks hash joins over sequential scans, and a prepared
/// statement keeps that plan as the table grows (seen: refresh throughput fell below that of
/// one-token-per-statement rotation on a fresh database). So the workers get a pool of their own,
/// `size` connections to the same database, on which index lookups in nested loops are the only
/// plans the planner may choose. The settings go in the connection's startup packet: no
/// round trip per transaction (a `SET LOCAL` in each cost one of the batch's seven).
fn point_lookup_pool(db: &DatabaseConnection, size: u32) -> DatabaseConnection {
    let shared = db.get_postgres_connection_pool();
    let options = (*shared.connect_options()).clone().options([
        ("enable_seqscan", "off"),
        ("enable_hashjoin", "off"),
        ("enable_mergejoin", "off"),
    ]);
    let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(shared.options().get_acquire_timeout())
        .connect_lazy_with(options);
    sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// Rotates what it can of `requests` in one transaction. Outcomes in the order of `requests`;
/// `None` for a refresh left for the next batch.
async fn rotate_batch(
    db: &DatabaseConnection,
    requests: &[&Request],
) -> Result<Vec<Option<RotateOutcome>>, StoreError> {
    let txn = db.begin().await.map_err(store_err)?;
    let hashes: Vec<&str> = requests.iter().map(|r| r.token_hash.as_str()).collect();
    let (sessions, owners_read) = match txn.get_database_backend() {
        DbBackend::Postgres => lock_families_and_owners(&txn, &hashes).await?,
        // The session statement takes the write lock; the users are read under it.
        _ => {
            let sessions = lock_sessions(&txn, &hashes).await?;
            let owners = if sessions.is_empty() { HashMap::new() } else { owners(&txn, &hashes).await? };
            (sessions, owners)
        }
    };
    if sessions.is_empty() {
        txn.rollback().await.map_err(store_err)?;
        return Ok(requests.iter().map(|_| Some(RotateOutcome::Unknown)).collect());
    }
    let mut cutoffs: HashMap<&str, Cutoffs> = HashMap::new();
    for (id, gate) in &owners_read {
        cutoffs.insert(id.as_str(), gate.cutoffs()?);
    }
    let no_cutoffs = Cutoffs::default();
    let read = read_tokens(&txn, &hashes).await?;

    let mut decided: HashSet<&str> = HashSet::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut rotations = Vec::new();
    let mut revocations = Vec::new();
    for req in requests {
        let Some((_, token)) = read.tokens.get(&req.token_hash) else {
            outcomes.push(Some(RotateOutcome::Unknown));
            continue;
        };
        // A token whose session was not locked here appeared after the lock: decide it next time.
        let Some(session) = sessions.get(&token.session_id) else {
            outcomes.push(None);
            continue;
        };
        if !decided.insert(session.id.as_str()) {
            outcomes.push(None);
            continue;
        }
        let by = Presentation { client_id: &req.client_id, fingerprint: &req.fingerprint, scope: req.scope.as_ref() };
        // A user that is gone counts as banned: its families end.
        let owner = match owners_read.get(session.user_id.as_str()) {
            Some(gate) => {
                Owner { status: gate.status(), cutoffs: cutoffs.get(session.user_id.as_str()).unwrap_or(&no_cutoffs) }
            }
            None => Owner { status: UserStatus::Banned, cutoffs: &no_cutoffs },
        };
        let live_successor = token.used_at.and(read.successors.get(&token.id));
        let now = req.now;
        let mut audit = req.audit.clone();
        audit.at = now;
        audit.user_id = Some(session.user_id.to_string());
        audit.actor = Some(session.user_id.to_string());
        audit.client_id = Some(session.client_id.to_string());
        audit.detail = Some(format!("sid={}", session.id));
        let outcome = match decide(session, owner, token, live_successor, by, now, req.grace) {
            Decision::Refuse(refusal) => RotateOutcome::Refused { session: session.clone(), refusal },
            Decision::Wait { until } => RotateOutcome::Wait { until },
            Decision::Revoke(reason) => {
                audit.kind = match reason {
                    RevokeReason::FingerprintMismatch => AuditKind::FingerprintMismatch,
                    RevokeReason::ReuseDetected => AuditKind::RefreshReuseDetected,
                    RevokeReason::UserBanned | RevokeReason::CutOff => {
                        audit.detail = Some(format!("{} sid={}", reason.as_str(), session.id));
                        AuditKind::SessionRevoked
                    }
                };
                revocations.push(Revocation { session, reason, now, audit });
                let mut session = session.clone();
                session.revoked_at = Some(now);
                session.revoked_reason = Some(reason.as_str().to_owned());
                RotateOutcome::Revoked { session, reason }
            }
            Decision::Rotate { supersede } => {
                let retry = supersede.is_some();
                let expires = slid_expiry(session, now, req.idle_ttl);
                audit.kind = AuditKind::Refreshed;
                audit.detail = Some(format!("sid={} {}", session.id, if retry { "retry" } else { "rotated" }));
                rotations.push(Rotation {
                    now,
                    // The retry: the earlier successor dies. Otherwise the presented token is used.
                    retire: match supersede {
                        Some(successor) => Retire::Superseded(successor),
                        None => Retire::Used(token.id.clone()),
                    },
                    successor_id: &req.new_id,
                    successor_hash: &req.new_hash,
                    parent: &token.id,
                    session: session.id.as_str(),
                    expires,
                    ip: req.ip.as_deref(),
                    audit,
                });
                let mut session = session.clone();
                session.last_seen = now;
                session.idle_expires_at = expires;
                session.last_ip = req.ip.clone();
                RotateOutcome::Rotated { session, retry }
            }
        };
        outcomes.push(Some(outcome));
    }

    if rotations.is_empty() && revocations.is_empty() {
        txn.rollback().await.map_err(store_err)?;
        return Ok(outcomes);
    }
    match txn.get_database_backend() {
        DbBackend::Postgres => Rotation::write_all_in_one_statement(&txn, rotations).await?,
        _ => {
            for rotation in rotations {
                rotation.write(&txn).await?;
            }
        }
    }
    for revocation in revocations {
        revocation.write(&txn).await?;
    }
    txn.commit().await.map_err(store_err)?;
    Ok(outcomes)
}

/// The token a rotation retires.
enum Retire {
    /// The presented token, now used.
    Used(String),
    /// A retry: the earlier successor, now superseded.
    Superseded(String),
}

/// What a rotation writes: the retired token, the successor under `parent`, the session's
/// sliding expiry and last sighting, the audit event.
struct Rotation<'a> {
    now: DateTime<Utc>,
    retire: Retire,
    successor_id: &'a str,
    successor_hash: &'a str,
    parent: &'a str,
    session: &'a str,
    expires: DateTime<Utc>,
    ip: Option<&'a str>,
    audit: AuditEvent,
}

impl Rotation<'_> {
    async fn write(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let (column, id) = match self.retire {
            Retire::Used(id) => (refresh_token::Column::UsedAt, id),
            Retire::Superseded(id) => (refresh_token::Column::SupersededAt, id),
        };
        refresh_token::Entity::update_many()
            .col_expr(column, Expr::value(self.now))
            .filter(refresh_token::Column::Id.eq(id))
            .exec(txn)
            .await
            .map_err(store_err)?;
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            id: Set(self.successor_id.to_owned()),
            session_id: Set(self.session.to_owned()),
            token_hash: Set(self.successor_hash.to_owned()),
            parent_id: Set(Some(self.parent.to_owned())),
            issued_at: Set(self.now),
            used_at: Set(None),
            superseded_at: Set(None),
            expires_at: Set(self.expires),
        })
        .exec_without_returning(txn)
        .await
        .map_err(store_err)?;
        device_session::Entity::update_many()
            .col_expr(device_session::Column::LastSeen, Expr::value(self.now))
            .col_expr(device_session::Column::IdleExpiresAt, Expr::value(self.expires))
            .col_expr(device_session::Column::LastIp, Expr::value(self.ip.map(str::to_owned)))
            .filter(device_session::Column::Id.eq(self.session))
            .exec(txn)
            .await
            .map_err(store_err)?;
        crate::audit::insert(txn, self.audit).await
    }

    /// PostgreSQL: every rotation's four writes as one statement, one round trip. Each row
    /// touches its own family's rows, so the CTEs (which run on one snapshot) cannot step on one
    /// another.
    async fn write_all_in_one_statement(txn: &DatabaseTransaction, all: Vec<Rotation<'_>>) -> Result<(), StoreError> {
        const SQL: &str = "\
            WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(\
                     now timestamptz, retire text, superseded boolean, successor_id text, successor_hash text, \
                     parent text, session text, expires timestamptz, last_ip text, \
                     at timestamptz, kind text, actor text, user_id text, client_id text, device_id text, \
                     ip text, user_agent text, detail text)), \
                 retired AS (UPDATE refresh_tokens t SET \
                     used_at = CASE WHEN r.superseded THEN t.used_at ELSE r.now END, \
                     superseded_at = CASE WHEN r.superseded THEN r.now ELSE t.superseded_at END \
                     FROM r WHERE t.id = r.retire), \
                 successor AS (INSERT INTO refresh_tokens \
                     (id, session_id, token_hash, parent_id, issued_at, used_at, superseded_at, expires_at) \
                     SELECT successor_id, session, successor_hash, parent, now, NULL, NULL, expires FROM r), \
                 seen AS (UPDATE device_sessions s SET last_seen = r.now, idle_expires_at = r.expires, \
                     last_ip = r.last_ip FROM r WHERE s.id = r.session) \
            INSERT INTO audit_events (at, kind, actor, user_id, client_id, device_id, ip, user_agent, detail) \
            SELECT at, kind, actor, user_id, client_id, device_id, ip, user_agent, detail FROM r";

        #[derive(Serialize)]
        struct Row<'a> {
            now: String,
            retire: &'a str,
            superseded: bool,
            successor_id: &'a str,
            successor_hash: &'a str,
            parent: &'a str,
            session: &'a str,
            expires: String,
            last_ip: Option<&'a str>,
            #[serde(flatten)]
            audit: crate::audit::Row,
        }
        let rows: Vec<Row<'_>> = all
            .iter()
            .map(|r| {
                let (retire, superseded) = match &r.retire {
                    Retire::Used(id) => (id.as_str(), false),
                    Retire::Superseded(id) => (id.as_str(), true),
                };
                Row {
                    now: json_params::timestamp(r.now),
                    retire,
                    superseded,
                    successor_id: r.successor_id,
                    successor_hash: r.successor_hash,
                    parent: r.parent,
                    session: r.session,
                    expires: json_params::timestamp(r.expires),
                    last_ip: r.ip,
                    audit: crate::audit::Row::from(r.audit.clone()),
                }
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(StoreError::backend)?;
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, SQL, [rows.into()]))
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

/// What ending a family writes: the session revoked, the audit event, the revocation event.
struct Revocation<'a> {
    session: &'a DeviceSession,
    reason: RevokeReason,
    now: DateTime<Utc>,
    audit: AuditEvent,
}

impl Revocation<'_> {
    async fn write(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        device_session::Entity::update_many()
            .col_expr(device_session::Column::RevokedAt, Expr::value(self.now))
            .col_expr(device_session::Column::RevokedReason, Expr::value(self.reason.as_str()))
            .filter(device_session::Column::Id.eq(self.session.id.as_str()))
            .exec(txn)
            .await
            .map_err(store_err)?;
        crate::audit::insert(txn, self.audit).await?;
        let target = Target::Session { sid: self.session.id.clone(), user: self.session.user_id.clone() };
        crate::revocations::insert(txn, &NewRevocation { at: self.now, target, reason: self.reason.into() }).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The batch itself, on SQLite: several families in one transaction, a second refresh of a
    //! family left for the next batch, a replay revoking beside rotations that go through.
    //! The end-to-end suite drives the same code over HTTP on SQLite and PostgreSQL.

    use portcullis_domain::ids::{ClientId, DeviceId, SessionId, UserId, Username};
    use portcullis_domain::ports::{Authenticated, Opened, SessionRepo, UserRepo};
    use portcullis_domain::secret::SecretHash;
    use portcullis_domain::session::NewRefreshToken;
    use portcullis_domain::user::{User, UserStatus};

    use super::*;
    use crate::SqlStore;

    const CLIENT: &str = "pc_batch";

    fn now() -> DateTime<Utc> {
        portcullis_domain::clock::Clock::now(&portcullis_domain::clock::SystemClock)
    }

    async fn store() -> (tempfile::TempDir, SqlStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connect(&format!("sqlite://{}/t.db", dir.path().display()), 4).await.unwrap();
        crate::migrate(&db).await.unwrap();
        (dir, SqlStore::new(db))
    }

    /// A user's new family, its first token's hash `first`.
    async fn family(store: &SqlStore, user: &UserId, first: &str) -> DeviceSession {
        let now = now();
        let session = DeviceSession {
            id: SessionId::generate(),
            user_id: user.clone(),
            client_id: ClientId::parse(CLIENT).unwrap(),
            device_id: DeviceId::generate(),
            fingerprint: format!("fp-{first}"),
            browser: "Other".into(),
            os: "Other".into(),
            device: "Other".into(),
            scope: "read".into(),
            last_ip: None,
            first_seen: now,
            last_seen: now,
            auth_time: Some(now),
            idle_expires_at: now + Duration::days(14),
            absolute_expires_at: now + Duration::days(90),
            revoked_at: None,
            revoked_reason: None,
        };
        let token = NewRefreshToken {
            id: format!("rt-{first}"),
            token_hash: SecretHash::from_stored(first.to_owned()),
            issued_at: now,
            expires_at: now + Duration::days(14),
        };
        let authenticated = Authenticated { at: now, user_version: None };
        assert_eq!(store.create(&session, Some(&token), authenticated).await.unwrap(), Opened::Opened);
        session
    }

    fn request(hash: &str, session: &DeviceSession, successor: &str) -> Request {
        Request {
            token_hash: hash.to_owned(),
            client_id: CLIENT.to_owned(),
            fingerprint: session.fingerprint.clone(),
            scope: None,
            new_id: format!("rt-{successor}"),
            new_hash: successor.to_owned(),
            now: now(),
            grace: Duration::zero(),
            idle_ttl: Duration::days(14),
            ip: Some("192.0.2.7".into()),
            audit: AuditEvent::new(now(), AuditKind::Refreshed),
        }
    }

    async fn count(store: &SqlStore, sql: &str) -> i64 {
        let row = store.db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql.to_owned())).await.unwrap();
        row.unwrap().try_get_by_index::<i64>(0).unwrap()
    }

    #[tokio::test]
    async fn one_batch_rotates_several_families_and_defers_a_family_seen_twice() {
        let (_dir, store) = store().await;
        let user = UserId::generate();
        let u = User {
            id: user.clone(),
            username: Username::parse("batch").unwrap(),
            password_hash: "not a hash".into(),
            phone: None,
            email: None,
            status: UserStatus::Active,
            display_name: None,
            ban_reason: None,
            cutoffs: Cutoffs::default(),
            created_at: now(),
            updated_at: now(),
        };
        store.insert(&u).await.unwrap();
        let a = family(&store, &user, "a0").await;
        let b = family(&store, &user, "b0").await;
        let c = family(&store, &user, "c0").await;
        // c's first token is used already: presenting it again (no grace) is a replay.
        let first = rotate_batch(&store.db, &[&request("c0", &c, "c1")]).await.unwrap();
        assert!(matches!(first[..], [Some(RotateOutcome::Rotated { retry: false, .. })]));

        let batch = [
            request("a0", &a, "a1"),
            request("b0", &b, "b1"),
            request("a0", &a, "a1-again"),
            request("c0", &c, "c2"),
            request("nobody", &a, "x1"),
        ];
        let outcomes = rotate_batch(&store.db, &batch.iter().collect::<Vec<_>>()).await.unwrap();
        assert!(
            matches!(outcomes[0], Some(RotateOutcome::Rotated { ref session, retry: false, .. }) if session.id == a.id)
        );
        assert!(
            matches!(outcomes[1], Some(RotateOutcome::Rotated { ref session, retry: false, .. }) if session.id == b.id)
        );
        assert!(outcomes[2].is_none(), "a's second refresh waits for the next batch: {:?}", outcomes[2]);
        assert!(matches!(outcomes[3], Some(RotateOutcome::Revoked { reason: RevokeReason::ReuseDetected, .. })));
        assert!(matches!(outcomes[4], Some(RotateOutcome::Unknown)));

        // The successors are stored where they belong, each family with one live token (c none).
        for (sid, live) in [(&a.id, "rt-a1"), (&b.id, "rt-b1")] {
            let sql = format!(
                "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = '{sid}' AND used_at IS NULL \
                 AND superseded_at IS NULL AND id = '{live}'"
            );
            assert_eq!(count(&store, &sql).await, 1, "{sid}");
            let all = format!(
                "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = '{sid}' AND used_at IS NULL AND superseded_at IS NULL"
            );
            assert_eq!(count(&store, &all).await, 1, "{sid}");
        }
        let revoked = format!("SELECT COUNT(*) FROM device_sessions WHERE id = '{}' AND revoked_at IS NOT NULL", c.id);
        assert_eq!(count(&store, &revoked).await, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events WHERE kind = 'refreshed'").await, 3);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events WHERE kind = 'refresh_reuse_detected'").await, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM revocation_events").await, 1);

        // Deferred, a's second refresh now sees the first one's writes: a replay (no grace).
        let later = rotate_batch(&store.db, &[&batch[2]]).await.unwrap();
        assert!(matches!(later[..], [Some(RotateOutcome::Revoked { reason: RevokeReason::ReuseDetected, .. })]));
    }

    #[tokio::test]
    async fn the_queue_answers_every_caller_of_a_burst() {
        let (_dir, store) = store().await;
        let user = UserId::generate();
        let u = User {
            id: user.clone(),
            username: Username::parse("burst").unwrap(),
            password_hash: "not a hash".into(),
            phone: None,
            email: None,
            status: UserStatus::Active,
            display_name: None,
            ban_reason: None,
            cutoffs: Cutoffs::default(),
            created_at: now(),
            updated_at: now(),
        };
        store.insert(&u).await.unwrap();
        let mut families = Vec::new();
        for i in 0..40 {
            families.push(family(&store, &user, &format!("f{i}-0")).await);
        }
        let store = Arc::new(store);
        let calls = families.iter().enumerate().map(|(i, f)| {
            let (store, f) = (Arc::clone(&store), f.clone());
            tokio::spawn(async move {
                let (hash, successor) =
                    (SecretHash::from_stored(format!("f{i}-0")), SecretHash::from_stored(format!("f{i}-1")));
                store
                    .rotate(RotateRequest {
                        token_hash: &hash,
                        by: Presentation { client_id: CLIENT, fingerprint: &f.fingerprint, scope: None },
                        new_id: format!("rt-f{i}-1"),
                        new_hash: successor,
                        now: now(),
                        grace: Duration::zero(),
                        idle_ttl: Duration::days(14),
                        ip: None,
                        audit: AuditEvent::new(now(), AuditKind::Refreshed),
                    })
                    .await
            })
        });
        for (i, call) in calls.collect::<Vec<_>>().into_iter().enumerate() {
            let outcome = call.await.unwrap().unwrap();
            assert!(
                matches!(outcome, RotateOutcome::Rotated { ref session, retry: false, .. } if session.id == families[i].id)
            );
        }
        let live = "SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL AND superseded_at IS NULL AND parent_id IS NOT NULL";
        assert_eq!(count(&store, live).await, 40);
    }
}
