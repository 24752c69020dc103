//! The two SQL baselines of the credits benchmark, for a spend (`consumeCredits`), a
//! reservation (`reserveCredits`) and its settlement (`settleCredits`):
//!
//! - plain SQL: the statements the API runs for the move, in one transaction (the replay
//!   lookup, the wallet ensure, the conditional `UPDATE wallets ... RETURNING`, the ledger
//!   `INSERT`, and the hold's `INSERT` or conditional `UPDATE`). Not the tenant, metric, plan
//!   and subscription reads that price the request, nor the reads that answer it.
//! - best SQL: the same work as ONE statement: a CTE whose conditional wallet update, ledger
//!   insert (the ledger row's unique `(tenant_id, idempotency_key)` is the idempotency record)
//!   and hold insert or update happen at once, and which answers a replay from the row it
//!   finds. The wallet must exist (the benchmark grants credits first).
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, TransactionTrait,
};
use uuid::Uuid;

pub const METRIC: &str = "tokens";
pub const OPERATION: &str = "default";
pub const MICRO_PER_CREDIT: i64 = 1_000_000;
/// Tokens per spend: 1 credit at the default rule (1 credit per 1,000 tokens).
pub const CONSUME_QUANTITY: i64 = 1_000;
pub const CONSUME_MICRO: i64 = MICRO_PER_CREDIT;
/// A pair reserves 2 credits and settles 1, giving 1 back.
pub const RESERVE_QUANTITY: i64 = 2_000;
pub const RESERVE_MICRO: i64 = 2 * MICRO_PER_CREDIT;
pub const SETTLE_QUANTITY: i64 = 1_000;
pub const SETTLE_MICRO: i64 = MICRO_PER_CREDIT;
pub const HOLD_TTL_SECONDS: i64 = 3_600;

/// What a call did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Answer {
    /// Credits moved.
    New,
    /// The key (or the hold) was used before: the first result, nothing moved.
    Replayed,
    /// Too few credits, or a hold no longer open: nothing moved.
    Refused,
}

const ENTRY_COLUMNS: &str = "id, tenant_id, kind, amount_micro, balance_after_micro, \
    reference, idempotency_key, metric_code, operation_type, quantity, created_at";

const ENTRY_BY_KEY: &str = "SELECT id, tenant_id, kind, amount_micro, balance_after_micro, \
    reference, idempotency_key, metric_code, operation_type, quantity, created_at \
    FROM ledger_entries WHERE tenant_id = $1 AND idempotency_key = $2 LIMIT 1";
const HOLD_COLUMNS: &str = "id, tenant_id, amount_micro, status, metric_code, operation_type, \
    idempotency_key, settled_micro, expires_at, created_at, updated_at";
const ENSURE_WALLET: &str = "INSERT INTO wallets (tenant_id, balance_micro, held_micro, \
    updated_at) VALUES ($1, 0, 0, $2) ON CONFLICT (tenant_id) DO NOTHING";
const APPLY: &str = "UPDATE wallets SET balance_micro = balance_micro + $1, \
    held_micro = held_micro + $2, updated_at = $3 \
    WHERE tenant_id = $4 AND balance_micro >= $5 RETURNING balance_micro";
const CLOSE_HOLD: &str = "UPDATE credit_holds SET status = 'settled', settled_micro = $2, \
    updated_at = $3 WHERE id = $1 AND status = 'held'";

const BEST_CONSUME: &str = "WITH prior AS ( \
      SELECT 1 FROM ledger_entries WHERE tenant_id = $1 AND idempotency_key = $2), \
    w AS ( \
      UPDATE wallets SET balance_micro = balance_micro - $3, updated_at = $4 \
      WHERE tenant_id = $1 AND balance_micro >= $3 AND NOT EXISTS (SELECT 1 FROM prior) \
      RETURNING balance_micro), \
    e AS ( \
      INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
        idempotency_key, metric_code, operation_type, quantity, created_at) \
      SELECT $5, $1, 'consume', -$3, balance_micro, $2, $6, $7, $8, $4 FROM w RETURNING id) \
    SELECT EXISTS (SELECT 1 FROM e) AS moved, EXISTS (SELECT 1 FROM prior) AS replayed";

const BEST_RESERVE: &str = "WITH prior AS ( \
      SELECT id FROM credit_holds WHERE tenant_id = $1 AND idempotency_key = $2), \
    w AS ( \
      UPDATE wallets SET balance_micro = balance_micro - $3, held_micro = held_micro + $3, \
        updated_at = $4 \
      WHERE tenant_id = $1 AND balance_micro >= $3 AND NOT EXISTS (SELECT 1 FROM prior) \
      RETURNING balance_micro), \
    h AS ( \
      INSERT INTO credit_holds (id, tenant_id, amount_micro, status, metric_code, \
        operation_type, idempotency_key, expires_at, created_at, updated_at) \
      SELECT $5, $1, $3, 'held', $6, $7, $2, $8, $4, $4 FROM w RETURNING id), \
    e AS ( \
      INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
        reference, idempotency_key, metric_code, operation_type, quantity, created_at) \
      SELECT $9, $1, 'hold', -$3, balance_micro, $10, $11, $6, $7, $12, $4 FROM w \
      RETURNING id) \
    SELECT (SELECT id FROM h) AS new_hold, (SELECT id FROM prior) AS prior_hold";

/// Settles for at most the hold (the benchmark's case), so the wallet's condition holds
/// whenever the hold was open.
const BEST_SETTLE: &str = "WITH h AS ( \
      UPDATE credit_holds SET status = 'settled', settled_micro = $2, updated_at = $3 \
      WHERE id = $1 AND status = 'held' \
      RETURNING tenant_id, amount_micro, metric_code, operation_type), \
    w AS ( \
      UPDATE wallets SET balance_micro = wallets.balance_micro + h.amount_micro - $2, \
        held_micro = wallets.held_micro - h.amount_micro, updated_at = $3 \
      FROM h WHERE wallets.tenant_id = h.tenant_id \
        AND wallets.balance_micro >= greatest($2 - h.amount_micro, 0) \
      RETURNING wallets.tenant_id, wallets.balance_micro, h.amount_micro, h.metric_code, \
        h.operation_type), \
    e AS ( \
      INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
        reference, idempotency_key, metric_code, operation_type, quantity, created_at) \
      SELECT $4, tenant_id, 'settle', amount_micro - $2, balance_micro, $5, $6, \
        metric_code, operation_type, $7, $3 FROM w RETURNING id) \
    SELECT EXISTS (SELECT 1 FROM e) AS moved, \
      (SELECT settled_micro FROM credit_holds WHERE id = $1) AS prior";

fn pg(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

fn hold_public(id: Uuid) -> String {
    format!("hld_{}", id.simple())
}

#[allow(clippy::too_many_arguments)]
fn entry_values(
    tenant: Uuid,
    kind: &str,
    amount: i64,
    after: i64,
    reference: Option<String>,
    key: String,
    quantity: i64,
    now: DateTime<Utc>,
) -> Vec<sea_orm::Value> {
    vec![
        Uuid::now_v7().into(),
        tenant.into(),
        kind.into(),
        amount.into(),
        after.into(),
        reference.into(),
        Some(key).into(),
        Some(METRIC.to_owned()).into(),
        Some(OPERATION.to_owned()).into(),
        Some(quantity).into(),
        now.into(),
    ]
}

fn insert_entry_sql() -> String {
    format!(
        "INSERT INTO ledger_entries ({ENTRY_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
}

/// Plain SQL `consumeCredits`: the replay lookup, then the move in one transaction.
pub async fn consume_plain(
    db: &DatabaseConnection,
    tenant: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Answer, DbErr> {
    let key = format!("consume:{key}");
    let found = db
        .query_one_raw(pg(ENTRY_BY_KEY, vec![tenant.into(), key.clone().into()]))
        .await?;
    if found.is_some() {
        return Ok(Answer::Replayed);
    }
    let txn = db.begin().await?;
    txn.execute_raw(pg(ENSURE_WALLET, vec![tenant.into(), now.into()]))
        .await?;
    let Some(row) = txn
        .query_one_raw(pg(
            APPLY,
            vec![
                (-CONSUME_MICRO).into(),
                0i64.into(),
                now.into(),
                tenant.into(),
                CONSUME_MICRO.into(),
            ],
        ))
        .await?
    else {
        txn.rollback().await?;
        return Ok(Answer::Refused);
    };
    let after: i64 = row.try_get_by_index(0)?;
    let values = entry_values(
        tenant,
        "consume",
        -CONSUME_MICRO,
        after,
        None,
        key,
        CONSUME_QUANTITY,
        now,
    );
    txn.execute_raw(pg(&insert_entry_sql(), values)).await?;
    txn.commit().await?;
    Ok(Answer::New)
}

/// Best SQL `consumeCredits`: one statement.
pub async fn consume_best(
    db: &DatabaseConnection,
    tenant: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Answer, DbErr> {
    let row = db
        .query_one_raw(pg(
            BEST_CONSUME,
            vec![
                tenant.into(),
                format!("consume:{key}").into(),
                CONSUME_MICRO.into(),
                now.into(),
                Uuid::now_v7().into(),
                METRIC.into(),
                OPERATION.into(),
                CONSUME_QUANTITY.into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    moved_or_replayed(&row)
}

fn moved_or_replayed(row: &QueryResult) -> Result<Answer, DbErr> {
    if row.try_get::<bool>("", "moved")? {
        Ok(Answer::New)
    } else if row.try_get::<bool>("", "replayed")? {
        Ok(Answer::Replayed)
    } else {
        Ok(Answer::Refused)
    }
}

/// Plain SQL `reserveCredits`: the hold lookup by key, then the move and the hold in one
/// transaction. Returns the hold's id.
pub async fn reserve_plain(
    db: &DatabaseConnection,
    tenant: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(Answer, Option<Uuid>), DbErr> {
    let lookup = format!(
        "SELECT {HOLD_COLUMNS} FROM credit_holds WHERE tenant_id = $1 AND idempotency_key = $2 LIMIT 1"
    );
    if let Some(row) = db
        .query_one_raw(pg(&lookup, vec![tenant.into(), key.into()]))
        .await?
    {
        return Ok((Answer::Replayed, Some(row.try_get("", "id")?)));
    }
    let hold = Uuid::now_v7();
    let txn = db.begin().await?;
    txn.execute_raw(pg(ENSURE_WALLET, vec![tenant.into(), now.into()]))
        .await?;
    let Some(row) = txn
        .query_one_raw(pg(
            APPLY,
            vec![
                (-RESERVE_MICRO).into(),
                RESERVE_MICRO.into(),
                now.into(),
                tenant.into(),
                RESERVE_MICRO.into(),
            ],
        ))
        .await?
    else {
        txn.rollback().await?;
        return Ok((Answer::Refused, None));
    };
    let after: i64 = row.try_get_by_index(0)?;
    let public = hold_public(hold);
    let values = entry_values(
        tenant,
        "hold",
        -RESERVE_MICRO,
        after,
        Some(public.clone()),
        format!("hold:{public}"),
        RESERVE_QUANTITY,
        now,
    );
    txn.execute_raw(pg(&insert_entry_sql(), values)).await?;
    let insert_hold = format!(
        "INSERT INTO credit_holds ({HOLD_COLUMNS}) VALUES ($1, $2, $3, 'held', $4, $5, $6, NULL, $7, $8, $8)"
    );
    txn.execute_raw(pg(
        &insert_hold,
        vec![
            hold.into(),
            tenant.into(),
            RESERVE_MICRO.into(),
            METRIC.into(),
            OPERATION.into(),
            key.into(),
            (now + TimeDelta::seconds(HOLD_TTL_SECONDS)).into(),
            now.into(),
        ],
    ))
    .await?;
    txn.commit().await?;
    Ok((Answer::New, Some(hold)))
}

/// Best SQL `reserveCredits`: one statement.
pub async fn reserve_best(
    db: &DatabaseConnection,
    tenant: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(Answer, Option<Uuid>), DbErr> {
    let hold = Uuid::now_v7();
    let public = hold_public(hold);
    let row = db
        .query_one_raw(pg(
            BEST_RESERVE,
            vec![
                tenant.into(),
                key.into(),
                RESERVE_MICRO.into(),
                now.into(),
                hold.into(),
                METRIC.into(),
                OPERATION.into(),
                (now + TimeDelta::seconds(HOLD_TTL_SECONDS)).into(),
                Uuid::now_v7().into(),
                public.clone().into(),
                format!("hold:{public}").into(),
                RESERVE_QUANTITY.into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    let new: Option<Uuid> = row.try_get("", "new_hold")?;
    let prior: Option<Uuid> = row.try_get("", "prior_hold")?;
    Ok(match (new, prior) {
        (Some(id), _) => (Answer::New, Some(id)),
        (None, Some(id)) => (Answer::Replayed, Some(id)),
        (None, None) => (Answer::Refused, None),
    })
}

/// Plain SQL `settleCredits` for `SETTLE_QUANTITY`: the hold read, then the hold's update
/// and the move in one transaction; a settled hold answers from its ledger entry.
pub async fn settle_plain(
    db: &DatabaseConnection,
    hold: Uuid,
    now: DateTime<Utc>,
) -> Result<Answer, DbErr> {
    let read = format!("SELECT {HOLD_COLUMNS} FROM credit_holds WHERE id = $1");
    let row = db
        .query_one_raw(pg(&read, vec![hold.into()]))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("hold {hold} not found")))?;
    let tenant: Uuid = row.try_get("", "tenant_id")?;
    let amount: i64 = row.try_get("", "amount_micro")?;
    let status: String = row.try_get("", "status")?;
    let public = hold_public(hold);
    let key = format!("settle:{public}");
    if status == "settled" {
        let found = db
            .query_one_raw(pg(ENTRY_BY_KEY, vec![tenant.into(), key.into()]))
            .await?;
        return Ok(if found.is_some() {
            Answer::Replayed
        } else {
            Answer::Refused
        });
    }
    let back = amount - SETTLE_MICRO;
    let txn = db.begin().await?;
    txn.execute_raw(pg(ENSURE_WALLET, vec![tenant.into(), now.into()]))
        .await?;
    let closed = txn
        .execute_raw(pg(
            CLOSE_HOLD,
            vec![hold.into(), SETTLE_MICRO.into(), now.into()],
        ))
        .await?
        .rows_affected();
    if closed != 1 {
        txn.rollback().await?;
        return Ok(Answer::Refused);
    }
    let Some(row) = txn
        .query_one_raw(pg(
            APPLY,
            vec![
                back.into(),
                (-amount).into(),
                now.into(),
                tenant.into(),
                (-back).max(0).into(),
            ],
        ))
        .await?
    else {
        txn.rollback().await?;
        return Ok(Answer::Refused);
    };
    let after: i64 = row.try_get_by_index(0)?;
    let values = entry_values(
        tenant,
        "settle",
        back,
        after,
        Some(public),
        key,
        SETTLE_QUANTITY,
        now,
    );
    txn.execute_raw(pg(&insert_entry_sql(), values)).await?;
    txn.commit().await?;
    Ok(Answer::New)
}

/// Best SQL `settleCredits` for `SETTLE_QUANTITY`: one statement.
pub async fn settle_best(
    db: &DatabaseConnection,
    hold: Uuid,
    now: DateTime<Utc>,
) -> Result<Answer, DbErr> {
    let public = hold_public(hold);
    let row = db
        .query_one_raw(pg(
            BEST_SETTLE,
            vec![
                hold.into(),
                SETTLE_MICRO.into(),
                now.into(),
                Uuid::now_v7().into(),
                public.clone().into(),
                format!("settle:{public}").into(),
                SETTLE_QUANTITY.into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    if row.try_get::<bool>("", "moved")? {
        return Ok(Answer::New);
    }
    let prior: Option<i64> = row.try_get("", "prior")?;
    Ok(if prior == Some(SETTLE_MICRO) {
        Answer::Replayed
    } else {
        Answer::Refused
    })
}
