//! Usage events, their per-period aggregates and block charges. The service writes all three
//! in one transaction that holds the tenant's lock.
use std::collections::HashMap;

use entity::{block_charges, usage_events, usage_totals};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement,
};
use uuid::Uuid;

use super::catalog::metrics::codes_by_id;
use crate::domain::{
    Aggregation, BlockCharge, Currency, Money, NewUsageEvent, PlanId, SubscriptionId, TenantId,
    UsageEventId, UsageTotalChange,
};
use crate::error::{Error, Result};

mod batch;
pub use batch::{BatchState, Period, batch_state, write_batch};

/// Rows per multi-row INSERT: well under both backends' bind-parameter limits.
const INSERT_CHUNK: usize = 500;

/// The ids of events already stored under these keys.
///
/// On PostgreSQL each key is looked up through the unique index with a lateral join, so the
/// cost is one index probe per key whatever the planner believes about the tenant's rows (a
/// long `IN` list let it scan all of a busy tenant's events instead). The `LIMIT 1` keeps the
/// planner from flattening the lateral subquery into a plain join, which it could then answer
/// by hashing all of the tenant's events. SQLite probes the index
/// for an `IN` list by itself.
pub async fn find_keys(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    keys: &[String],
) -> Result<HashMap<String, UsageEventId>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = "SELECT k.key, e.id FROM json_array_elements_text($2::json) AS k(key) \
                   CROSS JOIN LATERAL (SELECT id FROM usage_events \
                   WHERE tenant_id = $1 AND idempotency_key = k.key LIMIT 1) e";
        let keys_json =
            serde_json::to_string(keys).map_err(|e| crate::error::Error::internal(e))?;
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [tenant.0.into(), keys_json.into()],
            ))
            .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get_by_index(0)?;
            let id: Uuid = row.try_get_by_index(1)?;
            found.insert(key, UsageEventId(id));
        }
        return Ok(found);
    }
    let mut found = HashMap::new();
    for chunk in keys.chunks(INSERT_CHUNK) {
        let rows: Vec<(String, Uuid)> = usage_events::Entity::find()
            .select_only()
            .column(usage_events::Column::IdempotencyKey)
            .column(usage_events::Column::Id)
            .filter(usage_events::Column::TenantId.eq(tenant.0))
            .filter(usage_events::Column::IdempotencyKey.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows.into_iter().map(|(k, id)| (k, UsageEventId(id))));
    }
    Ok(found)
}

pub async fn insert_events(db: &impl ConnectionTrait, events: Vec<NewUsageEvent>) -> Result<()> {
    let mut rows = events.into_iter().map(|e| usage_events::ActiveModel {
        id: Set(e.id.0),
        tenant_id: Set(e.tenant.0),
        subscription_id: Set(e.subscription.0),
        metric_id: Set(e.metric),
        cycle: Set(e.cycle),
        quantity: Set(e.quantity),
        operation_type: Set(e.operation_type),
        idempotency_key: Set(e.idempotency_key),
        occurred_at: Set(e.occurred_at),
        recorded_at: Set(e.recorded_at),
        metadata: Set(e.metadata),
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        usage_events::Entity::insert_many(chunk).exec(db).await?;
    }
}

/// Current aggregates of the given metrics in one period: metric id → (quantity, events).
pub async fn totals(
    db: &impl ConnectionTrait,
    subscription: SubscriptionId,
    cycle: i32,
    metrics: &[Uuid],
) -> Result<HashMap<Uuid, (i64, i64)>> {
    let rows = usage_totals::Entity::find()
        .filter(usage_totals::Column::SubscriptionId.eq(subscription.0))
        .filter(usage_totals::Column::Cycle.eq(cycle))
        .filter(usage_totals::Column::MetricId.is_in(metrics.iter().copied()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.metric_id, (r.quantity, r.events)))
        .collect())
}

/// Folds accepted events into the period's aggregate with one upsert whose update is a
/// conditional expression over the stored row, never a value computed from an earlier read, and
/// records the plan they were recorded under. One statement: the first events of a period
/// insert the row, later ones add to it.
pub async fn bump_total(db: &impl ConnectionTrait, c: UsageTotalChange) -> Result<()> {
    let seed = usage_totals::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(c.tenant.0),
        subscription_id: Set(c.subscription.0),
        metric_id: Set(c.metric),
        cycle: Set(c.cycle),
        period_start: Set(c.period_start),
        period_end: Set(c.period_end),
        // Quantities are never negative, so the first value is also the first maximum.
        quantity: Set(c.value),
        events: Set(c.events),
        plan_id: Set(Some(c.plan.0)),
        updated_at: Set(c.now),
    };
    let stored = |col: usage_totals::Column| Expr::col((usage_totals::Entity, col));
    let next = match c.aggregation {
        Aggregation::Sum | Aggregation::Count => {
            stored(usage_totals::Column::Quantity).add(c.value)
        }
        Aggregation::Max => Expr::case(
            stored(usage_totals::Column::Quantity).lt(c.value),
            Expr::val(c.value),
        )
        .finally(stored(usage_totals::Column::Quantity))
        .into(),
    };
    let fold = OnConflict::columns([
        usage_totals::Column::SubscriptionId,
        usage_totals::Column::MetricId,
        usage_totals::Column::Cycle,
    ])
    .value(usage_totals::Column::Quantity, next)
    .value(
        usage_totals::Column::Events,
        stored(usage_totals::Column::Events).add(c.events),
    )
    .value(usage_totals::Column::PlanId, Expr::value(c.plan.0))
    .value(usage_totals::Column::UpdatedAt, Expr::value(c.now))
    .to_owned();
    usage_totals::Entity::insert(seed)
        .on_conflict(fold)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Stores new block charges, each with the id of its metric, charged under `plan` (the plan
/// version whose block terms priced them).
pub async fn insert_charges(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    plan: PlanId,
    charges: &[(Uuid, BlockCharge)],
) -> Result<()> {
    let rows: Vec<_> = charges
        .iter()
        .map(|(metric, c)| block_charges::ActiveModel {
            id: Set(c.id.0),
            tenant_id: Set(tenant.0),
            subscription_id: Set(c.subscription_id.0),
            metric_id: Set(*metric),
            cycle: Set(c.cycle),
            block_index: Set(c.block_index),
            tier: Set(c.tier.clone()),
            amount_minor: Set(c.amount.amount_minor),
            currency: Set(c.amount.currency.code().to_owned()),
            event_id: Set(c.event_id.0),
            invoice_id: Set(c.invoice_id.0),
            plan_id: Set(Some(plan.0)),
            created_at: Set(c.created_at),
        })
        .collect();
    if !rows.is_empty() {
        block_charges::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

fn charge_to_domain(m: block_charges::Model, codes: &HashMap<Uuid, String>) -> Result<BlockCharge> {
    Ok(BlockCharge {
        id: m.id.into(),
        subscription_id: m.subscription_id.into(),
        metric_code: codes
            .get(&m.metric_id)
            .cloned()
            .ok_or_else(|| Error::internal(format!("block charge {} has no metric", m.id)))?,
        cycle: m.cycle,
        block_index: m.block_index,
        tier: m.tier,
        amount: Money::new(m.amount_minor, Currency::parse("currency", &m.currency)?),
        event_id: UsageEventId(m.event_id),
        invoice_id: m.invoice_id.into(),
        created_at: m.created_at,
    })
}

/// Block charges made by these events, in block order.
pub async fn charges_of_events(
    db: &impl ConnectionTrait,
    events: &[Uuid],
) -> Result<Vec<BlockCharge>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let rows = block_charges::Entity::find()
        .filter(block_charges::Column::EventId.is_in(events.iter().copied()))
        .order_by_asc(block_charges::Column::BlockIndex)
        .all(db)
        .await?;
    let codes = codes_by_id(db, rows.iter().map(|r| r.metric_id).collect()).await?;
    rows.into_iter()
        .map(|r| charge_to_domain(r, &codes))
        .collect()
}

/// The highest block index charged per metric in one period, for the metrics that have any.
pub async fn highest_blocks(
    db: &impl ConnectionTrait,
    subscription: SubscriptionId,
    cycle: i32,
) -> Result<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, Option<i64>)> = block_charges::Entity::find()
        .select_only()
        .column(block_charges::Column::MetricId)
        .column_as(
            Expr::expr(Func::max(Expr::col(block_charges::Column::BlockIndex))).cast_as("bigint"),
            "highest",
        )
        .filter(block_charges::Column::SubscriptionId.eq(subscription.0))
        .filter(block_charges::Column::Cycle.eq(cycle))
        .group_by(block_charges::Column::MetricId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(metric, highest)| (metric, highest.unwrap_or(0)))
        .collect())
}

/// How many blocks of one metric were charged in one period, and their total amount.
pub async fn charged_in_period(
    db: &impl ConnectionTrait,
    subscription: SubscriptionId,
    metric: Uuid,
    cycle: i32,
) -> Result<(i64, i64)> {
    let amounts: Vec<i64> = block_charges::Entity::find()
        .select_only()
        .column(block_charges::Column::AmountMinor)
        .filter(block_charges::Column::SubscriptionId.eq(subscription.0))
        .filter(block_charges::Column::MetricId.eq(metric))
        .filter(block_charges::Column::Cycle.eq(cycle))
        .into_tuple()
        .all(db)
        .await?;
    let total = amounts
        .iter()
        .try_fold(0i64, |acc, a| acc.checked_add(*a))
        .ok_or_else(|| Error::internal("block total overflow"))?;
    Ok((i64::try_from(amounts.len()).unwrap_or(i64::MAX), total))
}

/// (operation type, quantity, events) of one metric in one period.
pub async fn by_operation(
    db: &impl ConnectionTrait,
    subscription: SubscriptionId,
    metric: Uuid,
    cycle: i32,
) -> Result<Vec<(String, i64, i64)>> {
    let rows: Vec<(String, Option<i64>, i64)> = usage_events::Entity::find()
        .select_only()
        .column(usage_events::Column::OperationType)
        .column_as(
            Expr::expr(Func::sum(Expr::col(usage_events::Column::Quantity))).cast_as("bigint"),
            "quantity",
        )
        .column_as(
            Expr::expr(Func::count(Expr::col(usage_events::Column::Id))),
            "events",
        )
        .filter(usage_events::Column::SubscriptionId.eq(subscription.0))
        .filter(usage_events::Column::MetricId.eq(metric))
        .filter(usage_events::Column::Cycle.eq(cycle))
        .group_by(usage_events::Column::OperationType)
        .order_by_asc(usage_events::Column::OperationType)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(op, q, n)| (op, q.unwrap_or(0), n))
        .collect())
}
