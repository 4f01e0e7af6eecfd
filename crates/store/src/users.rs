//! `UserRepo` over `users`, and the user-wide cut-off (ban, password change, kick-all).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::clock::Clock;
use portcullis_domain::ids::{SessionId, UserId, Username};
use portcullis_domain::otp::{Destination, Email, Phone};
use portcullis_domain::ports::{Authenticated, CutOff, CutOffDone, ProfileChange, StoreError, UserChange, UserRepo};
use portcullis_domain::revocation::{NewRevocation, Target};
use portcullis_domain::user::{Cutoffs, User, UserStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use crate::SqlStore;
use crate::ending::{Logins, Sessions, Span, end_browser_logins, end_sessions};
use crate::entities::user;
use crate::error::store_err;

/// The columns of a user that decide whether it may hold sessions.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct Gate {
    pub id: String,
    pub status: String,
    pub cutoff_at: Option<DateTime<Utc>>,
    pub cutoff_except_at: Option<DateTime<Utc>>,
    pub cutoff_except_sid: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl Gate {
    pub fn status(&self) -> UserStatus {
        UserStatus::from_stored(&self.status)
    }

    pub fn cutoffs(&self) -> Result<Cutoffs, StoreError> {
        cutoffs(self.cutoff_at, self.cutoff_except_at, self.cutoff_except_sid.as_deref())
    }

    /// Whether a session (or a browser login) may be opened for this user by someone who
    /// authenticated as `authenticated` says: the user is active, no cut-off came at or after
    /// the authentication, and the user is still the one the login read.
    pub fn admits(&self, authenticated: Authenticated) -> Result<bool, StoreError> {
        Ok(self.status() == UserStatus::Active
            && self.cutoffs()?.admits(authenticated.at)
            && authenticated.user_version.is_none_or(|v| v == self.updated_at))
    }
}

fn cutoffs(
    all: Option<DateTime<Utc>>,
    except_at: Option<DateTime<Utc>>,
    except_sid: Option<&str>,
) -> Result<Cutoffs, StoreError> {
    let except = match (except_at, except_sid) {
        (Some(at), Some(sid)) => {
            Some((at, SessionId::parse(sid).map_err(|_| StoreError::malformed("stored cut-off has a malformed sid"))?))
        }
        _ => None,
    };
    Ok(Cutoffs { all, except })
}

pub(crate) const GATE_COLUMNS: &str = "id, status, cutoff_at, cutoff_except_at, cutoff_except_sid, updated_at";

/// Reads the gate of `user` under a lock: a share lock on PostgreSQL (refreshes and logins of
/// the user proceed side by side; a cut-off waits for them, and they for it), SQLite's write lock
/// otherwise. `None` for an unknown user.
pub(crate) async fn gate_for_update(
    txn: &DatabaseTransaction,
    user: &str,
    exclusive: bool,
) -> Result<Option<Gate>, StoreError> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            let mode = if exclusive { "FOR NO KEY UPDATE" } else { "FOR SHARE" };
            format!("SELECT {GATE_COLUMNS} FROM users WHERE id = $1 {mode}")
        }
        // A no-op update takes the database's write lock before anything is read (of a column
        // no foreign key refers to: `SET id = id` would make SQLite check every session).
        _ => format!("UPDATE users SET status = status WHERE id = $1 RETURNING {GATE_COLUMNS}"),
    };
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [user.to_owned().into()]))
        .await
        .map_err(store_err)?;
    row.map(|r| Gate::from_query_result(&r, "").map_err(store_err)).transpose()
}

/// Takes the exclusive row locks of the users a selection of sessions belongs to, in id order
/// (the order refresh batches take their share locks in), before sessions of several users are
/// ended: no refresh of theirs is deciding meanwhile, and none can deadlock with the ending.
/// A no-op on SQLite, whose write lock the transaction holds already.
pub(crate) async fn lock_users_of(
    txn: &DatabaseTransaction,
    sessions_where: &str,
    values: Vec<sea_orm::Value>,
) -> Result<(), StoreError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let sql = format!(
        "SELECT id FROM users WHERE id IN (SELECT user_id FROM device_sessions WHERE {sessions_where}) \
         ORDER BY id FOR NO KEY UPDATE"
    );
    txn.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await.map_err(store_err)?;
    Ok(())
}

fn to_domain(m: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::parse(&m.id).map_err(|e| StoreError::malformed(format!("stored user id: {e}")))?,
        username: Username::parse(&m.username).map_err(|e| StoreError::malformed(format!("stored username: {e}")))?,
        password_hash: m.password_hash,
        phone: m.phone.map(Phone::from_stored),
        email: m.email.map(Email::from_stored),
        display_name: m.display_name,
        status: UserStatus::from_stored(&m.status),
        ban_reason: m.ban_reason,
        cutoffs: cutoffs(m.cutoff_at, m.cutoff_except_at, m.cutoff_except_sid.as_deref())?,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl UserRepo for SqlStore {
    async fn insert(&self, u: &User) -> Result<(), StoreError> {
        let row = user::ActiveModel {
            id: Set(u.id.to_string()),
            username: Set(u.username.to_string()),
            password_hash: Set(u.password_hash.clone()),
            phone: Set(u.phone.as_ref().map(|p| p.as_str().to_owned())),
            email: Set(u.email.as_ref().map(|e| e.as_str().to_owned())),
            display_name: Set(u.display_name.clone()),
            status: Set(u.status.as_str().to_owned()),
            ban_reason: Set(u.ban_reason.clone()),
            cutoff_at: Set(u.cutoffs.all),
            cutoff_except_at: Set(u.cutoffs.except.as_ref().map(|(at, _)| *at)),
            cutoff_except_sid: Set(u.cutoffs.except.as_ref().map(|(_, sid)| sid.to_string())),
            created_at: Set(u.created_at),
            updated_at: Set(u.updated_at),
        };
        user::Entity::insert(row).exec_without_returning(&self.db).await.map_err(store_err)?;
        Ok(())
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        user::Entity::find()
            .filter(user::Column::Username.eq(username.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }

    async fn find_by_destination(&self, to: &Destination) -> Result<Option<User>, StoreError> {
        let column = match to {
            Destination::Phone(_) => user::Column::Phone,
            Destination::Email(_) => user::Column::Email,
        };
        user::Entity::find()
            .filter(column.eq(to.address()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_domain)
            .transpose()
    }

    async fn find(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        user::Entity::find_by_id(id.as_str()).one(&self.db).await.map_err(store_err)?.map(to_domain).transpose()
    }

    async fn list(&self, after: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError> {
        let mut q = user::Entity::find().order_by_asc(user::Column::Id).limit(limit);
        if let Some(after) = after {
            q = q.filter(user::Column::Id.gt(after));
        }
        q.all(&self.db).await.map_err(store_err)?.into_iter().map(to_domain).collect()
    }

    async fn unban(&self, id: &UserId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = user::Entity::update_many()
            .col_expr(user::Column::Status, Expr::value(UserStatus::Active.as_str()))
            .col_expr(user::Column::BanReason, Expr::value(Option::<String>::None))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected == 1)
    }

    async fn update_profile(
        &self,
        id: &UserId,
        change: &ProfileChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let txn = self.db.begin().await.map_err(store_err)?;
        // The row lock first (the order every writer of a user takes), then the change.
        if gate_for_update(&txn, id.as_str(), true).await?.is_none() {
            txn.rollback().await.map_err(store_err)?;
            return Ok(None);
        }
        if !change.is_empty() {
            let mut update = user::Entity::update_many();
            if let Some(username) = change.username {
                update = update.col_expr(user::Column::Username, Expr::value(username.as_str()));
            }
            if let Some(name) = change.display_name {
                update = update.col_expr(user::Column::DisplayName, Expr::value(name.map(str::to_owned)));
            }
            if let Some(phone) = change.phone {
                update = update.col_expr(user::Column::Phone, Expr::value(phone.map(|p| p.as_str().to_owned())));
            }
            if let Some(email) = change.email {
                update = update.col_expr(user::Column::Email, Expr::value(email.map(|e| e.as_str().to_owned())));
            }
            if change.phone.is_some() || change.email.is_some() {
                update = update.col_expr(user::Column::UpdatedAt, Expr::value(now));
            }
            update.filter(user::Column::Id.eq(id.as_str())).exec(&txn).await.map_err(store_err)?;
        }
        let user = user::Entity::find_by_id(id.as_str()).one(&txn).await.map_err(store_err)?;
        txn.commit().await.map_err(store_err)?;
        user.map(to_domain).transpose()
    }

    async fn cut_off(&self, cut: &CutOff<'_>, clock: &dyn Clock) -> Result<Option<CutOffDone>, StoreError> {
        let txn = self.db.begin().await.map_err(store_err)?;
        if gate_for_update(&txn, cut.user.as_str(), true).await?.is_none() {
            txn.rollback().await.map_err(store_err)?;
            return Ok(None);
        }
        // Only now, with the lock held, is the cut-off's time read: every refresh or login of
        // this user that decided before it released the lock earlier, and every later one sees
        // the cut-off.
        let at = clock.now();
        let mut update = user::Entity::update_many().col_expr(user::Column::UpdatedAt, Expr::value(at));
        update = match cut.change {
            UserChange::Ban { reason } => update
                .col_expr(user::Column::Status, Expr::value(UserStatus::Banned.as_str()))
                .col_expr(user::Column::BanReason, Expr::value(reason)),
            UserChange::Password { hash } => update.col_expr(user::Column::PasswordHash, Expr::value(hash)),
            UserChange::Nothing | UserChange::Delete => update,
        };
        update = match cut.keep {
            None => update.col_expr(user::Column::CutoffAt, Expr::value(at)),
            Some(keep) => update
                .col_expr(user::Column::CutoffExceptAt, Expr::value(at))
                .col_expr(user::Column::CutoffExceptSid, Expr::value(keep.as_str())),
        };
        update.filter(user::Column::Id.eq(cut.user.as_str())).exec(&txn).await.map_err(store_err)?;
        let which = Sessions::OfUser { user: cut.user.as_str(), keep: cut.keep.map(SessionId::as_str) };
        // One user-wide event covers every token of these sessions: none of their own.
        let sessions_ended = end_sessions(&txn, which, at, cut.reason, cut.actor, false, Span::All).await?;
        end_browser_logins(&txn, cut.user.as_str(), Logins::All).await?;
        let target = Target::User { user: cut.user.clone(), except: cut.keep.cloned() };
        crate::revocations::insert(&txn, &NewRevocation { at, target, reason: cut.reason }).await?;
        if matches!(cut.change, UserChange::Delete) {
            delete_user(&txn, cut.user.as_str()).await?;
        }
        txn.commit().await.map_err(store_err)?;
        Ok(Some(CutOffDone { at, sessions_ended }))
    }
}

/// Deletes the user and everything that is theirs but the audit trail and the revocation log
/// (which name the user by id and must outlive them): sessions and their tokens and the avatar
/// go by the foreign keys' cascade; consents, codes and browser logins (which have none) here.
async fn delete_user(txn: &DatabaseTransaction, user: &str) -> Result<(), StoreError> {
    let backend = txn.get_database_backend();
    for sql in [
        "DELETE FROM consents WHERE user_id = $1",
        "DELETE FROM authorization_codes WHERE user_id = $1",
        "DELETE FROM login_sessions WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ] {
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, [user.to_owned().into()]))
            .await
            .map_err(store_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The gate every new session and browser login passes, on SQLite (the end-to-end suite
    //! drives it on PostgreSQL too).

    use chrono::Duration;
    use portcullis_domain::clock::{Clock, ManualClock};
    use portcullis_domain::consent::LoginSession;
    use portcullis_domain::ids::{ClientId, DeviceId};
    use portcullis_domain::ports::{Authenticated, LoginSessionRepo, Opened, SessionRepo};
    use portcullis_domain::revocation::Reason;
    use portcullis_domain::secret::SecretHash;
    use portcullis_domain::session::DeviceSession;

    use super::*;

    async fn store() -> (tempfile::TempDir, SqlStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connect(&format!("sqlite://{}/t.db", dir.path().display()), 4).await.unwrap();
        crate::migrate(&db).await.unwrap();
        (dir, SqlStore::new(db))
    }

    fn session(user: &UserId, at: DateTime<Utc>) -> DeviceSession {
        DeviceSession {
            id: SessionId::generate(),
            user_id: user.clone(),
            client_id: ClientId::parse("pc_gate").unwrap(),
            device_id: DeviceId::generate(),
            fingerprint: "fp".into(),
            browser: "Other".into(),
            os: "Other".into(),
            device: "Other".into(),
            scope: String::new(),
            last_ip: None,
            first_seen: at,
            last_seen: at,
            auth_time: Some(at),
            idle_expires_at: at + Duration::days(14),
            absolute_expires_at: at + Duration::days(90),
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn login(user: &UserId, at: DateTime<Utc>) -> LoginSession {
        LoginSession {
            secret_hash: SecretHash::from_stored(SessionId::generate().into_string()),
            user_id: user.clone(),
            device_id: None,
            created_at: at,
            expires_at: at + Duration::minutes(10),
        }
    }

    #[tokio::test]
    async fn a_login_that_raced_a_password_change_or_a_ban_opens_nothing() {
        let (_dir, store) = store().await;
        let clock = ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let t0 = clock.now();
        let user = User {
            id: UserId::generate(),
            username: Username::parse("gate").unwrap(),
            password_hash: "old".into(),
            phone: None,
            email: None,
            status: UserStatus::Active,
            display_name: None,
            ban_reason: None,
            cutoffs: Cutoffs::default(),
            created_at: t0,
            updated_at: t0,
        };
        UserRepo::insert(&store, &user).await.unwrap();
        // The login read the user (version t0) and checked the old password...
        let read = Authenticated { at: t0, user_version: Some(t0) };
        // ...while the password changed.
        clock.advance(Duration::milliseconds(300));
        let cut = CutOff {
            user: &user.id,
            change: UserChange::Password { hash: "new" },
            keep: None,
            reason: Reason::PasswordChanged,
            actor: "test",
        };
        let done = store.cut_off(&cut, &clock).await.unwrap().unwrap();
        assert_eq!(done.at, t0 + Duration::milliseconds(300));
        clock.advance(Duration::milliseconds(100));
        let now = clock.now();
        assert_eq!(store.create(&session(&user.id, now), None, read).await.unwrap(), Opened::Refused);
        assert_eq!(LoginSessionRepo::insert(&store, &login(&user.id, now), read).await.unwrap(), Opened::Refused);
        // A code whose browser login authenticated before the cut-off: refused too.
        let code = Authenticated { at: t0, user_version: None };
        assert_eq!(store.create(&session(&user.id, now), None, code).await.unwrap(), Opened::Refused);
        // A login that read the changed user opens its session.
        let fresh = UserRepo::find(&store, &user.id).await.unwrap().unwrap();
        let after = Authenticated { at: now, user_version: Some(fresh.updated_at) };
        assert_eq!(store.create(&session(&user.id, now), None, after).await.unwrap(), Opened::Opened);
        assert_eq!(LoginSessionRepo::insert(&store, &login(&user.id, now), after).await.unwrap(), Opened::Opened);
        // Banned: nothing opens, whatever the login read.
        let ban = CutOff {
            user: &user.id,
            change: UserChange::Ban { reason: "x" },
            keep: None,
            reason: Reason::Banned,
            actor: "test",
        };
        clock.advance(Duration::milliseconds(100));
        store.cut_off(&ban, &clock).await.unwrap().unwrap();
        let banned = UserRepo::find(&store, &user.id).await.unwrap().unwrap();
        let later = Authenticated { at: clock.now() + Duration::seconds(1), user_version: Some(banned.updated_at) };
        assert_eq!(store.create(&session(&user.id, clock.now()), None, later).await.unwrap(), Opened::Refused);
    }
}
