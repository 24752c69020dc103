//! Outbox rows. A message is enqueued in the transaction of the change that causes it. The
//! worker claims due rows with a lease so that two workers (or replicas) never carry out the
//! same row at once: on PostgreSQL a batch at a time with `FOR UPDATE SKIP LOCKED`, so
//! replicas take disjoint rows without waiting on each other; on SQLite, which has one writer
//! at a time anyway, row by row with a conditional update.
use chrono::{DateTime, Utc};
use entity::outbox_messages::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement, TryInsertResult,
};

use super::fetch_page;
use crate::domain::{
    NewOutboxMessage, OutboxKind, OutboxMessage, OutboxMessageId, OutboxStatus, Page, PageRequest,
    TenantId,
};
use crate::error::{Error, Result};

fn to_domain(m: Model) -> Result<OutboxMessage> {
    let corrupt = |what: &str| Error::internal(format!("outbox message {} has a bad {what}", m.id));
    Ok(OutboxMessage {
        id: m.id.into(),
        tenant_id: m.tenant_id.map(TenantId),
        kind: OutboxKind::from_db(&m.kind).ok_or_else(|| corrupt("kind"))?,
        status: OutboxStatus::from_db(&m.status).ok_or_else(|| corrupt("status"))?,
        reference: m.reference,
        dedupe_key: m.dedupe_key,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
    })
}

/// Writes the message unless its dedupe key exists; `true` if it is new. Due at once.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    new: NewOutboxMessage,
    now: DateTime<Utc>,
) -> Result<bool> {
    let row = ActiveModel {
        id: Set(OutboxMessageId::new().0),
        tenant_id: Set(new.tenant.map(|t| t.0)),
        kind: Set(new.kind.as_str().to_owned()),
        reference: Set(new.reference),
        dedupe_key: Set(new.dedupe_key),
        status: Set(OutboxStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let result = Entity::insert(row)
        .on_conflict_do_nothing_on([Column::DedupeKey])
        .exec(db)
        .await?;
    Ok(!matches!(result, TryInsertResult::Conflicted))
}

/// Claims up to `limit` pending messages due at `now`, oldest first, leased until
/// `lease_until`, and returns them with the attempt they are now on. A worker that dies holding
/// one lets the lease run out, and the row is due again.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<OutboxMessage>> {
    if db.get_database_backend() == DbBackend::Postgres {
        // Rows another worker has locked are skipped, not waited for. The candidates are
        // picked once (a materialized CTE, never re-run), and the update checks again that
        // each is still pending and due: a row another worker leased in the meantime no
        // longer matches when PostgreSQL re-reads its newest version, so no row is claimed
        // twice.
        let sql = "WITH picked AS MATERIALIZED (SELECT id FROM outbox_messages \
                   WHERE status = $3 AND next_attempt_at <= $2 \
                   ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                   UPDATE outbox_messages o SET attempts = o.attempts + 1, \
                   next_attempt_at = $1, updated_at = $2 FROM picked \
                   WHERE o.id = picked.id AND o.status = $3 AND o.next_attempt_at <= $2 \
                   RETURNING o.*";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [
                    lease_until.into(),
                    now.into(),
                    OutboxStatus::Pending.as_str().into(),
                    limit.into(),
                ],
            ))
            .all(db)
            .await?;
        rows.sort_by_key(|m| m.id);
        return rows.into_iter().map(to_domain).collect();
    }
    let due = Entity::find()
        .filter(Column::Status.eq(OutboxStatus::Pending.as_str()))
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        // Claimed only if no one else changed it since it was read.
        let result = Entity::update_many()
            .col_expr(Column::Attempts, Expr::value(row.attempts + 1))
            .col_expr(Column::NextAttemptAt, Expr::value(lease_until))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(row.id))
            .filter(Column::Status.eq(OutboxStatus::Pending.as_str()))
            .filter(Column::Attempts.eq(row.attempts))
            .exec(db)
            .await?;
        if result.rows_affected == 1 {
            let mut msg = to_domain(row)?;
            msg.attempts += 1;
            msg.next_attempt_at = lease_until;
            claimed.push(msg);
        }
    }
    Ok(claimed)
}

/// Records how an attempt ended: done, tried again at `retry_at`, or given up (dead).
pub async fn finish(
    db: &impl ConnectionTrait,
    id: OutboxMessageId,
    status: OutboxStatus,
    retry_at: Option<DateTime<Utc>>,
    error: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::LastError, Expr::value(error))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if let Some(at) = retry_at {
        update = update.col_expr(Column::NextAttemptAt, Expr::value(at));
    }
    update.filter(Column::Id.eq(id.0)).exec(db).await?;
    Ok(())
}

/// Every message, for tests: newest first.
pub async fn list(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<OutboxMessage>> {
    Entity::find()
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// A page of messages in creation order, optionally of one status and kind.
pub async fn page(
    db: &impl ConnectionTrait,
    status: Option<OutboxStatus>,
    kind: Option<OutboxKind>,
    req: PageRequest,
) -> Result<Page<OutboxMessage>> {
    let mut select = Entity::find();
    if let Some(status) = status {
        select = select.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = kind {
        select = select.filter(Column::Kind.eq(kind.as_str()));
    }
    let page = fetch_page(db, select, Column::Id, req).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(to_domain)
            .collect::<Result<_>>()?,
        has_next: page.has_next,
    })
}

pub async fn find(db: &impl ConnectionTrait, id: OutboxMessageId) -> Result<Option<OutboxMessage>> {
    Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Makes a dead message due again at `now` with a fresh count of attempts; `false` when it
/// was not dead (someone revived it first, or it never died).
pub async fn revive(
    db: &impl ConnectionTrait,
    id: OutboxMessageId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutboxStatus::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id.0))
        .filter(Column::Status.eq(OutboxStatus::Dead.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Whether a message of `kind` about `reference` is still to be carried out (due, leased or
/// waiting for a retry).
pub async fn pending_for(
    db: &impl ConnectionTrait,
    kind: OutboxKind,
    reference: &str,
) -> Result<bool> {
    let found = Entity::find()
        .filter(Column::Kind.eq(kind.as_str()))
        .filter(Column::Reference.eq(reference))
        .filter(Column::Status.eq(OutboxStatus::Pending.as_str()))
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Pending messages per kind, with the creation time of the oldest: one grouped query, for
/// the outbox gauges of `/metrics`.
pub async fn pending_by_kind(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, i64, Option<DateTime<Utc>>)>> {
    let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = Entity::find()
        .select_only()
        .column(Column::Kind)
        .column_as(Expr::expr(Func::count(Expr::col(Column::Id))), "pending")
        .column_as(
            Expr::expr(Func::min(Expr::col(Column::CreatedAt))),
            "oldest",
        )
        .filter(Column::Status.eq(OutboxStatus::Pending.as_str()))
        .group_by(Column::Kind)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}
