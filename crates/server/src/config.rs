//! Configuration: `config/default.toml` (or `--config FILE`), then `PORTCULLIS_*` variables.
//!
//! One struct per concern. Every key can be set from the environment as
//! `PORTCULLIS_<SECTION>__<KEY>`; the five top-level keys as `PORTCULLIS_<KEY>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Where `--config` points when not given.
pub const DEFAULT_CONFIG_FILE: &str = "config/default.toml";

/// A database or Redis URL; it may carry a password, so `Debug` hides everything after the scheme.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionUrl(pub String);

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split(':').next().unwrap_or_default();
        write!(f, "{scheme}://<redacted>")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to bind (`PORTCULLIS_LISTEN`).
    pub listen: SocketAddr,
    /// The `iss` of every token (`PORTCULLIS_ISSUER`); default `http://<listen>`.
    pub issuer: Option<String>,
    /// `sqlite://…` or `postgres://…` (`PORTCULLIS_DATABASE_URL`).
    pub database_url: ConnectionUrl,
    /// `redis://…`; unset: in-process state, single node (`PORTCULLIS_REDIS_URL`).
    pub redis_url: Option<ConnectionUrl>,
    /// Where signing keys and the secret pepper live (`PORTCULLIS_KEYS_DIR`).
    pub keys_dir: PathBuf,
    pub database: DatabaseConfig,
    pub clients: ClientsConfig,
    pub keys: KeysConfig,
    pub tokens: TokensConfig,
    pub refresh: RefreshConfig,
    pub passwords: PasswordsConfig,
    pub login: LoginConfig,
    pub redis: RedisConfig,
    pub revocation: RevocationConfig,
    pub retention: RetentionConfig,
    pub otp: OtpConfig,
    pub account: AccountConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
}

/// Accounts people run themselves (contract §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountConfig {
    /// The largest avatar upload accepted, in bytes (413 past it).
    pub avatar_max_bytes: usize,
    /// Accounts created through `POST /signup` from one client address per hour.
    pub max_signups_per_ip: u32,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self { avatar_max_bytes: 1024 * 1024, max_signups_per_ip: 10 }
    }
}

/// A secret setting (the webhook's key): `Debug` shows none of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsConfig {
    /// How long a node keeps a client record in memory; a deletion reaches other nodes
    /// within this time. `0s` disables the cache.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// `Cache-Control: max-age` of the JWKS.
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    /// How long after `keys rotate` the new key starts signing. At least `jwks_max_age`.
    #[serde(with = "humantime_serde")]
    pub activation_delay: Duration,
    /// How often a running server re-reads the key records.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    /// The `aud` of every access token.
    pub audience: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshConfig {
    #[serde(with = "humantime_serde")]
    pub idle_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub absolute_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub reuse_grace: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// argon2 computations allowed at once; further logins wait.
    pub max_concurrent: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Password attempts per username per window (counted before the password is checked).
    pub max_attempts_per_user: u32,
    /// Password attempts per client address per window.
    pub max_attempts_per_ip: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Prefix of every key Portcullis writes, so several deployments can share one Redis.
    pub key_prefix: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// How often a node reads the revocation log even if no other node rang (other nodes ring
    /// through Redis; without Redis this is how `portcullis user ban` run elsewhere arrives).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Interval of `: keep-alive` comments on the revocation feed.
    #[serde(with = "humantime_serde")]
    pub feed_keep_alive: Duration,
    /// Revocation-feed streams one client may hold open on one node (429 past it).
    pub feed_max_per_client: usize,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self { poll_interval: Duration::from_secs(1), feed_keep_alive: Duration::from_secs(5), feed_max_per_client: 16 }
    }
}

/// How long history is kept, and how the janitor prunes it (docs/decisions/0013).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How often a node sweeps (the node holding the lease; the others only try to take it).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Rows deleted per statement.
    pub batch_size: u64,
    /// Ended and expired device sessions are kept this long after they ended.
    #[serde(with = "humantime_serde")]
    pub sessions: Duration,
    /// Audit events are kept this long.
    #[serde(with = "humantime_serde")]
    pub audit: Duration,
    /// A revocation event is kept this long after the last token it affects has expired.
    #[serde(with = "humantime_serde")]
    pub revocation_margin: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            batch_size: 1000,
            sessions: Duration::from_secs(30 * 24 * 3600),
            audit: Duration::from_secs(90 * 24 * 3600),
            revocation_margin: Duration::from_secs(3600),
        }
    }
}

/// One-time-code login (contract §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpConfig {
    /// How codes are delivered.
    pub sender: OtpSenderKind,
    /// The outbox sender's file (JSON lines, mode 0600).
    pub outbox_path: PathBuf,
    /// The webhook sender's endpoint (it may carry a token: `Debug` shows only its scheme).
    pub webhook_url: Option<ConnectionUrl>,
    /// The key of the webhook's `X-Portcullis-Signature` (at least 32 characters).
    pub webhook_secret: Option<SecretValue>,
    /// Each webhook try's limit.
    #[serde(with = "humantime_serde")]
    pub webhook_timeout: Duration,
    /// Webhook tries in all (a 5xx, a 429 or no answer is tried again, after 200 ms, 400 ms, …).
    pub webhook_tries: u32,
    /// The SMTP sender's relay: `smtps://user:password@host`, `smtp://host:587?tls=required`.
    pub smtp_url: Option<ConnectionUrl>,
    /// The SMTP sender's `From`.
    pub smtp_from: Option<String>,
    /// How long a code works.
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Wrong tries after which a code is dead, even for the right digits.
    pub max_attempts: u32,
    /// How soon one destination may be sent another code.
    #[serde(with = "humantime_serde")]
    pub resend_after: Duration,
    /// Codes per destination per hour.
    pub max_sends_per_destination: u32,
    /// Codes asked for from one client address per hour.
    pub max_sends_per_ip: u32,
    /// Codes asked for by one client per hour.
    pub max_sends_per_client: u32,
    /// Grant tries per destination and client per hour, over all its codes.
    pub max_verifications_per_destination: u32,
    /// Grant tries from one client address per hour, over every destination.
    pub max_verifications_per_ip: u32,
    /// Whether the login page of `/oauth2/authorize` offers "sign in with a code".
    pub browser_login: bool,
}

/// `otp.sender`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpSenderKind {
    #[default]
    Outbox,
    Webhook,
    Smtp,
}

impl Default for OtpConfig {
    fn default() -> Self {
        let policy = portcullis_domain::otp::OtpPolicy::default();
        let secs = |d: chrono::Duration| Duration::from_secs(d.num_seconds().max(0) as u64);
        Self {
            sender: OtpSenderKind::Outbox,
            outbox_path: PathBuf::from("data/otp-outbox.jsonl"),
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout: Duration::from_secs(3),
            webhook_tries: 3,
            smtp_url: None,
            smtp_from: None,
            code_ttl: secs(policy.code_ttl),
            max_attempts: policy.max_attempts,
            resend_after: secs(policy.resend_after),
            max_sends_per_destination: policy.sends_per_destination,
            max_sends_per_ip: policy.sends_per_address,
            max_sends_per_client: policy.sends_per_client,
            max_verifications_per_destination: policy.verifications_per_destination,
            max_verifications_per_ip: policy.verifications_per_address,
            browser_login: policy.browser_login,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// A request taking longer is answered 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A request head (line and headers) must arrive within this from its first byte, or the
    /// connection is dropped (slowloris).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections open at once; past it new ones wait to be accepted and idle ones are closed
    /// first. Lowered at start to fit the open-file limit.
    pub max_connections: usize,
    /// Requests handled at once; past it a request is answered 503 with `Retry-After` at once
    /// rather than queued (probes and metrics excepted).
    pub max_in_flight: usize,
    /// A request is answered 503 likewise while the runtime is this far behind (ready work
    /// waits this long for a worker: the CPU is saturated).
    #[serde(with = "humantime_serde")]
    pub max_queue_delay: Duration,
    /// Peers whose forwarded client address is believed (addresses or CIDRs). From anyone
    /// else the forwarding headers are ignored and the client is the TCP peer.
    pub trusted_proxies: Vec<ProxyNet>,
    /// Which header trusted proxies put the client in.
    pub forwarded_header: ForwardedHeader,
}

/// An address or a CIDR block in `http.trusted_proxies`: `10.1.2.3`, `10.0.0.0/8`, `::1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProxyNet(pub ipnet::IpNet);

impl ProxyNet {
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
        self.0.contains(&ip.to_canonical())
    }
}

impl TryFrom<String> for ProxyNet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim();
        let net = s
            .parse::<ipnet::IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("http.trusted_proxies: {s:?} is neither an IP address nor a CIDR block"))?;
        // `::ffff:10.0.0.0/104` is 10.0.0.0/8: addresses are compared in their IPv4 form.
        let net = match net {
            ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map(ipnet::IpNet::V4).unwrap_or(net),
                None => net,
            },
            other => other,
        };
        if net.prefix_len() == 0 {
            return Err(format!(
                "http.trusted_proxies: {s:?} trusts every address, so any client could choose its own; list the proxies"
            ));
        }
        Ok(ProxyNet(net))
    }
}

impl From<ProxyNet> for String {
    fn from(n: ProxyNet) -> String {
        n.0.to_string()
    }
}

/// The header a trusted proxy writes the client's address into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    #[serde(rename = "forwarded")]
    Forwarded,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `portcullis=debug,info`. `RUST_LOG` wins.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: None,
            database_url: ConnectionUrl("sqlite://data/portcullis.db".into()),
            redis_url: None,
            keys_dir: PathBuf::from("keys"),
            database: DatabaseConfig::default(),
            clients: ClientsConfig::default(),
            keys: KeysConfig::default(),
            tokens: TokensConfig::default(),
            refresh: RefreshConfig::default(),
            passwords: PasswordsConfig::default(),
            login: LoginConfig::default(),
            redis: RedisConfig::default(),
            revocation: RevocationConfig::default(),
            retention: RetentionConfig::default(),
            otp: OtpConfig::default(),
            account: AccountConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 16 }
    }
}

impl Default for ClientsConfig {
    fn default() -> Self {
        Self { cache_ttl: Duration::from_secs(5) }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            jwks_max_age: Duration::from_secs(300),
            activation_delay: Duration::from_secs(600),
            reload_interval: Duration::from_secs(5),
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self { access_ttl: Duration::from_secs(15 * 60), audience: "api".into() }
    }
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            idle_ttl: Duration::from_secs(14 * 86_400),
            absolute_ttl: Duration::from_secs(90 * 86_400),
            reuse_grace: Duration::from_secs(10),
        }
    }
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1, max_concurrent: 2 }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self { max_attempts_per_user: 10, max_attempts_per_ip: 100, window: Duration::from_secs(15 * 60) }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { key_prefix: "portcullis:".into() }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_in_flight: 256,
            max_queue_delay: Duration::from_millis(50),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "text".into(), filter: "info".into() }
    }
}

/// The configuration is unusable; the message says which key and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Built-in defaults, then `file` (the default file only if it exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => fig = fig.merge(Toml::file(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => fig = fig.merge(Toml::file(DEFAULT_CONFIG_FILE)),
            None => {}
        }
        // PORTCULLIS_TEST_* belong to the test suite, not to the server.
        let env =
            Env::prefixed("PORTCULLIS_").split("__").filter(|k| !k.as_str().to_ascii_lowercase().starts_with("test_"));
        let config: Config = fig.merge(env).extract().map_err(|e| ConfigError::Invalid(one_line(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.keys.reload_interval.is_zero() || self.http.request_timeout.is_zero() {
            return bad("keys.reload_interval and http.request_timeout must be positive");
        }
        if self.http.header_read_timeout.is_zero() || self.http.idle_timeout.is_zero() || self.http.max_connections == 0
        {
            return bad("http.header_read_timeout, http.idle_timeout and http.max_connections must be positive");
        }
        if self.http.idle_timeout <= self.http.request_timeout {
            return bad(
                "http.idle_timeout must be longer than http.request_timeout, or a slow request that is still working would be cut",
            );
        }
        if self.revocation.feed_max_per_client == 0 {
            return bad("revocation.feed_max_per_client must be positive");
        }
        if self.revocation.poll_interval.is_zero() || self.revocation.feed_keep_alive.is_zero() {
            return bad("revocation.poll_interval and revocation.feed_keep_alive must be positive");
        }
        if self.keys.activation_delay < self.keys.jwks_max_age + self.keys.reload_interval {
            return bad(
                "keys.activation_delay must be at least keys.jwks_max_age + keys.reload_interval, or resource servers would meet tokens signed by a key they have not fetched",
            );
        }
        if self.tokens.access_ttl.is_zero() || self.refresh.idle_ttl.is_zero() || self.refresh.absolute_ttl.is_zero() {
            return bad("token lifetimes must be positive");
        }
        if self.account.avatar_max_bytes == 0 || self.account.avatar_max_bytes > 16 * 1024 * 1024 {
            return bad("account.avatar_max_bytes must be between 1 and 16777216");
        }
        if self.http.max_in_flight == 0 {
            return bad("http.max_in_flight must be positive");
        }
        if self.retention.interval.is_zero() || self.retention.batch_size == 0 {
            return bad("retention.interval and retention.batch_size must be positive");
        }
        if self.refresh.reuse_grace > Duration::from_secs(60) {
            return bad("refresh.reuse_grace may be at most 60s");
        }
        if self.tokens.audience.is_empty() {
            return bad("tokens.audience must not be empty");
        }
        if portcullis_store::Backend::of_url(&self.database_url.0).is_none() {
            return bad("database_url must start with sqlite: or postgres://");
        }
        if let Some(issuer) = &self.issuer
            && (!(issuer.starts_with("http://") || issuer.starts_with("https://")) || issuer.ends_with('/'))
        {
            return bad("issuer must be an http(s) URL without a trailing slash");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return bad("log.format must be text or json");
        }
        Ok(())
    }

    /// The issuer, given the address actually bound.
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        self.issuer.clone().unwrap_or_else(|| format!("http://{bound}"))
    }
}

fn one_line(e: &figment::Error) -> String {
    e.to_string().replace('\n', " ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn shipped_default_file_matches_builtin_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let from_file: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&path))
            .extract()
            .expect("config/default.toml parses");
        assert_eq!(from_file, Config::default(), "config/default.toml and Config::default() disagree");
    }

    #[test]
    fn env_overrides_file_with_double_underscore_sections() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[refresh]\nreuse_grace = \"30s\"\n")?;
            jail.set_env("PORTCULLIS_REFRESH__REUSE_GRACE", "0s");
            jail.set_env("PORTCULLIS_LISTEN", "127.0.0.1:9999");
            jail.set_env("PORTCULLIS_TOKENS__ACCESS_TTL", "5m");
            jail.set_env("PORTCULLIS_TEST_DATABASE_URL", "ignored");
            let c = Config::load(Some(Path::new("c.toml"))).expect("loads");
            assert_eq!(c.refresh.reuse_grace, Duration::ZERO);
            assert_eq!(c.listen.port(), 9999);
            assert_eq!(c.tokens.access_ttl, Duration::from_secs(300));
            assert_eq!(c.refresh.idle_ttl, Duration::from_secs(14 * 86_400));
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTCULLIS_REFRESH__REUSE_GRACE", "2m");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("reuse_grace"), "{e}");
            jail.set_env("PORTCULLIS_REFRESH__REUSE_GRACE", "soon");
            assert!(Config::load(None).is_err());
            Ok(())
        });
        assert!(matches!(Config::load(Some(Path::new("/nonexistent.toml"))), Err(ConfigError::MissingFile(_))));
    }

    #[test]
    fn trusted_proxies_come_from_the_environment_as_a_toml_array() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTCULLIS_HTTP__TRUSTED_PROXIES", r#"["10.0.0.0/8", "192.0.2.7", "::1"]"#);
            jail.set_env("PORTCULLIS_HTTP__FORWARDED_HEADER", "forwarded");
            let c = Config::load(None).expect("loads");
            let nets: Vec<String> = c.http.trusted_proxies.iter().map(|n| String::from(*n)).collect();
            assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]);
            assert_eq!(c.http.forwarded_header, ForwardedHeader::Forwarded);
            jail.set_env("PORTCULLIS_HTTP__TRUSTED_PROXIES", r#"["proxy.internal"]"#);
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("proxy.internal") && e.contains("trusted_proxies"), "{e}");
            for everyone in ["0.0.0.0/0", "::/0"] {
                jail.set_env("PORTCULLIS_HTTP__TRUSTED_PROXIES", format!(r#"["{everyone}"]"#));
                let e = Config::load(None).unwrap_err().to_string();
                assert!(e.contains("trusts every address"), "{e}");
            }
            jail.set_env("PORTCULLIS_HTTP__TRUSTED_PROXIES", r#"["::ffff:10.0.0.0/104"]"#);
            let c = Config::load(None).expect("loads");
            assert_eq!(String::from(c.http.trusted_proxies[0]), "10.0.0.0/8");
            Ok(())
        });
    }

    #[test]
    fn urls_do_not_print() {
        let u = ConnectionUrl("postgres://u:hunter2@h/db".into());
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}
