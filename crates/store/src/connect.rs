//! Opening the database and applying migrations.

use std::time::Duration;

use portcullis_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait,
};

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Opens a pool on `url`. For SQLite, creates the file (and its folder) when missing and
/// switches it to WAL so that readers never wait for a writer.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let backend = backend_of(url)?;
    let mut url = url.to_owned();
    if backend == Backend::Sqlite {
        prepare_sqlite_file(&mut url)?;
    }
    let db = open_pool(url, max_connections).await?;
    match backend {
        Backend::Sqlite => {
            db.execute_unprepared("PRAGMA journal_mode=WAL;").await?;
        }
        Backend::Postgres => check_read_committed(&db).await?,
    }
    Ok(db)
}

/// Opens a pool on a database a node made, changing nothing about it: a SQLite file is opened
/// read-write but never created (`mode=rw`), its mode and journal left as they are. For the
/// one-shot commands, which must not make a database where there was none.
pub async fn connect_existing(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let backend = backend_of(url)?;
    let url = match backend {
        Backend::Sqlite => {
            let (head, query) = url.split_once('?').unwrap_or((url, ""));
            let kept: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("mode=")).collect();
            let mut url = format!("{head}?mode=rw");
            for p in kept {
                url.push('&');
                url.push_str(p);
            }
            url
        }
        Backend::Postgres => url.to_owned(),
    };
    let db = open_pool(url, max_connections).await?;
    if backend == Backend::Postgres {
        check_read_committed(&db).await?;
    }
    Ok(db)
}

fn backend_of(url: &str) -> Result<Backend, DbErr> {
    Backend::of_url(url).ok_or_else(|| DbErr::Custom("database URL must start with sqlite: or postgres://".into()))
}

async fn open_pool(url: String, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// Refresh rotation relies on READ COMMITTED (each statement after the family lock sees the
/// previous holder's commit); refuse a server whose default is stricter rather than fail later.
async fn check_read_committed(db: &DatabaseConnection) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW default_transaction_isolation".to_owned()))
        .await?
        .ok_or_else(|| DbErr::Custom("SHOW default_transaction_isolation returned nothing".into()))?;
    let level: String = row.try_get_by_index(0)?;
    if level != "read committed" {
        return Err(DbErr::Custom(format!(
            "PostgreSQL default_transaction_isolation is {level:?}; Portcullis needs \"read committed\" (the default)"
        )));
    }
    Ok(())
}

/// Makes the folder of a SQLite file, and the file itself readable by its owner only (0600:
/// it holds hashes, the audit trail and every session); SQLite's `-wal` and `-shm` files take
/// the database file's mode.
fn prepare_sqlite_file(url: &mut String) -> Result<(), DbErr> {
    let Some(file) = sqlite_file(url) else { return Ok(()) };
    let Some(path) = file.to_str() else { return Ok(()) };
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0o600);
                if mode & 0o077 != 0 {
                    tracing::warn!(path, "the database file was readable by others; making it owner-only (0600)");
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| DbErr::Custom(format!("cannot restrict {path}: {e}")))?;
                }
            }
        }
        Err(e) => return Err(DbErr::Custom(format!("cannot create {path}: {e}"))),
    }
    if !url.contains("mode=") {
        url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
    }
    Ok(())
}

/// The file a `sqlite:` URL names; `None` for an in-memory database or another backend.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if Backend::of_url(url) != Some(Backend::Sqlite) {
        return None;
    }
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.into())
}

/// How many migrations this build knows that the database has not applied; reads only (the
/// migrations' own table is not created when it is missing: then every migration is pending).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}

/// The key of the advisory lock that migrations run under on PostgreSQL ("pcmigrat").
pub const MIGRATION_LOCK: i64 = 0x7063_6d69_6772_6174;

/// Applies every pending migration. On PostgreSQL they run in one transaction under an advisory
/// lock: nodes starting at once take turns (the second finds nothing left to do instead of
/// failing on a table the first just made), and a migration that fails leaves nothing behind
/// (PostgreSQL's DDL is transactional). A SQLite file has one node.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        // One transaction on one connection: statements spread over the pool's connections
        // could each see the schema as it was (a dropped index "already exists" on another).
        let txn = db.begin().await?;
        Migrator::up(&txn, None).await?;
        return txn.commit().await;
    }
    let txn = db.begin().await?;
    // Waiting longer than this for the lock, or for a table a migration alters, is a stuck node
    // or a long transaction in the way: fail the start (and say so) rather than hang.
    txn.execute_unprepared("SET LOCAL lock_timeout = '10min'").await?;
    let try_lock = format!("SELECT pg_try_advisory_xact_lock({MIGRATION_LOCK})");
    let row = txn.query_one_raw(Statement::from_string(DbBackend::Postgres, try_lock)).await?;
    let locked: bool = row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(false);
    if !locked {
        tracing::info!("another node is applying migrations; waiting for it (at most 10 minutes)");
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::of_url("sqlite://data/x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("mysql://h"), None);
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let mut url = format!("sqlite://{}/sub/x.db", dir.path().display());
        prepare_sqlite_file(&mut url).unwrap();
        assert!(url.ends_with("?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("sub/x.db")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the database file is the owner's alone");
        }
    }
}
