//! Two `portcullis serve` processes sharing PostgreSQL and Redis, as behind a load balancer:
//! a kick on one node is enforced by the other at once, and reaches its feed; Redis going away
//! never makes a revoked token active, and the state catches up when Redis returns (or comes
//! back empty).
//!
//! These need `PORTCULLIS_TEST_DATABASE_URL` and `PORTCULLIS_TEST_REDIS_URL` (`.ci/run` sets
//! both); without them there is no shared state to test, and each test says so and returns.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portcullis_e2e::db::{REDIS_ENV, TestDb, checked_redis_url, env_url};
use portcullis_e2e::feed::FeedFollower;
use portcullis_e2e::process::{Sandbox, ServeProcess};
use portcullis_e2e::proxy::TcpProxy;
use serde_json::Value;

use crate::refresh::FIREFOX;

const ISSUER: &str = "http://portcullis.test";
const PASSWORD: &str = "a long enough password";

struct Cluster {
    a: ServeProcess,
    b: ServeProcess,
    http: reqwest::Client,
    /// A confidential client for password grants, introspection and the feed.
    client: (String, String),
    admin: String,
    redis: redis::aio::MultiplexedConnection,
    prefix: String,
    _sandbox: Sandbox,
    _db: TestDb,
}

/// The cluster, or `None` (with a note) when the suite runs without PostgreSQL and Redis.
async fn cluster(redis_via: impl FnOnce(&str) -> String) -> Option<Cluster> {
    let redis_url = checked_redis_url().await;
    let (Some(redis_url), true) = (redis_url, env_url(portcullis_e2e::db::DATABASE_ENV).is_some()) else {
        eprintln!("multi-node tests need PostgreSQL and Redis ({REDIS_ENV} and the database URL); not run here");
        return None;
    };
    let db = TestDb::new().await;
    let sandbox = Sandbox::migrated(&db.url);
    let prefix = format!("pc-multi-{}:", uuid::Uuid::new_v4().simple());
    let node_redis = redis_via(&redis_url);
    let env = [
        ("PORTCULLIS_ISSUER", ISSUER),
        ("PORTCULLIS_REDIS_URL", node_redis.as_str()),
        ("PORTCULLIS_REDIS__KEY_PREFIX", prefix.as_str()),
        // A hundred logins from one address: past the default per-address limit.
        ("PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_IP", "100000"),
    ];
    let client = sandbox.resource_client(&["password", "refresh_token"]);
    let admin_client = {
        let made = sandbox.run_json(
            &["client", "create", "--name", "admin", "--grant", "client_credentials", "--scope", "admin", "--json"],
            "",
        );
        (made["client_id"].as_str().expect("id").to_owned(), made["client_secret"].as_str().expect("secret").to_owned())
    };
    sandbox.run_json(&["user", "create", "--username", "ivy", "--password-stdin", "--json"], &format!("{PASSWORD}\n"));
    let a = sandbox.serve(&env, "info");
    let b = sandbox.serve(&env, "info");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http");
    let admin: Value = http
        .post(a.url("/oauth2/token"))
        .basic_auth(&admin_client.0, Some(&admin_client.1))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let redis = redis::Client::open(redis_url.as_str())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    Some(Cluster {
        a,
        b,
        http,
        client,
        admin: admin["access_token"].as_str().expect("admin token").to_owned(),
        redis,
        prefix,
        _sandbox: sandbox,
        _db: db,
    })
}

impl Cluster {
    /// Logs ivy in on `node` from `device`; returns (access token, user id).
    async fn login(&self, node: &ServeProcess, device: &str) -> (String, String) {
        let res = self
            .http
            .post(node.url("/oauth2/token"))
            .basic_auth(&self.client.0, Some(&self.client.1))
            .header("user-agent", FIREFOX)
            .form(&[("grant_type", "password"), ("username", "ivy"), ("password", PASSWORD), ("device_id", device)])
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 200, "login on {}", node.base);
        let body: Value = res.json().await.expect("json");
        let at = body["access_token"].as_str().expect("at").to_owned();
        let sub = crate::jwt::parts(&at).1["sub"].as_str().expect("sub").to_owned();
        (at, sub)
    }

    async fn kick(&self, node: &ServeProcess, user: &str, device: &str) {
        let url = node.url(&format!("/admin/users/{user}/devices/{device}"));
        let res = self.http.delete(url).bearer_auth(&self.admin).send().await.expect("send");
        assert_eq!(res.status(), 204, "kick on {}", node.base);
    }

    async fn active(&self, node: &ServeProcess, token: &str) -> bool {
        let res = self
            .http
            .post(node.url("/oauth2/introspect"))
            .basic_auth(&self.client.0, Some(&self.client.1))
            .form(&[("token", token)])
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 200, "introspection on {}", node.base);
        res.json::<Value>().await.expect("json")["active"].as_bool().expect("active")
    }

    async fn follow(&self, node: &ServeProcess) -> FeedFollower {
        let mut f =
            FeedFollower::connect(&node.url("/oauth2/revocation-feed"), &self.client.0, &self.client.1, None).await;
        f.backlog().await;
        f
    }

    async fn redis_has(&mut self, key: &str) -> bool {
        redis::cmd("EXISTS").arg(format!("{}{key}", self.prefix)).query_async(&mut self.redis).await.expect("EXISTS")
    }

    /// Empties this deployment's Redis keys, as a Redis restart without persistence would.
    async fn flush(&mut self) {
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut self.redis).await.expect("KEYS");
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).query_async::<()>(&mut self.redis).await.expect("DEL");
        }
    }
}

/// `host:port` of a `redis://[user:pass@]host:port[/db]` URL.
fn redis_addr(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h).split('/').next().unwrap_or_default();
    let hostport = if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:6379") };
    hostport.to_socket_addrs().expect("resolvable Redis address").next().expect("an address")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
async fn a_kick_on_one_node_is_enforced_by_the_other_at_once() {
    let Some(c) = cluster(str::to_owned).await else { return };
    let mut feed_b = c.follow(&c.b).await;
    let rounds = 100;
    let (mut enforced, mut fed) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for i in 0..rounds {
        let device = format!("dev-{i}");
        let (token, user) = c.login(&c.a, &device).await;
        assert!(c.active(&c.b, &token).await, "a fresh token is active on the other node");
        let started = Instant::now();
        c.kick(&c.a, &user, &device).await;
        // The first introspection on B after the kick returned must already say inactive.
        assert!(!c.active(&c.b, &token).await, "round {i}: node B still reports a kicked token active");
        enforced.push(started.elapsed());
        let (event, at) =
            feed_b.next_revocation(Duration::from_secs(2)).await.expect("the kick on B's feed within 2 s");
        assert_eq!(event.reason_admin["en"], "kicked");
        fed.push(at.duration_since(started));
    }
    enforced.sort();
    fed.sort();
    eprintln!(
        "kick on A -> inactive on B (kick request + one introspection), {rounds} rounds: median {:?}, p90 {:?}, worst {:?}",
        percentile(&enforced, 0.5),
        percentile(&enforced, 0.9),
        enforced[rounds - 1]
    );
    eprintln!(
        "kick on A -> event on B's feed, {rounds} rounds: median {:?}, p90 {:?}, worst {:?}",
        percentile(&fed, 0.5),
        percentile(&fed, 0.9),
        fed[rounds - 1]
    );
    assert!(fed[rounds - 1] < Duration::from_secs(1), "every kick reached B's feed within a second");
}

#[tokio::test]
async fn without_redis_revoked_tokens_stay_revoked_and_the_state_catches_up() {
    let Some(url) = env_url(REDIS_ENV) else {
        eprintln!("the Redis outage test needs {REDIS_ENV}; not run here");
        return;
    };
    let proxy = TcpProxy::start(redis_addr(&url)).await;
    let proxied = format!("redis://{}", proxy.addr);
    let Some(mut c) = cluster(|_| proxied.clone()).await else { return };
    let (first, user) = c.login(&c.a, "first").await;
    c.kick(&c.a, &user, "first").await;
    assert!(!c.active(&c.b, &first).await);
    let mut feed_b = c.follow(&c.b).await;

    // Redis goes away.
    proxy.down().await;
    let (second, _) = c.login(&c.a, "second").await;
    let (third, _) = c.login(&c.b, "third").await;
    assert!(c.active(&c.b, &second).await, "checks fall back to SQL and still find live tokens");
    c.kick(&c.a, &user, "second").await;
    assert!(!c.active(&c.b, &second).await, "a token kicked while Redis is down is inactive at once");
    assert!(!c.active(&c.a, &first).await, "earlier revocations hold too");
    assert!(c.active(&c.a, &third).await);
    let (event, _) = feed_b.next_revocation(Duration::from_secs(5)).await.expect("B's feed polls SQL without Redis");
    assert_eq!(event.reason_admin["en"], "kicked");

    // Redis returns: the state is rebuilt, including what happened while it was away.
    proxy.up();
    let deadline = Instant::now() + Duration::from_secs(10);
    let second_sid = crate::jwt::parts(&second).1["sid"].as_str().expect("sid").to_owned();
    while !c.redis_has(&format!("rev:s:{second_sid}")).await {
        assert!(Instant::now() < deadline, "the revocation made while Redis was down never reached Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.redis_has("rev:complete").await);
    c.kick(&c.b, &user, "third").await;
    assert!(!c.active(&c.a, &third).await);
    assert!(feed_b.next_revocation(Duration::from_secs(2)).await.is_some());

    // Redis comes back empty (restarted without persistence): never wrong, and rebuilt from SQL.
    c.flush().await;
    assert!(!c.active(&c.b, &first).await, "an emptied Redis does not bring a kicked token back");
    assert!(!c.active(&c.a, &second).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    let first_sid = crate::jwt::parts(&first).1["sid"].as_str().expect("sid").to_owned();
    while !(c.redis_has("rev:complete").await && c.redis_has(&format!("rev:s:{first_sid}")).await) {
        assert!(Instant::now() < deadline, "the emptied state was not rebuilt from SQL");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (fourth, _) = c.login(&c.a, "fourth").await;
    assert!(c.active(&c.b, &fourth).await);
}
