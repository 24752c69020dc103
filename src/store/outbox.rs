//! Outbox rows. A message is enqueued in the transaction of the change that causes it; the
//! worker claims due rows one by one with a conditional update, so two workers (or replicas)
//! never carry out the same row at the same time, on SQLite as on PostgreSQL.
use chrono::{DateTime, Utc};
use entity::outbox_messages::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TryInsertResult,
};

use crate::domain::{
    NewOutboxMessage, OutboxKind, OutboxMessage, OutboxMessageId, OutboxStatus, TenantId,
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

/// Pending messages due at `now`, oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<OutboxMessage>> {
    Entity::find()
        .filter(Column::Status.eq(OutboxStatus::Pending.as_str()))
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Takes `msg` for one attempt, leased until `lease_until`: the row is claimed only if no one
/// else changed it since it was read. A worker that dies holding it lets the lease run out,
/// and the row is due again. `true` if this caller holds it.
pub async fn claim(
    db: &impl ConnectionTrait,
    msg: &OutboxMessage,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let result = Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(msg.attempts + 1))
        .col_expr(Column::NextAttemptAt, Expr::value(lease_until))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(msg.id.0))
        .filter(Column::Status.eq(OutboxStatus::Pending.as_str()))
        .filter(Column::Attempts.eq(msg.attempts))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
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

/// Every message, for the operator and for tests: newest first.
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
