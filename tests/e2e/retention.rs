//! Retention (docs/decisions/0013): history goes in batches once nothing needs it; live
//! sessions, the events still in force and the feed's resume contract stay; one node at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use portcullis_domain::grant::GrantType::{Password, RefreshToken};
use portcullis_domain::ports::RetentionStore;
use portcullis_domain::retention::{RetentionPolicy, Table};
use portcullis_e2e::feed::FeedFollower;
use portcullis_e2e::{ManualClock, TestClient, TestServer};
use portcullis_server::ops::retention::{Janitor, JanitorParts};
use serde_json::Value;

use crate::jwt::parts;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

struct History {
    s: TestServer,
    c: TestClient,
    rs: TestClient,
    user: String,
}

async fn history() -> History {
    history_keeping_sessions(Duration::from_secs(30 * 24 * 3600)).await
}

/// `history`, ended sessions kept `sessions`.
async fn history_keeping_sessions(sessions: Duration) -> History {
    let clock = Arc::new(ManualClock::from_system());
    let s = TestServer::start_with_clock_and(clock, |c| {
        c.retention.sessions = sessions;
        c.retention.interval = Duration::from_millis(100);
        // Small batches: a sweep must loop to finish a table.
        c.retention.batch_size = 2;
        c.login.max_attempts_per_ip = 1000;
    })
    .await;
    let c = s.client(&[Password, RefreshToken], "read").await;
    let rs = s.resource_server().await;
    let user = s.user("rita", "rita's long password").await;
    History { s, c, rs, user }
}

impl History {
    async fn login(&self, device: &str) -> Value {
        let form = [
            ("grant_type", "password"),
            ("username", "rita"),
            ("password", "rita's long password"),
            ("device_id", device),
        ];
        let res = self.s.post_form("/oauth2/token", &form, Some(&self.c), &[("user-agent", UA)]).await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    async fn refresh(&self, body: &Value, device: &str) -> (u16, Value) {
        let token = body["refresh_token"].as_str().expect("refresh_token");
        let form = [("grant_type", "refresh_token"), ("refresh_token", token), ("device_id", device)];
        let res = self.s.post_form("/oauth2/token", &form, Some(&self.c), &[("user-agent", UA)]).await;
        let status = res.status().as_u16();
        (status, res.json().await.expect("json"))
    }

    /// Refreshes `device`'s family, which must still be live.
    async fn keep_alive(&self, body: &mut Value, device: &str) {
        let (status, next) = self.refresh(body, device).await;
        assert_eq!(status, 200, "a live session refreshes: {next}");
        *body = next;
    }

    async fn kick(&self, device: &str) {
        let url = self.s.url(&format!("/admin/users/{}/devices/{device}", self.user));
        // A fresh admin token each time: the manual clock outruns their 15 minutes.
        let admin = self.s.admin_token().await;
        let res = self.s.http.delete(url).bearer_auth(admin).send().await.expect("send");
        assert_eq!(res.status(), 204);
    }

    async fn count(&self, sql: &str) -> i64 {
        portcullis_e2e::db::scalar(self.s.store.connection(), sql, vec![]).await
    }

    /// Waits (a few sweeps at most) until `sql` counts `want`.
    async fn until(&self, sql: &str, want: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = self.count(sql).await;
            if n == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{sql}: {n}, not {want}, after 10 s of sweeps");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn advance(&self, by: Span) {
        self.s.manual_clock().advance(by);
    }
}

fn sid_of(body: &Value) -> String {
    parts(body["access_token"].as_str().expect("at")).1["sid"].as_str().expect("sid").to_owned()
}

fn sessions_of(sid: &str) -> String {
    format!("SELECT COUNT(*) FROM device_sessions WHERE id = '{sid}'")
}

fn tokens_of(sid: &str) -> String {
    format!("SELECT COUNT(*) FROM refresh_tokens WHERE session_id = '{sid}'")
}

#[tokio::test]
async fn history_goes_while_live_sessions_and_events_in_force_stay() {
    let h = history().await;
    // `live` refreshes all along; `kicked` is revoked at once; `idle` is never used again.
    let mut live = h.login("live").await;
    let live_sid = sid_of(&live);
    for _ in 0..3 {
        h.keep_alive(&mut live, "live").await;
    }
    let kicked = h.login("kicked").await;
    let idle = h.login("idle").await;
    h.kick("kicked").await;
    let first_event: i64 = h.count("SELECT MAX(id) FROM revocation_events").await;
    assert_eq!(h.count(&tokens_of(&live_sid)).await, 4, "the login and three rotations");

    // Two hours on the kick's event is past every token it could affect (15 min access tokens,
    // the feed's minute, the hour's margin) and goes, unless it is the newest event.
    h.advance(Span::hours(2));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.count("SELECT COUNT(*) FROM revocation_events").await, 1, "the newest event is kept");
    let second = h.login("second").await;
    h.kick("second").await;
    h.until(&format!("SELECT COUNT(*) FROM revocation_events WHERE id = {first_event}"), 0).await;
    assert_eq!(h.count("SELECT COUNT(*) FROM revocation_events").await, 1, "the second kick is in force");

    // A follower resuming from the pruned event still gets every event in force.
    let secret = h.rs.secret.as_deref().expect("confidential");
    let feed = h.s.url(portcullis_server::http::paths::REVOCATION_FEED);
    let mut follower = FeedFollower::connect(&feed, &h.rs.id, secret, Some(&first_event.to_string())).await;
    let backlog = follower.backlog().await;
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(backlog[0].subject.session.as_ref().and_then(|s| s.id.clone()), Some(sid_of(&second)));
    // And the kicked session's access token is still refused, by introspection too.
    assert_eq!(h.s.introspect(&h.rs, second["access_token"].as_str().expect("at")).await["active"], false);

    // Fifteen days on (the live family refreshed on day 13): every token issued on day 0 has
    // expired and goes; the live family keeps its newest token and refreshes.
    h.advance(Span::days(13));
    h.keep_alive(&mut live, "live").await;
    h.advance(Span::days(2));
    h.until(&tokens_of(&live_sid), 1).await;
    h.until(&tokens_of(&sid_of(&idle)), 0).await;
    h.until(&tokens_of(&sid_of(&kicked)), 0).await;
    assert_eq!(h.count(&sessions_of(&sid_of(&kicked))).await, 1, "ended sessions stay 30 days");
    assert_eq!(h.count(&sessions_of(&sid_of(&idle))).await, 1);
    h.keep_alive(&mut live, "live").await;

    // 45 days on: the kicked session (ended on day 0) and the idle one (expired on day 14) are
    // past the 30 days and go; the live one stays and still refreshes.
    for _ in 0..3 {
        h.advance(Span::days(10));
        h.keep_alive(&mut live, "live").await;
    }
    h.until(&sessions_of(&sid_of(&kicked)), 0).await;
    h.until(&sessions_of(&sid_of(&idle)), 0).await;
    assert_eq!(h.count(&sessions_of(&live_sid)).await, 1);
    h.keep_alive(&mut live, "live").await;
    let (status, body) = h.refresh(&idle, "idle").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a forgotten token is refused");

    // Audit events go after 90 days (the live session is past its own 90-day cap by then).
    let audited = h.count("SELECT COUNT(*) FROM audit_events").await;
    assert!(audited > 10, "{audited}");
    h.advance(Span::days(50));
    h.until("SELECT COUNT(*) FROM audit_events WHERE kind = 'login_succeeded'", 0).await;
    let left = h.count("SELECT COUNT(*) FROM audit_events").await;
    assert!(left >= 1 && left < audited, "recent audit rows stay: {left} of {audited}");

    // The metrics tell what went and how old the oldest row is.
    let text = h.s.http.get(h.s.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    for table in ["refresh_tokens", "device_sessions", "revocation_events", "audit_events"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("portcullis_retention_pruned_total{{table=\"{table}\"}}")))
            .unwrap_or_else(|| panic!("no pruned count for {table}:\n{text}"));
        let n: f64 = line.rsplit(' ').next().expect("value").parse().expect("number");
        assert!(n >= 1.0, "{line}");
        assert!(text.contains(&format!("portcullis_retention_oldest_row_age_seconds{{table=\"{table}\"}}")));
    }
}

#[tokio::test]
async fn a_pruned_session_takes_its_unexpired_tokens_with_it() {
    // Sessions kept a day: the kicked one goes while its tokens (14 days) are unexpired, and
    // they go with it (the foreign key cascades, on both databases).
    let h = history_keeping_sessions(Duration::from_secs(24 * 3600)).await;
    let kicked = h.login("kicked").await;
    let sid = sid_of(&kicked);
    h.kick("kicked").await;
    assert_eq!(h.count(&tokens_of(&sid)).await, 1);
    h.advance(Span::days(2));
    h.until(&sessions_of(&sid), 0).await;
    assert_eq!(h.count(&tokens_of(&sid)).await, 0);
    let (status, body) = h.refresh(&kicked, "kicked").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn expired_codes_and_login_sessions_go() {
    let h = history().await;
    let db = h.s.store.connection();
    let now = h.s.now();
    let backend = sea_orm::ConnectionTrait::get_database_backend(db);
    for (hash, expires) in [("old", now - Span::hours(2)), ("fresh", now + Span::minutes(5))] {
        let code = format!(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, created_at, expires_at) \
             VALUES ('{hash}', '{}', '{}', 'https://app.example/cb', 'read', $1, $2)",
            h.c.id, h.user
        );
        let login = format!(
            "INSERT INTO login_sessions (secret_hash, user_id, created_at, expires_at) VALUES ('{hash}', '{}', $1, $2)",
            h.user
        );
        for sql in [code, login] {
            let values = vec![sea_orm::Value::from(expires - Span::minutes(10)), sea_orm::Value::from(expires)];
            sea_orm::ConnectionTrait::execute_raw(db, sea_orm::Statement::from_sql_and_values(backend, sql, values))
                .await
                .expect("insert");
        }
    }
    h.until("SELECT COUNT(*) FROM authorization_codes WHERE code_hash = 'old'", 0).await;
    h.until("SELECT COUNT(*) FROM login_sessions WHERE secret_hash = 'old'", 0).await;
    assert_eq!(h.count("SELECT COUNT(*) FROM authorization_codes").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM login_sessions").await, 1);
}

#[tokio::test]
async fn one_node_at_a_time_holds_the_lease() {
    let mut h = history().await;
    let store = h.s.store.clone();
    let now = h.s.now();
    // The lease itself, on this database.
    assert!(store.lease("probe", "a", now, now + Span::minutes(1)).await.expect("lease"));
    assert!(!store.lease("probe", "b", now, now + Span::minutes(1)).await.expect("lease"), "held by a");
    assert!(store.lease("probe", "a", now, now + Span::minutes(2)).await.expect("lease"), "a renews");
    let later = now + Span::minutes(3);
    assert!(store.lease("probe", "b", later, later + Span::minutes(1)).await.expect("lease"), "a's lapsed");
    assert!(!store.lease("probe", "a", later, later + Span::minutes(1)).await.expect("lease"), "b holds it now");

    // The running node holds the retention lease (it sweeps every 100 ms): a second node's
    // janitor does nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = Janitor::new(JanitorParts {
        store: Arc::new(store.clone()),
        clock: h.s.clock.clone().expect("manual clock"),
        policy: RetentionPolicy::default(),
        tokens: portcullis_domain::policy::TokenPolicy {
            access_ttl: Span::minutes(15),
            refresh_idle_ttl: Span::days(14),
            session_absolute_ttl: Span::days(90),
            reuse_grace: Span::seconds(10),
        },
        batch: 10,
        interval: Duration::from_secs(60),
    });
    let swept = other.sweep().await.expect("sweep");
    assert!(!swept.leader && swept.pruned.is_empty(), "{swept:?}");
    // Once the node has died (and its lease has run out), the other takes over.
    h.s.halt().await;
    h.advance(Span::minutes(5));
    let swept = other.sweep().await.expect("sweep");
    assert!(swept.leader, "{swept:?}");
    assert_eq!(swept.pruned.iter().map(|(t, _)| *t).collect::<Vec<_>>(), Table::ALL.to_vec());
}
