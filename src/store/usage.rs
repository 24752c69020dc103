//! Usage events, their per-period aggregates and block charges. The service writes all three
//! in one transaction that holds the tenant's lock.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{block_charges, usage_events, usage_totals};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement,
};
use uuid::Uuid;

use crate::domain::{Aggregation, SubscriptionId, TenantId, UsageEventId};
use crate::error::Result;

/// Rows per multi-row INSERT: well under both backends' bind-parameter limits.
const INSERT_CHUNK: usize = 500;

/// The ids of events already stored under these keys.
///
/// On PostgreSQL each key is looked up through the unique index with a lateral join, so the
/// cost is one index probe per key whatever the planner believes about the tenant's rows (a
/// long `IN` list let it scan all of a busy tenant's events instead). SQLite probes the index
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
                   WHERE tenant_id = $1 AND idempotency_key = k.key) e";
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

pub struct NewEvent {
    pub id: UsageEventId,
    pub tenant: TenantId,
    pub subscription: SubscriptionId,
    pub metric: Uuid,
    pub cycle: i32,
    pub quantity: i64,
    pub operation_type: String,
    pub idempotency_key: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub metadata: Option<serde_json::Value>,
}

pub async fn insert_events(db: &impl ConnectionTrait, events: Vec<NewEvent>) -> Result<()> {
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

pub struct TotalChange {
    pub tenant: TenantId,
    pub subscription: SubscriptionId,
    pub metric: Uuid,
    pub cycle: i32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub aggregation: Aggregation,
    /// Sum: the quantities added. Max: the largest quantity seen. Count: the events.
    pub value: i64,
    pub events: i64,
    pub now: DateTime<Utc>,
}

/// Folds accepted events into the period's aggregate with one conditional expression, never
/// a value computed from an earlier read.
pub async fn bump_total(db: &impl ConnectionTrait, c: TotalChange) -> Result<()> {
    let seed = usage_totals::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(c.tenant.0),
        subscription_id: Set(c.subscription.0),
        metric_id: Set(c.metric),
        cycle: Set(c.cycle),
        period_start: Set(c.period_start),
        period_end: Set(c.period_end),
        quantity: Set(0),
        events: Set(0),
        updated_at: Set(c.now),
    };
    usage_totals::Entity::insert(seed)
        .on_conflict_do_nothing_on([
            usage_totals::Column::SubscriptionId,
            usage_totals::Column::MetricId,
            usage_totals::Column::Cycle,
        ])
        .exec(db)
        .await?;
    let quantity = Expr::col(usage_totals::Column::Quantity);
    let next = match c.aggregation {
        Aggregation::Sum | Aggregation::Count => quantity.add(c.value),
        Aggregation::Max => Expr::case(
            Expr::col(usage_totals::Column::Quantity).lt(c.value),
            Expr::val(c.value),
        )
        .finally(Expr::col(usage_totals::Column::Quantity))
        .into(),
    };
    usage_totals::Entity::update_many()
        .col_expr(usage_totals::Column::Quantity, next)
        .col_expr(
            usage_totals::Column::Events,
            Expr::col(usage_totals::Column::Events).add(c.events),
        )
        .col_expr(usage_totals::Column::UpdatedAt, Expr::value(c.now))
        .filter(usage_totals::Column::SubscriptionId.eq(c.subscription.0))
        .filter(usage_totals::Column::MetricId.eq(c.metric))
        .filter(usage_totals::Column::Cycle.eq(c.cycle))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert_charges(
    db: &impl ConnectionTrait,
    charges: Vec<block_charges::ActiveModel>,
) -> Result<()> {
    if !charges.is_empty() {
        block_charges::Entity::insert_many(charges).exec(db).await?;
    }
    Ok(())
}

/// Block charges made by these events.
pub async fn charges_of_events(
    db: &impl ConnectionTrait,
    events: &[Uuid],
) -> Result<Vec<block_charges::Model>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    Ok(block_charges::Entity::find()
        .filter(block_charges::Column::EventId.is_in(events.iter().copied()))
        .order_by_asc(block_charges::Column::BlockIndex)
        .all(db)
        .await?)
}

/// Block charges of one metric in one period, in block order.
pub async fn charges_in_period(
    db: &impl ConnectionTrait,
    subscription: SubscriptionId,
    metric: Uuid,
    cycle: i32,
) -> Result<Vec<block_charges::Model>> {
    Ok(block_charges::Entity::find()
        .filter(block_charges::Column::SubscriptionId.eq(subscription.0))
        .filter(block_charges::Column::MetricId.eq(metric))
        .filter(block_charges::Column::Cycle.eq(cycle))
        .order_by_asc(block_charges::Column::BlockIndex)
        .all(db)
        .await?)
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
