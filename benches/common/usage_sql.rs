//! The two SQL baselines of the usage benchmark, writing the rows `recordUsage` stores for a
//! batch (the events, and the period's `usage_totals` row), without the API's checks:
//!
//! - plain SQL: one transaction with a multi-row `INSERT INTO usage_events ... ON CONFLICT
//!   (tenant_id, idempotency_key) DO NOTHING` and an upsert of the period's total
//!   (`quantity = quantity + sum`, `events = events + n`): BEGIN, two statements, COMMIT.
//! - best SQL: the same as ONE statement, a CTE whose event insert feeds the upsert of the
//!   total with what it inserted.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use uuid::Uuid;

/// Where a tenant's events go: its subscription's current period of the metric.
pub struct Target {
    pub tenant: Uuid,
    pub subscription: Uuid,
    pub metric: Uuid,
    pub cycle: i32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

const EVENT_COLUMNS: &str = "id, tenant_id, subscription_id, metric_id, cycle, quantity, \
    operation_type, idempotency_key, occurred_at, recorded_at";
const EVENT_PARAMS: usize = 10;
const TOTAL_COLUMNS: &str = "id, tenant_id, subscription_id, metric_id, cycle, period_start, \
    period_end, quantity, events, updated_at";
const ON_TOTAL_CONFLICT: &str = "ON CONFLICT (subscription_id, metric_id, cycle) DO UPDATE SET \
    quantity = usage_totals.quantity + EXCLUDED.quantity, \
    events = usage_totals.events + EXCLUDED.events, updated_at = EXCLUDED.updated_at";

/// The statements for batches of one size.
pub struct BatchSql {
    rows: usize,
    insert: String,
    best: String,
}

impl BatchSql {
    pub fn new(rows: usize) -> BatchSql {
        let mut values = String::new();
        for r in 0..rows {
            if r > 0 {
                values.push_str(", ");
            }
            values.push('(');
            for c in 0..EVENT_PARAMS {
                if c > 0 {
                    values.push_str(", ");
                }
                values.push_str(&format!("${}", r * EVENT_PARAMS + c + 1));
            }
            values.push(')');
        }
        let insert = format!(
            "INSERT INTO usage_events ({EVENT_COLUMNS}) VALUES {values} \
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING"
        );
        let t = rows * EVENT_PARAMS;
        let total_params: Vec<String> = (1..=7).map(|i| format!("${}", t + i)).collect();
        let best = format!(
            "WITH ins AS ({insert} RETURNING quantity), \
             agg AS (SELECT count(*)::bigint AS n, coalesce(sum(quantity), 0)::bigint AS q FROM ins), \
             up AS (INSERT INTO usage_totals ({TOTAL_COLUMNS}) \
               SELECT {}, agg.q, agg.n, ${} FROM agg WHERE agg.n > 0 {ON_TOTAL_CONFLICT} RETURNING 1) \
             SELECT n FROM agg",
            total_params.join(", "),
            t + 8,
        );
        BatchSql { rows, insert, best }
    }

    /// The parameters of one batch of `quantity` each, keys `keys`.
    pub fn event_values(
        &self,
        to: &Target,
        keys: impl Iterator<Item = String>,
        quantity: i64,
        now: DateTime<Utc>,
    ) -> Vec<sea_orm::Value> {
        let mut values = Vec::with_capacity(self.rows * EVENT_PARAMS + 8);
        for key in keys.take(self.rows) {
            values.extend([
                Uuid::now_v7().into(),
                to.tenant.into(),
                to.subscription.into(),
                to.metric.into(),
                to.cycle.into(),
                quantity.into(),
                "default".into(),
                key.into(),
                now.into(),
                now.into(),
            ]);
        }
        assert_eq!(values.len(), self.rows * EVENT_PARAMS, "one key per row");
        values
    }

    /// Plain SQL: the batch in one transaction of two statements; returns the new events.
    pub async fn write_plain(
        &self,
        db: &DatabaseConnection,
        to: &Target,
        values: Vec<sea_orm::Value>,
        quantity: i64,
        now: DateTime<Utc>,
    ) -> Result<i64, DbErr> {
        let txn = db.begin().await?;
        let inserted = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                &self.insert,
                values,
            ))
            .await?
            .rows_affected() as i64;
        let mut total = total_values(to, now);
        total.splice(7..7, [(inserted * quantity).into(), inserted.into()]);
        let upsert = format!(
            "INSERT INTO usage_totals ({TOTAL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) {ON_TOTAL_CONFLICT}"
        );
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            &upsert,
            total,
        ))
        .await?;
        txn.commit().await?;
        Ok(inserted)
    }

    /// Best SQL: the batch as one statement; returns the new events.
    pub async fn write_best(
        &self,
        db: &DatabaseConnection,
        to: &Target,
        mut values: Vec<sea_orm::Value>,
        now: DateTime<Utc>,
    ) -> Result<i64, DbErr> {
        values.extend(total_values(to, now));
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                &self.best,
                values,
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("no row".into()))?;
        row.try_get::<i64>("", "n")
    }
}

/// The total row's values but its quantity and events: id, tenant, subscription, metric,
/// cycle, period start and end, then the update time.
fn total_values(to: &Target, now: DateTime<Utc>) -> Vec<sea_orm::Value> {
    vec![
        Uuid::now_v7().into(),
        to.tenant.into(),
        to.subscription.into(),
        to.metric.into(),
        to.cycle.into(),
        to.period_start.into(),
        to.period_end.into(),
        now.into(),
    ]
}
