//! `TestDb`: a database of the test's own — a SQLite file, or a fresh PostgreSQL database
//! when `PORTCULLIS_TEST_DATABASE_URL` is set (dropped afterwards).

use sea_orm::{ConnectionTrait, Database};

pub const DATABASE_ENV: &str = "PORTCULLIS_TEST_DATABASE_URL";
pub const REDIS_ENV: &str = "PORTCULLIS_TEST_REDIS_URL";

pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// The configured test URL, if any (empty counts as unset).
pub fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl TestDb {
    pub async fn new() -> Self {
        match env_url(DATABASE_ENV) {
            Some(base) => Self::postgres(base).await,
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}/portcullis.db", dir.path().display());
                Self { url, postgres: None, _dir: Some(dir) }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    async fn postgres(base: String) -> Self {
        let admin = Database::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{DATABASE_ENV} is set but PostgreSQL is unreachable: {e}"));
        let name = format!("pc_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        admin.close().await.ok();
        let url = replace_db(&base, &name);
        Self { url, postgres: Some((base, name)), _dir: None }
    }
}

fn replace_db(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.postgres.take() else { return };
        // Drop runs outside any runtime we may block; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&base).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Fails the test if Redis is configured for tests but does not answer.
pub async fn checked_redis_url() -> Option<String> {
    let url = env_url(REDIS_ENV)?;
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| panic!("{REDIS_ENV} is not a Redis URL: {e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{REDIS_ENV} is set but Redis is unreachable: {e}"));
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.expect("PING");
    assert_eq!(pong, "PONG");
    Some(url)
}

/// The one integer a query answers (a `COUNT(*)`, say), with `$1`… bound to `values`.
pub async fn scalar(db: &impl sea_orm::ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<i64>(0).expect("an integer")
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_db("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(super::replace_db("postgres://h/test?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
        assert_eq!(super::replace_db("postgres://h", "x"), "postgres://h/x");
    }
}
