//! `TestServer`: the real server, in this process, on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::client::ClientSpec;
use portcullis_domain::clock::Clock;
use portcullis_domain::grant::GrantType;
use portcullis_domain::secret::Secret;
use portcullis_server::config::ConnectionUrl;
use portcullis_server::{App, Config, Server};
use portcullis_store::SqlStore;
pub use portcullis_testkit::ManualClock;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::db::{TestDb, checked_redis_url};

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub app: App,
    /// The server's own store (one pool), for tests that look at or break rows directly.
    pub store: SqlStore,
    /// The server's clock when the test injected one.
    pub clock: Option<Arc<ManualClock>>,
    pub http: reqwest::Client,
    pub keys_dir: tempfile::TempDir,
    /// The server's own files besides its keys: the one-time-code outbox (`outbox()`).
    pub scratch: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Last: dropped after the server has stopped.
    pub db: TestDb,
}

/// A registered client and its secret (absent for a public client).
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

/// The configuration every test starts from: cheap argon2, fast key reload, own paths.
pub fn test_config(db: &TestDb, keys_dir: &std::path::Path) -> Config {
    let defaults = Config::default();
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: ConnectionUrl(db.url.clone()),
        keys_dir: keys_dir.to_path_buf(),
        database: portcullis_server::config::DatabaseConfig { max_connections: 5 },
        keys: portcullis_server::config::KeysConfig { reload_interval: Duration::from_millis(200), ..defaults.keys },
        passwords: portcullis_server::config::PasswordsConfig { memory_kib: 1024, iterations: 1, ..defaults.passwords },
        // The suite runs many servers on a loaded box, where a runtime falls behind for reasons
        // of its own: only the shedding tests shed.
        http: portcullis_server::config::HttpConfig { max_queue_delay: Duration::from_secs(10), ..defaults.http },
        // Each test its own Redis keys.
        redis: portcullis_server::config::RedisConfig {
            key_prefix: format!("pc-test-{}:", uuid::Uuid::new_v4().simple()),
        },
        ..defaults
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server whose clock is `clock`: the test passes time with `clock.advance`.
    pub async fn start_with_clock(clock: Arc<ManualClock>) -> Self {
        Self::start_inner(|_| {}, Some(clock)).await
    }

    /// `start_with_clock`, with a configuration `tweak`.
    pub async fn start_with_clock_and(clock: Arc<ManualClock>, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_inner(tweak, Some(clock)).await
    }

    /// Starts a server whose configuration `tweak` may change.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_inner(tweak, None).await
    }

    /// The injected clock; panics when the test did not inject one.
    pub fn manual_clock(&self) -> &ManualClock {
        self.clock.as_deref().expect("the test started the server with start_with_clock")
    }

    async fn start_inner(tweak: impl FnOnce(&mut Config), clock: Option<Arc<ManualClock>>) -> Self {
        let db = TestDb::new().await;
        let keys_dir = tempfile::tempdir().expect("tempdir");
        crate::keys::seed(keys_dir.path());
        let scratch = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&db, keys_dir.path());
        config.otp.outbox_path = scratch.path().join("otp-outbox.jsonl");
        config.redis_url = checked_redis_url().await.map(ConnectionUrl);
        tweak(&mut config);
        let store = SqlStore::new(
            portcullis_store::connect(&config.database_url.0, config.database.max_connections)
                .await
                .expect("the test database opens"),
        );
        let mut builder = Server::builder(config).store(store.clone());
        if let Some(clock) = &clock {
            builder = builder.clock(clock.clone() as Arc<dyn Clock>);
        }
        let server = builder.build().await.expect("server builds");
        let addr = server.local_addr();
        let app = server.app().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
        Self {
            addr,
            base: format!("http://{addr}"),
            app,
            store,
            clock,
            http,
            keys_dir,
            scratch,
            shutdown: Some(tx),
            task: Some(task),
            db,
        }
    }

    /// The outbox's lines (one-time codes sent with the default `outbox` sender), oldest first.
    pub fn outbox(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.scratch.path().join("otp-outbox.jsonl")) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).expect("an outbox line is JSON")).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("cannot read the outbox: {e}"),
        }
    }

    /// The latest code the outbox holds for `to` (a phone number or an email address).
    pub fn outbox_code(&self, to: &str) -> Option<String> {
        self.outbox().into_iter().rev().find(|l| l["to"] == to).map(|l| l["code"].as_str().expect("code").to_owned())
    }

    /// Creates a user with a phone or an email and no password; returns its id.
    pub async fn user_with(&self, username: &str, phone: Option<&str>, email: Option<&str>) -> String {
        let new = portcullis_server::ops::NewUser {
            username: username.to_owned(),
            password: None,
            phone: phone.map(str::to_owned),
            email: email.map(str::to_owned),
        };
        self.app.directory().create_user(new, "test").await.expect("user created").id.to_string()
    }

    /// The server's now: the injected clock's, or the system's.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.clock {
            Some(clock) => clock.now(),
            None => portcullis_domain::clock::SystemClock.now(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a confidential client.
    pub async fn client(&self, grants: &[GrantType], scope: &str) -> TestClient {
        self.register(grants, scope, false).await
    }

    /// Registers a public client (no secret).
    pub async fn public_client(&self, grants: &[GrantType], scope: &str) -> TestClient {
        self.register(grants, scope, true).await
    }

    async fn register(&self, grants: &[GrantType], scope: &str, public: bool) -> TestClient {
        self.app_client(grants, scope, &[], public).await
    }

    /// Registers a client with redirect URIs (for the authorization-code grant).
    pub async fn app_client(
        &self,
        grants: &[GrantType],
        scope: &str,
        redirect_uris: &[&str],
        public: bool,
    ) -> TestClient {
        self.register_spec(ClientSpec {
            name: "Test App".into(),
            grants: grants.to_vec(),
            scope: scope.parse().expect("scope"),
            redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
            public,
            ..ClientSpec::default()
        })
        .await
    }

    /// Registers a resource server: a confidential client that may introspect tokens and follow
    /// the revocation feed.
    pub async fn resource_server(&self) -> TestClient {
        self.register_spec(ClientSpec {
            name: "Test Resource Server".into(),
            grants: vec![GrantType::ClientCredentials],
            resource_server: true,
            ..ClientSpec::default()
        })
        .await
    }

    /// Registers the client `spec` describes.
    pub async fn register_spec(&self, spec: ClientSpec) -> TestClient {
        let spec = spec.checked().expect("valid spec");
        let created = self.app.directory().create_client(spec, "test").await.expect("client created");
        TestClient { id: created.client.id.to_string(), secret: created.secret.map(|s| s.expose().to_owned()) }
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, username: &str, password: &str) -> String {
        let new = portcullis_server::ops::NewUser {
            username: username.to_owned(),
            password: Some(Secret::new(password)),
            ..Default::default()
        };
        let user = self.app.directory().create_user(new, "test").await;
        user.expect("user created").id.to_string()
    }

    /// POSTs a form to the token endpoint; `basic` authenticates the client with HTTP Basic.
    pub async fn token_request(&self, form: &[(&str, &str)], basic: Option<&TestClient>) -> reqwest::Response {
        self.post_form(portcullis_server::http::paths::TOKEN, form, basic, &[]).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<&TestClient>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(c) = basic {
            req = req.basic_auth(&c.id, c.secret.as_deref());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request sent")
    }

    /// A client-credentials token for `client` (Basic), asserting success.
    pub async fn client_token(&self, client: &TestClient, scope: Option<&str>) -> Value {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let res = self.token_request(&form, Some(client)).await;
        assert_eq!(res.status(), 200, "client_credentials failed");
        res.json().await.expect("json")
    }

    /// A password-grant token response (asserting success).
    pub async fn login(&self, client: &TestClient, username: &str, password: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("grant_type", "password"), ("username", username), ("password", password)];
        form.extend_from_slice(extra);
        let res = self.token_request(&form, Some(client)).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "password grant failed: {body}");
        body
    }

    /// `GET /me` with a user's access token (asserting success).
    pub async fn me(&self, access_token: &str) -> Value {
        let res = self.http.get(self.url("/me")).bearer_auth(access_token).send().await.expect("request sent");
        assert_eq!(res.status(), 200, "GET /me failed");
        res.json().await.expect("json")
    }

    /// An admin access token (a fresh client with scope `admin`).
    pub async fn admin_token(&self) -> String {
        let c = self.client(&[portcullis_domain::grant::GrantType::ClientCredentials], "admin").await;
        self.client_token(&c, Some("admin")).await["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Bans user `id` through the admin API, as an operator would.
    pub async fn ban(&self, id: &str, reason: &str) {
        let admin = self.admin_token().await;
        let res = self
            .http
            .post(self.url(&format!("/admin/users/{id}/ban")))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "reason": reason }))
            .send()
            .await
            .expect("answered");
        assert!(res.status().is_success(), "the ban was taken: {}", res.status());
    }

    /// Introspects `token` as `client`.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        let res =
            self.post_form(portcullis_server::http::paths::INTROSPECT, &[("token", token)], Some(client), &[]).await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
        let res = self.http.get(self.url(path)).send().await.expect("request sent");
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.json().await.unwrap_or(Value::Null))
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown_now().await;
    }

    /// Stops serving (and the node's background tasks) but keeps the database, for a test that
    /// looks at what a node that died left behind.
    pub async fn halt(&mut self) {
        self.shutdown_now().await;
    }

    async fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
