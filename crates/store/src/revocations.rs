//! `RevocationLog` over `revocation_events`, and the in-transaction insert the other writes use.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use portcullis_domain::ids::{ClientId, SessionId, UserId};
use portcullis_domain::ports::StoreError;
use portcullis_domain::revocation::{NewRevocation, Reason, Revocation, Target};
use portcullis_proto::TokenRef;
use portcullis_revocation::RevocationLog;
use sea_orm::sea_query::{OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::SqlStore;
use crate::entities::revocation_event::{ActiveModel, Column, Entity, Model};
use crate::error::store_err;

/// Most rows one read returns (SQL `LIMIT` is a signed 64-bit number).
const MAX_ROWS: u64 = i64::MAX as u64;

fn row(r: &NewRevocation) -> ActiveModel {
    let (kind, user, session, jti, client) = match &r.target {
        Target::Session { sid, user } => ("session", Some(user.to_string()), Some(sid.to_string()), None, None),
        Target::User { user, except } => {
            ("user", Some(user.to_string()), except.as_ref().map(ToString::to_string), None, None)
        }
        Target::Token { jti } => ("token", None, None, Some(jti.clone()), None),
        Target::Client { client } => ("client", None, None, None, Some(client.to_string())),
    };
    ActiveModel {
        id: NotSet,
        at: Set(r.at),
        kind: Set(kind.to_owned()),
        user_id: Set(user),
        session_id: Set(session),
        jti: Set(jti),
        client_id: Set(client),
        reason: Set(r.reason.as_str().to_owned()),
    }
}

/// Writes `r` on `conn` (a transaction, so it commits with the change it reports).
pub(crate) async fn insert(conn: &impl ConnectionTrait, r: &NewRevocation) -> Result<(), StoreError> {
    Entity::insert(row(r)).exec_without_returning(conn).await.map_err(store_err)?;
    Ok(())
}

impl SqlStore {
    /// Revocations matching `filter`, oldest first, at most `limit`.
    async fn revocations_where(&self, filter: SimpleExpr, limit: u64) -> Result<Vec<Revocation>, StoreError> {
        let rows = Entity::find()
            .filter(filter)
            .order_by_asc(Column::Id)
            .limit(limit.min(MAX_ROWS))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(to_domain).collect()
    }
}

fn to_domain(m: Model) -> Result<Revocation, StoreError> {
    let bad = |what: &str| StoreError::malformed(format!("revocation {} has a malformed {what}", m.id));
    let user = || m.user_id.as_deref().and_then(|u| UserId::parse(u).ok()).ok_or_else(|| bad("user_id"));
    let session = |s: &str| SessionId::parse(s).map_err(|_| bad("session_id"));
    let target = match m.kind.as_str() {
        "session" => Target::Session { sid: session(m.session_id.as_deref().unwrap_or_default())?, user: user()? },
        "user" => Target::User { user: user()?, except: m.session_id.as_deref().map(session).transpose()? },
        "token" => Target::Token { jti: m.jti.clone().ok_or_else(|| bad("jti"))? },
        "client" => Target::Client {
            client: m.client_id.as_deref().and_then(|c| ClientId::parse(c).ok()).ok_or_else(|| bad("client_id"))?,
        },
        _ => return Err(bad("kind")),
    };
    Ok(Revocation { id: m.id, at: m.at, target, reason: Reason::parse(&m.reason).ok_or_else(|| bad("reason"))? })
}

#[async_trait]
impl RevocationLog for SqlStore {
    async fn append(&self, revocation: &NewRevocation) -> Result<bool, StoreError> {
        // One event per token: revoking it again records nothing (the unique index on `jti`).
        let written = Entity::insert(row(revocation))
            .on_conflict(OnConflict::column(Column::Jti).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await
            .map_err(store_err)?;
        Ok(written == 1)
    }

    async fn after(&self, after: i64, limit: u64) -> Result<Vec<Revocation>, StoreError> {
        self.revocations_where(Column::Id.gt(after), limit).await
    }

    async fn since(&self, since: DateTime<Utc>, limit: u64) -> Result<Vec<Revocation>, StoreError> {
        self.revocations_where(Column::At.gte(since), limit).await
    }

    async fn since_after(
        &self,
        since: DateTime<Utc>,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.revocations_where(
            sea_orm::sea_query::ExprTrait::and(Column::Id.gt(after_id), Column::At.gte(since)),
            limit,
        )
        .await
    }

    async fn last_id(&self) -> Result<i64, StoreError> {
        let max: Option<Option<i64>> = Entity::find()
            .select_only()
            .column_as(Column::Id.max(), "max_id")
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(store_err)?;
        Ok(max.flatten().unwrap_or(0))
    }

    async fn revokes(&self, t: &TokenRef<'_>, since: DateTime<Utc>) -> Result<bool, StoreError> {
        // `iat <= cutoff` with the cut-off in whole seconds is `at >= iat` at the second's start.
        let iat = DateTime::from_timestamp(t.iat, 0).unwrap_or(since);
        let mut user =
            Condition::all().add(Column::Kind.eq("user")).add(Column::UserId.eq(t.sub)).add(Column::At.gte(iat));
        if let Some(sid) = t.sid {
            user = user.add(Condition::any().add(Column::SessionId.is_null()).add(Column::SessionId.ne(sid)));
        }
        let mut any = Condition::any()
            .add(user)
            .add(Condition::all().add(Column::Kind.eq("token")).add(Column::Jti.eq(t.jti)))
            .add(Condition::all().add(Column::Kind.eq("client")).add(Column::ClientId.eq(t.client_id)));
        if let Some(sid) = t.sid {
            any = any.add(Condition::all().add(Column::Kind.eq("session")).add(Column::SessionId.eq(sid)));
        }
        let hit = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::At.gte(since))
            .filter(any)
            .into_tuple::<i64>()
            .one(&self.db)
            .await
            .map_err(store_err)?;
        Ok(hit.is_some())
    }
}
