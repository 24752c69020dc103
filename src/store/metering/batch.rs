//! A usage batch's reads and writes with as few round trips as the backend allows. On
//! PostgreSQL the reads after the tenant's lock are one statement, and the events with the
//! period aggregates they fold into are one statement; SQLite keeps one statement per part.
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

use super::{bump_total, find_keys, highest_blocks, insert_events, totals};
use crate::domain::{
    Aggregation, NewUsageEvent, SubscriptionId, TenantId, UsageEventId, UsageTotalChange,
};
use crate::error::{Error, Result};

/// What a batch is decided against, read under the tenant's lock.
#[derive(Debug, Default)]
pub struct BatchState {
    /// Keys stored by earlier calls → the event stored under each.
    pub existing: HashMap<String, UsageEventId>,
    /// The period aggregate (quantity) of each of the batch's metrics that has one.
    pub totals: HashMap<Uuid, i64>,
    /// The highest block charged in the period per metric that has any (read only when asked).
    pub highest: HashMap<Uuid, i64>,
}

/// The subscription period a batch writes into.
#[derive(Clone, Copy, Debug)]
pub struct Period {
    pub subscription: SubscriptionId,
    pub cycle: i32,
}

const KIND_KEY: i32 = 0;
const KIND_TOTAL: i32 = 1;
const KIND_BLOCK: i32 = 2;

/// Reads the keys already stored, the period totals of `metrics` and, with `with_blocks`, the
/// highest block charged per metric; the last two only when there is a `period`. Must run
/// after the tenant's lock, in a statement of its own, so that it sees the batch that held it.
pub async fn batch_state(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    keys: &[&str],
    period: Option<Period>,
    metrics: &[Uuid],
    with_blocks: bool,
) -> Result<BatchState> {
    if db.get_database_backend() != DbBackend::Postgres {
        return batch_state_each(db, tenant, keys, period, metrics, with_blocks).await;
    }
    let Some(period) = period else {
        let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let existing = find_keys(db, tenant, &owned).await?;
        return Ok(BatchState {
            existing,
            ..BatchState::default()
        });
    };
    // Each part is tagged by kind: (kind, key, id, value).
    let sql = "SELECT 0 AS kind, k.key AS key, e.id AS id, 0::bigint AS value \
         FROM json_array_elements_text($2::json) AS k(key) \
         CROSS JOIN LATERAL (SELECT id FROM usage_events \
         WHERE tenant_id = $1 AND idempotency_key = k.key LIMIT 1) e \
         UNION ALL \
         SELECT 1, NULL::text, t.metric_id, t.quantity FROM usage_totals t \
         WHERE t.subscription_id = $3 AND t.cycle = $4 \
         AND t.metric_id IN (SELECT m::uuid FROM json_array_elements_text($5::json) AS j(m)) \
         UNION ALL \
         SELECT 2, NULL::text, b.metric_id, max(b.block_index)::bigint FROM block_charges b \
         WHERE $6 AND b.subscription_id = $3 AND b.cycle = $4 GROUP BY b.metric_id";
    let keys_json = serde_json::to_string(keys).map_err(Error::internal)?;
    let metrics_json = serde_json::to_string(metrics).map_err(Error::internal)?;
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                tenant.0.into(),
                keys_json.into(),
                period.subscription.0.into(),
                period.cycle.into(),
                metrics_json.into(),
                with_blocks.into(),
            ],
        ))
        .await?;
    let mut state = BatchState::default();
    for row in rows {
        let kind: i32 = row.try_get_by_index(0)?;
        let id: Uuid = row.try_get_by_index(2)?;
        match kind {
            KIND_KEY => {
                let key: String = row.try_get_by_index(1)?;
                state.existing.insert(key, UsageEventId(id));
            }
            KIND_TOTAL => {
                state.totals.insert(id, row.try_get_by_index(3)?);
            }
            KIND_BLOCK => {
                state.highest.insert(id, row.try_get_by_index(3)?);
            }
            _ => return Err(Error::internal("unknown batch state row")),
        }
    }
    Ok(state)
}

/// [`batch_state`] one statement per part.
async fn batch_state_each(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    keys: &[&str],
    period: Option<Period>,
    metrics: &[Uuid],
    with_blocks: bool,
) -> Result<BatchState> {
    let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let existing = find_keys(db, tenant, &owned).await?;
    let Some(period) = period else {
        return Ok(BatchState {
            existing,
            ..BatchState::default()
        });
    };
    let totals = totals(db, period.subscription, period.cycle, metrics)
        .await?
        .into_iter()
        .map(|(m, (q, _))| (m, q))
        .collect();
    let highest = if with_blocks {
        highest_blocks(db, period.subscription, period.cycle).await?
    } else {
        HashMap::new()
    };
    Ok(BatchState {
        existing,
        totals,
        highest,
    })
}

const EVENT_COLUMNS: &str = "id, tenant_id, subscription_id, metric_id, cycle, quantity, \
    operation_type, idempotency_key, occurred_at, recorded_at, metadata";
const EVENT_PARAMS: usize = 11;
const TOTAL_COLUMNS: &str = "id, tenant_id, subscription_id, metric_id, cycle, period_start, \
    period_end, quantity, events, plan_id, updated_at";
const TOTAL_PARAMS: usize = 11;
/// Bind parameters one statement may carry (PostgreSQL's limit is 65,535).
const MAX_PARAMS: usize = 60_000;

/// Stores a batch's accepted events and folds them into the period aggregates, exactly as
/// [`insert_events`] followed by one [`bump_total`] per change in the given order. On
/// PostgreSQL both are one statement: a CTE inserting the events, and one multi-row upsert of
/// the aggregates in the changes' order (so concurrent batches lock rows in the same order).
pub async fn write_batch(
    db: &impl ConnectionTrait,
    events: Vec<NewUsageEvent>,
    changes: Vec<UsageTotalChange>,
) -> Result<()> {
    let params = events.len() * EVENT_PARAMS + changes.len() * TOTAL_PARAMS + 1;
    if db.get_database_backend() != DbBackend::Postgres
        || events.is_empty()
        || changes.is_empty()
        || params > MAX_PARAMS
    {
        insert_events(db, events).await?;
        for change in changes {
            bump_total(db, change).await?;
        }
        return Ok(());
    }
    let mut values: Vec<Value> = Vec::with_capacity(params);
    let mut sql = String::with_capacity(64 + params * 6);
    sql.push_str("WITH ev AS (INSERT INTO usage_events (");
    sql.push_str(EVENT_COLUMNS);
    sql.push_str(") VALUES ");
    for (i, e) in events.into_iter().enumerate() {
        push_row(&mut sql, i > 0, values.len(), EVENT_PARAMS);
        values.extend([
            e.id.0.into(),
            e.tenant.0.into(),
            e.subscription.0.into(),
            e.metric.into(),
            e.cycle.into(),
            e.quantity.into(),
            e.operation_type.into(),
            e.idempotency_key.into(),
            e.occurred_at.into(),
            e.recorded_at.into(),
            e.metadata.into(),
        ]);
    }
    sql.push_str(") INSERT INTO usage_totals (");
    sql.push_str(TOTAL_COLUMNS);
    sql.push_str(") VALUES ");
    let mut maxima: Vec<Uuid> = Vec::new();
    for (i, c) in changes.into_iter().enumerate() {
        if c.aggregation == Aggregation::Max {
            maxima.push(c.metric);
        }
        push_row(&mut sql, i > 0, values.len(), TOTAL_PARAMS);
        // Quantities are never negative, so the first value is also the first maximum.
        values.extend([
            Uuid::now_v7().into(),
            c.tenant.0.into(),
            c.subscription.0.into(),
            c.metric.into(),
            c.cycle.into(),
            c.period_start.into(),
            c.period_end.into(),
            c.value.into(),
            c.events.into(),
            Some(c.plan.0).into(),
            c.now.into(),
        ]);
    }
    let maxima_json = serde_json::to_string(&maxima).map_err(Error::internal)?;
    values.push(maxima_json.into());
    // The update is bump_total's: a MAX metric keeps the larger quantity, the others add.
    sql.push_str(&format!(
        " ON CONFLICT (subscription_id, metric_id, cycle) DO UPDATE SET \
         quantity = CASE WHEN usage_totals.metric_id IN \
         (SELECT m::uuid FROM json_array_elements_text(${}::json) AS j(m)) \
         THEN CASE WHEN usage_totals.quantity < excluded.quantity THEN excluded.quantity \
         ELSE usage_totals.quantity END \
         ELSE usage_totals.quantity + excluded.quantity END, \
         events = usage_totals.events + excluded.events, \
         plan_id = excluded.plan_id, updated_at = excluded.updated_at",
        values.len()
    ));
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Appends `($n+1, ..., $n+width)`.
fn push_row(sql: &mut String, comma: bool, before: usize, width: usize) {
    use std::fmt::Write;
    if comma {
        sql.push_str(", ");
    }
    sql.push('(');
    for c in 0..width {
        if c > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "${}", before + c + 1);
    }
    sql.push(')');
}
