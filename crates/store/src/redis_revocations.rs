//! `RevocationState` in Redis, shared by every node, and the doorbell that tells the other
//! nodes a revocation was recorded.
//!
//! Keys (under the configured prefix): `rev:complete` (the state holds every revocation in
//! force), `rev:s:{sid}`, `rev:t:{jti}`, `rev:c:{client}` (a deleted client), `rev:u:{user}` (the
//! latest user-wide cut-off, seconds)
//! and `rev:ux:{user}` (`"{seconds} {kept sid}"`, the latest cut-off sparing one session). Each
//! entry expires when the last token it could affect has expired. A check is one `MGET`.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use portcullis_domain::ports::StoreError;
use portcullis_domain::revocation::{Revocation, Target};
use portcullis_proto::TokenRef;
use portcullis_proto::feed::UserCutoff;
use portcullis_revocation::{Doorbell, RevocationState, Verdict};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one Redis call may take before the check falls back to SQL.
pub const REDIS_TIMEOUT: StdDuration = StdDuration::from_millis(500);

/// Keeps `KEYS[1]` at the larger leading number of its value and `ARGV[1]`.
const KEEP_LATEST: &str = r"
local v = redis.call('GET', KEYS[1])
if (not v) or tonumber(string.match(v, '^%d+')) < tonumber(string.match(ARGV[1], '^%d+')) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1";

fn redis_err(e: redis::RedisError) -> StoreError {
    StoreError::backend(e)
}

/// A connection manager that connects lazily and gives up fast, so that an unreachable Redis
/// costs a check `REDIS_TIMEOUT` at most, never a hang.
pub fn fast_failing_connection(client: &redis::Client) -> Result<ConnectionManager, StoreError> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(StdDuration::from_millis(100));
    ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(redis_err)
}

pub struct RedisRevocations {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisRevocations {
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self { conn, prefix: prefix.into() }
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}rev:{kind}:{id}", self.prefix)
    }

    fn complete_key(&self) -> String {
        format!("{}rev:complete", self.prefix)
    }

    async fn write(&self, revocations: &[Revocation], horizon: Duration, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for r in revocations {
            let ttl_ms = (r.expires_at(horizon) - now).num_milliseconds();
            if ttl_ms <= 0 {
                continue;
            }
            match &r.target {
                Target::Session { sid, .. } => {
                    pipe.cmd("SET").arg(self.key("s", sid.as_str())).arg(1).arg("PX").arg(ttl_ms).ignore();
                }
                Target::Token { jti } => {
                    pipe.cmd("SET").arg(self.key("t", jti)).arg(1).arg("PX").arg(ttl_ms).ignore();
                }
                Target::Client { client } => {
                    pipe.cmd("SET").arg(self.key("c", client.as_str())).arg(1).arg("PX").arg(ttl_ms).ignore();
                }
                Target::User { user, except } => {
                    let (key, value) = match except {
                        None => (self.key("u", user.as_str()), r.cutoff_secs().to_string()),
                        Some(keep) => (self.key("ux", user.as_str()), format!("{} {keep}", r.cutoff_secs())),
                    };
                    pipe.cmd("EVAL").arg(KEEP_LATEST).arg(1).arg(key).arg(value).arg(ttl_ms).ignore();
                }
            }
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(redis_err)
    }
}

#[async_trait]
impl RevocationState for RedisRevocations {
    async fn check(&self, t: &TokenRef<'_>) -> Verdict {
        let keys = [
            self.complete_key(),
            self.key("s", t.sid.unwrap_or("-")),
            self.key("t", t.jti),
            self.key("u", t.sub),
            self.key("ux", t.sub),
            self.key("c", t.client_id),
        ];
        let mut conn = self.conn.clone();
        let values: Vec<Option<String>> = match redis::cmd("MGET").arg(&keys).query_async(&mut conn).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %portcullis_domain::error::Chain(&redis_err(e)), "revocation check falls back to SQL: Redis unreachable");
                return Verdict::Unknown;
            }
        };
        let [complete, session, token, user, except, client] =
            <[Option<String>; 6]>::try_from(values).unwrap_or_default();
        if complete.is_none() {
            return Verdict::Unknown;
        }
        // The user's latest cut-offs, judged by the one rule (`portcullis_proto::feed`). Their
        // expiry is Redis's business here: present means in force.
        let cut = |v: &str| v.split(' ').next().and_then(|n| n.parse::<i64>().ok());
        let cutoffs = UserCutoff {
            all: user.as_deref().and_then(cut).map(|nb| (nb, i64::MAX)),
            except: except.as_deref().and_then(|v| {
                let (nb, keep) = v.split_once(' ')?;
                Some((nb.parse().ok()?, keep.to_owned(), i64::MAX))
            }),
        };
        if (t.sid.is_some() && session.is_some()) || token.is_some() || client.is_some() || cutoffs.revokes(t) {
            Verdict::Revoked
        } else {
            Verdict::Live
        }
    }

    async fn apply(&self, revocations: &[Revocation], horizon: Duration, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(revocations, horizon, now).await
    }

    async fn rebuild(
        &self,
        revocations: &[Revocation],
        horizon: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(revocations, horizon, now).await?;
        let mut conn = self.conn.clone();
        redis::cmd("SET").arg(self.complete_key()).arg(1).query_async::<()>(&mut conn).await.map_err(redis_err)
    }

    async fn is_complete(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("EXISTS").arg(self.complete_key()).query_async::<bool>(&mut conn).await.map_err(redis_err)
    }
}

#[async_trait]
impl Doorbell for RedisDoorbell {
    /// Tells every listening node that revocations up to `last_id` are recorded.
    async fn ring(&self, last_id: i64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH").arg(&self.channel).arg(last_id).query_async::<()>(&mut conn).await.map_err(redis_err)
    }
}

/// Rings the other nodes when a revocation is recorded (Redis pub/sub), and hears them ring.
pub struct RedisDoorbell {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
}

impl RedisDoorbell {
    pub fn new(client: redis::Client, conn: ConnectionManager, prefix: &str) -> Self {
        Self { client, conn, channel: format!("{prefix}rev:recorded") }
    }

    /// Calls `heard` on every ring, and once each time the subscription is (re)established (a
    /// ring may have been missed meanwhile). Runs until the task is dropped.
    pub async fn listen(self: Arc<Self>, heard: impl Fn() + Send + Sync) {
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&self.channel).await {
                    Ok(()) => {
                        heard();
                        let mut messages = pubsub.on_message();
                        while messages.next().await.is_some() {
                            heard();
                        }
                        tracing::warn!("revocation doorbell lost its Redis subscription; resubscribing");
                    }
                    Err(e) => {
                        tracing::warn!(error = %portcullis_domain::error::Chain(&redis_err(e)), "cannot subscribe to the revocation doorbell")
                    }
                },
                Err(e) => {
                    tracing::debug!(error = %portcullis_domain::error::Chain(&redis_err(e)), "revocation doorbell: Redis unreachable")
                }
            }
            tokio::time::sleep(StdDuration::from_millis(250)).await;
        }
    }
}
