//! `App`: the one state every handler shares, built once from `Config`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portcullis_domain::clock::{Clock, SystemClock};
use portcullis_domain::otp::OtpPolicy;
use portcullis_domain::password::{PasswordCost, PasswordHasher};
use portcullis_domain::policy::TokenPolicy;
use portcullis_domain::ports::{AuditLog, ClientRepo, SessionRepo, SigningKeyRepo, UserRepo};
use portcullis_domain::retention::RetentionPolicy;
use portcullis_domain::secret::SecretHasher;
use portcullis_domain::throttle::{AttemptCounter, ThrottlePolicy};
use portcullis_oauth::service::{Accounts, BrowserStores, Issuance, OneTimeCodes, SendTiming};
use portcullis_oauth::{PasswordVerifier, SessionControl, TokenService, TokenServiceDeps};
use portcullis_revocation::{Doorbell, LocalRevocations, RevocationLog, RevocationState, Revocations};
use portcullis_store::{
    CachedClients, LocalAttempts, RedisAttempts, RedisDoorbell, RedisRevocations, SqlAttempts, SqlStore,
};
use portcullis_tokens::{AccessTokenMinter, KeyManager, SharedKeyRing};

use crate::config::{Config, OtpConfig, OtpSenderKind};
use crate::ops::{self, Directory};
use crate::telemetry::Metrics;

/// Shared state of a running node: one `Arc`, so handlers clone a pointer, not the fields.
#[derive(Clone)]
pub struct App(Arc<AppState>);

impl std::ops::Deref for App {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// What every handler shares, built once from `Config`. Its fields are private: a handler
/// reaches storage only through the protocol (`tokens`), the operations that end sessions
/// (`control`) and the directory of records (`directory`), so none can skip the client cache,
/// the revocation feed or the audit row.
pub struct AppState {
    config: Arc<Config>,
    /// The `iss` of our tokens and the base of our URLs.
    issuer: Arc<str>,
    tokens: Arc<TokenService>,
    directory: Directory,
    keys: Arc<SharedKeyRing>,
    key_manager: Arc<KeyManager>,
    revocations: Arc<Revocations>,
    readiness: Readiness,
    metrics: Metrics,
    /// Prunes history no rule needs any more (on the node holding the lease).
    janitor: Arc<ops::retention::Janitor>,
    /// The revocation-feed streams open on this node, per client.
    feeds: Arc<crate::feed_slots::FeedConnections>,
    /// Turns true when the node starts shutting down.
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// What `/readyz` asks: the database, and Redis when configured.
struct Readiness {
    store: SqlStore,
    redis: Option<redis::Client>,
}

/// The answer of a readiness probe: `redis` is `None` when Redis is not configured.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub database: bool,
    pub redis: Option<bool>,
}

impl AppState {
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The `iss` of our tokens and the base of our URLs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The protocol: grants, introspection, revocation, the authorization endpoint.
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The operations that end sessions: kick, ban, password change, consent withdrawal,
    /// client deletion, logout.
    pub fn control(&self) -> SessionControl<'_> {
        self.tokens.control()
    }

    /// Users, clients, devices and the audit trail, to read and to create.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn keys(&self) -> &SharedKeyRing {
        &self.keys
    }

    pub fn key_manager(&self) -> &KeyManager {
        &self.key_manager
    }

    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn feeds(&self) -> &Arc<crate::feed_slots::FeedConnections> {
        &self.feeds
    }

    /// Resolves once the node starts shutting down.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Whether the database (and Redis, when configured) answer.
    pub async fn ready(&self) -> Ready {
        let database = self.readiness.store.ping().await;
        let redis = match &self.readiness.redis {
            None => None,
            Some(client) => Some(redis_ping(client).await),
        };
        Ready { database, redis }
    }

    /// `path` under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

async fn redis_ping(client: &redis::Client) -> bool {
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), attempt).await, Ok(Some(_)))
}

/// What a node is built from besides its configuration: by default a system clock and a
/// database opened from `database_url`; tests inject a manual clock, or a store they also read.
#[derive(Default)]
pub struct Parts {
    pub clock: Option<Arc<dyn Clock>>,
    pub store: Option<SqlStore>,
    /// A one-shot command: open only what a node made (see [`Backend::open_existing`]), make
    /// no signing key and leave the User-Agent parser unbuilt.
    pub one_shot: bool,
}

/// The storage side of the app, for CLI commands that need no HTTP.
pub struct Backend {
    store: SqlStore,
    hasher: SecretHasher,
    pub key_manager: Arc<KeyManager>,
    pub clock: Arc<dyn Clock>,
}

impl Backend {
    /// Opens the database, applies pending migrations, reads (or makes) the pepper.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        Self::open_with(config, Parts::default()).await
    }

    /// Opens the database and the keys folder a node made, for every command but `serve` and
    /// `migrate`: a command run from the wrong folder must not quietly make an empty database
    /// and a new pepper there (its clients would be unknown to the node, its hashes foreign).
    /// No migration is applied either: a schema older than this build is an error.
    pub async fn open_existing(config: &Config) -> anyhow::Result<Self> {
        Self::open_with(config, Parts { one_shot: true, ..Parts::default() }).await
    }

    /// Refuses, in one line naming the path and the variable, what [`Backend::open_existing`]
    /// would have to create.
    fn check_existing(config: &Config) -> anyhow::Result<()> {
        if let Some(file) = portcullis_store::sqlite_file(&config.database_url.0)
            && !file.exists()
        {
            anyhow::bail!(
                "no database at {} (run this where `portcullis serve` runs, or set PORTCULLIS_DATABASE_URL)",
                file.display()
            );
        }
        let pepper = config.keys_dir.join(portcullis_tokens::pepper::PEPPER_FILE);
        if !config.keys_dir.is_dir() || !pepper.exists() {
            anyhow::bail!(
                "no keys folder at {} (run this where `portcullis serve` runs, or set PORTCULLIS_KEYS_DIR)",
                config.keys_dir.display()
            );
        }
        Ok(())
    }

    async fn open_with(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        if parts.one_shot {
            Self::check_existing(config)?;
        }
        let store = match parts.store {
            Some(store) => store,
            None => {
                let (url, max) = (&config.database_url.0, config.database.max_connections);
                let db = if parts.one_shot {
                    portcullis_store::connect_existing(url, max).await
                } else {
                    portcullis_store::connect(url, max).await
                };
                SqlStore::new(db.context("cannot open the database")?)
            }
        };
        let keys_dir = config.keys_dir.clone();
        let hasher = if parts.one_shot {
            let pending = portcullis_store::pending_migrations(store.connection())
                .await
                .context("cannot read the database's migrations")?;
            if pending > 0 {
                anyhow::bail!(
                    "the database is {pending} migration(s) behind this build (run `portcullis migrate`, or point PORTCULLIS_DATABASE_URL at the node's database)"
                );
            }
            portcullis_tokens::pepper::load(&keys_dir)?
        } else {
            portcullis_store::migrate(store.connection()).await.context("cannot apply migrations")?;
            tokio::task::spawn_blocking(move || portcullis_tokens::pepper::load_or_create(&keys_dir))
                .await
                .context("pepper task")??
        };
        let clock: Arc<dyn Clock> = parts.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let key_manager = Arc::new(KeyManager::new(
            Arc::new(store.clone()) as Arc<dyn SigningKeyRepo>,
            config.keys_dir.clone(),
            clock.clone(),
            chrono_duration(config.tokens.access_ttl),
            chrono_duration(config.keys.activation_delay),
        ));
        Ok(Self { store, hasher, key_manager, clock })
    }

    /// The directory over this backend's store (no client cache: a CLI command is one shot).
    pub fn directory(&self, passwords: PasswordVerifier) -> Directory {
        let store = Arc::new(self.store.clone());
        Directory::new(ops::DirectoryParts {
            users: store.clone(),
            avatars: store.clone(),
            clients: store.clone(),
            sessions: store.clone(),
            audit: store,
            hasher: self.hasher.clone(),
            passwords,
            clock: self.clock.clone(),
        })
    }

    pub fn audit(&self) -> &dyn AuditLog {
        &self.store
    }

    pub fn password_hasher(config: &Config) -> anyhow::Result<PasswordHasher> {
        let p = &config.passwords;
        Ok(PasswordHasher::new(PasswordCost {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
        })?)
    }
}

/// The revocation service: its state in Redis when configured, in process otherwise.
fn revocations(
    config: &Config,
    redis: Option<&redis::Client>,
    store: &SqlStore,
    clock: &Arc<dyn Clock>,
    issuer: &str,
    policy: &TokenPolicy,
) -> anyhow::Result<Revocations> {
    let log: Arc<dyn RevocationLog> = Arc::new(store.clone());
    let (state, doorbell): (Arc<dyn RevocationState>, Option<Arc<dyn Doorbell>>) = match redis {
        Some(client) => {
            let conn = portcullis_store::fast_failing_connection(client)?;
            let prefix = &config.redis.key_prefix;
            (
                Arc::new(RedisRevocations::new(conn.clone(), prefix.clone())),
                Some(Arc::new(RedisDoorbell::new(client.clone(), conn, prefix))),
            )
        }
        None => (Arc::new(LocalRevocations::default()), None),
    };
    Ok(Revocations::new(log, state, doorbell, clock.clone(), issuer.to_owned(), policy.access_ttl))
}

/// The sender `otp.sender` names, checked now: a webhook or SMTP sender without its settings
/// stops the node at start rather than failing the first code.
/// A sender whose tries could take more than half of `request_timeout` is refused too: the
/// request would be cut while a code may still be delivered, leaving a code that was sent but
/// never stored (the other half is for authentication, the lookups and the store).
fn otp_sender(c: &OtpConfig, request_timeout: Duration) -> anyhow::Result<Arc<dyn portcullis_domain::otp::Sender>> {
    use portcullis_senders::{Outbox, Smtp, Webhook, WebhookOptions, worst_case};
    Ok(match c.sender {
        OtpSenderKind::Outbox => Arc::new(Outbox::new(c.outbox_path.clone())),
        OtpSenderKind::Webhook => {
            let url = c.webhook_url.as_ref().context("otp.sender = \"webhook\" needs otp.webhook_url")?;
            let secret = c.webhook_secret.as_ref().context("otp.sender = \"webhook\" needs otp.webhook_secret")?;
            anyhow::ensure!(secret.0.len() >= 32, "otp.webhook_secret must be at least 32 characters");
            let options =
                WebhookOptions { timeout: c.webhook_timeout, tries: c.webhook_tries.max(1), ..Default::default() };
            let worst = worst_case(&options);
            anyhow::ensure!(
                worst <= request_timeout / 2,
                "otp.webhook_tries x otp.webhook_timeout (with backoff: {worst:?}) must be at most half of http.request_timeout ({request_timeout:?})"
            );
            Arc::new(
                Webhook::new(&url.0, secret.0.as_bytes(), options).context("otp.webhook_url must be an http(s) URL")?,
            )
        }
        OtpSenderKind::Smtp => {
            let url = c.smtp_url.as_ref().context("otp.sender = \"smtp\" needs otp.smtp_url")?;
            let from = c.smtp_from.as_deref().context("otp.sender = \"smtp\" needs otp.smtp_from")?;
            // A relay answers within seconds; ten bounds a stuck one.
            let timeout = Duration::from_secs(10);
            anyhow::ensure!(
                timeout <= request_timeout / 2,
                "http.request_timeout ({request_timeout:?}) must be at least twice the SMTP sender's timeout ({timeout:?})"
            );
            Arc::new(Smtp::new(&url.0, from, timeout).context("otp.smtp_url or otp.smtp_from")?)
        }
    })
}

fn otp_policy(c: &OtpConfig) -> OtpPolicy {
    OtpPolicy {
        code_ttl: chrono_duration(c.code_ttl),
        max_attempts: c.max_attempts,
        resend_after: chrono_duration(c.resend_after),
        sends_per_destination: c.max_sends_per_destination,
        sends_per_address: c.max_sends_per_ip,
        sends_per_client: c.max_sends_per_client,
        verifications_per_destination: c.max_verifications_per_destination,
        verifications_per_address: c.max_verifications_per_ip,
        browser_login: c.browser_login,
    }
}

pub fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl App {
    /// Builds the app for a node bound to `bound`: database, keys (making the first one if
    /// needed), services.
    pub async fn build(config: Config, bound: SocketAddr, metrics: Metrics, parts: Parts) -> anyhow::Result<Self> {
        let one_shot = parts.one_shot;
        let backend = Backend::open_with(&config, parts).await?;
        // A one-shot command signs nothing and creates nothing.
        if !one_shot
            && let Some(record) =
                backend.key_manager.ensure_key().await.context("cannot create the first signing key")?
        {
            tracing::info!(kid = %record.kid, "created the first signing key");
            let kind = portcullis_domain::audit::AuditKind::KeyCreated;
            ops::audit_key(&backend.store, backend.clock.as_ref(), kind, &record.kid, "serve").await;
        }
        let ring = match backend.key_manager.load().await {
            Ok(ring) => ring,
            // A one-shot command signs nothing: `migrate` made the database, no node has served yet.
            Err(portcullis_tokens::KeyError::NoActiveKey) if one_shot => portcullis_tokens::KeyRing::build(
                Vec::new(),
                backend.clock.now(),
                chrono_duration(config.tokens.access_ttl),
            ),
            Err(e) => return Err(e).context("cannot load the signing keys"),
        };
        let keys = Arc::new(SharedKeyRing::new(ring));
        let issuer: Arc<str> = config.issuer_for(bound).into();
        let passwords = PasswordVerifier::new(Backend::password_hasher(&config)?, config.passwords.max_concurrent);
        let store = backend.store.clone();
        let clients: Arc<dyn ClientRepo> =
            Arc::new(CachedClients::new(Arc::new(store.clone()), config.clients.cache_ttl));
        let users: Arc<dyn UserRepo> = Arc::new(store.clone());
        let sessions: Arc<dyn SessionRepo> = Arc::new(store.clone());
        let audit: Arc<dyn AuditLog> = Arc::new(store.clone());
        let policy = TokenPolicy {
            access_ttl: chrono_duration(config.tokens.access_ttl),
            refresh_idle_ttl: chrono_duration(config.refresh.idle_ttl),
            session_absolute_ttl: chrono_duration(config.refresh.absolute_ttl),
            reuse_grace: chrono_duration(config.refresh.reuse_grace),
        };
        let minter = AccessTokenMinter {
            issuer: issuer.to_string(),
            audience: config.tokens.audience.clone(),
            ttl: policy.access_ttl,
        };
        let redis = match &config.redis_url {
            Some(url) => {
                Some(redis::Client::open(url.0.as_str()).context("PORTCULLIS_REDIS_URL is not a valid redis:// URL")?)
            }
            None => None,
        };
        let redis_conn = match &redis {
            Some(client) => match redis::aio::ConnectionManager::new(client.clone()).await {
                Ok(conn) => Some(conn),
                Err(e) => {
                    tracing::warn!(error = %portcullis_domain::error::Chain(&e), "Redis unreachable at start: login attempts are counted per node");
                    None
                }
            },
            None => None,
        };
        let attempts: Arc<dyn AttemptCounter> = match &redis_conn {
            Some(conn) => Arc::new(RedisAttempts::new(conn.clone(), config.redis.key_prefix.clone())),
            None => Arc::new(LocalAttempts::default()),
        };
        // The one-time codes' limits never count in process: a flood of fresh keys would evict a
        // destination's count there. In Redis, else (and while Redis is down) in the database.
        let otp_in_db: Arc<dyn AttemptCounter> = Arc::new(SqlAttempts::new(&store, backend.clock.clone()));
        let otp_attempts: Arc<dyn AttemptCounter> = match redis_conn {
            Some(conn) => Arc::new(RedisAttempts::with_fallback(conn, config.redis.key_prefix.clone(), otp_in_db)),
            None => otp_in_db,
        };
        let otp = OneTimeCodes {
            codes: Arc::new(store.clone()),
            attempts: otp_attempts,
            sender: otp_sender(&config.otp, config.http.request_timeout)?,
            policy: otp_policy(&config.otp),
            // Until sends are seen: about what a gateway's answer takes.
            timing: SendTiming::new(Duration::from_millis(50)),
        };
        let revocations = Arc::new(revocations(&config, redis.as_ref(), &store, &backend.clock, &issuer, &policy)?);
        revocations.start().await.context("cannot read the revocation log")?;
        let tokens = Arc::new(TokenService::new(TokenServiceDeps {
            clients: clients.clone(),
            hasher: backend.hasher.clone(),
            accounts: Accounts {
                users: users.clone(),
                passwords: passwords.clone(),
                attempts,
                throttle: ThrottlePolicy {
                    per_user: config.login.max_attempts_per_user,
                    per_ip: config.login.max_attempts_per_ip,
                    window: chrono_duration(config.login.window),
                },
            },
            issuance: Issuance {
                sessions: sessions.clone(),
                keys: keys.clone(),
                minter,
                signer: portcullis_oauth::signing::Signer::per_core(),
                policy,
            },
            browser: BrowserStores {
                codes: Arc::new(store.clone()),
                consents: Arc::new(store.clone()),
                logins: Arc::new(store.clone()),
            },
            otp,
            revocations: revocations.clone(),
            audit: audit.clone(),
            clock: backend.clock.clone(),
        }));
        // The parser takes a moment to build; do it before the first login, not during it.
        if !one_shot {
            tokio::task::spawn_blocking(portcullis_fingerprint::UserAgentFamilies::warm_up);
        }
        let r = &config.retention;
        let janitor = Arc::new(ops::retention::Janitor::new(ops::retention::JanitorParts {
            store: Arc::new(store.clone()),
            clock: backend.clock.clone(),
            policy: RetentionPolicy {
                sessions: chrono_duration(r.sessions),
                audit: chrono_duration(r.audit),
                revocation_margin: chrono_duration(r.revocation_margin),
            },
            tokens: policy,
            batch: r.batch_size,
            interval: r.interval,
        }));
        let directory = Directory::new(ops::DirectoryParts {
            users,
            avatars: Arc::new(store.clone()),
            clients,
            sessions,
            audit,
            hasher: backend.hasher,
            passwords,
            clock: backend.clock,
        });
        Ok(Self(Arc::new(AppState {
            config: Arc::new(config),
            issuer,
            tokens,
            directory,
            keys,
            key_manager: backend.key_manager,
            revocations,
            readiness: Readiness { store, redis },
            metrics,
            janitor,
            feeds: Arc::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        })))
    }

    /// Keeps the revocation state in step with the log (and, with Redis, listens for the other
    /// nodes' doorbell). Returns the tasks to abort at shutdown.
    pub fn spawn_revocation_sync(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(self.revocations.clone().run_syncer(self.config.revocation.poll_interval))];
        if let Some(client) = &self.readiness.redis {
            match portcullis_store::fast_failing_connection(client) {
                Ok(conn) => {
                    let bell = Arc::new(RedisDoorbell::new(client.clone(), conn, &self.config.redis.key_prefix));
                    let revocations = self.revocations.clone();
                    tasks.push(tokio::spawn(bell.listen(move || revocations.wake())));
                }
                Err(e) => {
                    tracing::error!(error = %portcullis_domain::error::Chain(&e), "cannot listen for revocations from other nodes; polling only")
                }
            }
        }
        tasks
    }

    /// Tells long-lived responses (the revocation feed) to end: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Prunes history every `retention.interval` (only the node holding the lease does work).
    pub fn spawn_janitor(&self) -> tokio::task::JoinHandle<()> {
        self.janitor.clone().spawn(self.config.retention.interval)
    }

    /// Re-reads the key records every `keys.reload_interval`, so a rotation made by
    /// `portcullis keys rotate` (on any node) is picked up without restart.
    pub fn spawn_key_reloader(&self) -> tokio::task::JoinHandle<()> {
        let (manager, keys, every) = (self.key_manager.clone(), self.keys.clone(), self.config.keys.reload_interval);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match manager.load().await {
                    Ok(ring) => keys.replace(ring),
                    Err(e) => {
                        tracing::error!(error = %portcullis_domain::error::Chain(&e), "reloading signing keys failed; keeping the previous set")
                    }
                }
            }
        })
    }
}
