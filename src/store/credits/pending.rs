//! Deferred usage records. Moves are conditional on the status read, so two processors can
//! never both charge one record.
use chrono::{DateTime, Utc};
use entity::pending_usage::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::{Credits, PendingStatus, PendingUsage, PendingUsageId, TenantId};
use crate::error::{Error, Result};
use crate::store::TenantScope;

fn to_domain(m: Model) -> Result<PendingUsage> {
    Ok(PendingUsage {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        metric_code: m.metric_code,
        quantity: m.quantity,
        operation_type: m.operation_type,
        idempotency_key: m.idempotency_key,
        cost: Credits(m.cost_micro),
        status: PendingStatus::from_db(&m.status)
            .ok_or_else(|| Error::internal(format!("pending usage {}: bad status", m.id)))?,
        reason: m.reason,
        attempts: m.attempts,
        charged_at: m.charged_at,
        created_at: m.created_at,
    })
}

/// Stores the record unless its key was used before. Returns the stored record and whether it
/// is new.
pub async fn insert_once(
    db: &impl ConnectionTrait,
    p: &PendingUsage,
) -> Result<(PendingUsage, bool)> {
    let row = ActiveModel {
        id: Set(p.id.0),
        tenant_id: Set(p.tenant_id.0),
        metric_code: Set(p.metric_code.clone()),
        quantity: Set(p.quantity),
        operation_type: Set(p.operation_type.clone()),
        idempotency_key: Set(p.idempotency_key.clone()),
        cost_micro: Set(p.cost.micro()),
        status: Set(p.status.as_str().to_owned()),
        reason: Set(None),
        attempts: Set(0),
        charged_at: Set(None),
        created_at: Set(p.created_at),
        updated_at: Set(p.created_at),
    };
    let result = Entity::insert(row)
        .on_conflict_do_nothing_on([Column::TenantId, Column::IdempotencyKey])
        .exec(db)
        .await?;
    let fresh = !matches!(result, sea_orm::TryInsertResult::Conflicted);
    let stored = find_by_key(db, p.tenant_id, &p.idempotency_key)
        .await?
        .ok_or_else(|| Error::internal("a pending usage record vanished"))?;
    Ok((stored, fresh))
}

/// The tenant's record under `key`, if any.
pub async fn find_by_key(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    key: &str,
) -> Result<Option<PendingUsage>> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: PendingUsageId,
) -> Result<Option<PendingUsage>> {
    scope
        .filter(Entity::find_by_id(id.0), Column::TenantId)
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Records in `status`, oldest first: of one tenant, or with the given ids, or all.
pub async fn select(
    db: &impl ConnectionTrait,
    status: PendingStatus,
    scope: TenantScope,
    ids: Option<&[PendingUsageId]>,
    limit: u64,
) -> Result<Vec<PendingUsage>> {
    let mut q = scope
        .filter(Entity::find(), Column::TenantId)
        .filter(Column::Status.eq(status.as_str()));
    if let Some(ids) = ids {
        q = q.filter(Column::Id.is_in(ids.iter().map(|i| i.0)));
    }
    q.order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Moves a record from `from` to `to`. `false` when another processor moved it first.
pub async fn mark(
    db: &impl ConnectionTrait,
    id: PendingUsageId,
    from: PendingStatus,
    to: PendingStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let charged_at = (to == PendingStatus::Charged).then_some(now);
    let done = Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .col_expr(Column::Reason, Expr::value(reason))
        .col_expr(Column::ChargedAt, Expr::value(charged_at))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id.0))
        .filter(Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// (tenant, status, records, credits) over the scope.
pub async fn stats(
    db: &impl ConnectionTrait,
    scope: TenantScope,
) -> Result<Vec<(Uuid, String, i64, i64)>> {
    let rows: Vec<(Uuid, String, i64, Option<i64>)> = scope
        .filter(Entity::find(), Column::TenantId)
        .select_only()
        .column(Column::TenantId)
        .column(Column::Status)
        .column_as(Expr::expr(Func::count(Expr::col(Column::Id))), "records")
        .column_as(
            Expr::expr(Func::sum(Expr::col(Column::CostMicro))).cast_as("bigint"),
            "credits",
        )
        .group_by(Column::TenantId)
        .group_by(Column::Status)
        .order_by_asc(Column::TenantId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, s, n, c)| (t, s, n, c.unwrap_or(0)))
        .collect())
}

/// Records still pending, and the creation time of the oldest, for the deferred-usage gauges.
pub async fn backlog(db: &impl ConnectionTrait) -> Result<(i64, Option<DateTime<Utc>>)> {
    let row: Option<(i64, Option<DateTime<Utc>>)> = Entity::find()
        .select_only()
        .column_as(Expr::expr(Func::count(Expr::col(Column::Id))), "pending")
        .column_as(
            Expr::expr(Func::min(Expr::col(Column::CreatedAt))),
            "oldest",
        )
        .filter(Column::Status.eq(PendingStatus::Pending.as_str()))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or((0, None)))
}
