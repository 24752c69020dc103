//! The one-statement spends of the hot paths (PostgreSQL only): `consumeCredits`,
//! `reserveCredits` and `settleCredits` as a single autocommitted statement each, so the
//! wallet's row lock is held for the statement and its commit only. Each statement also
//! checks, in the same round trip, that the tenant's cache epoch is still the one the caller
//! priced the spend with, that the key was not used before, and that the move neither empties
//! the balance nor crosses the low-balance threshold. When any of that fails nothing is
//! written and the caller takes the full path, which handles every case (the notification of
//! a crossing, a missing wallet, the balance of an `INSUFFICIENT_CREDITS`, the race for a
//! key). A key taken by a concurrent request makes the ledger's unique index refuse the whole
//! statement, so a move never lands without its entry.
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

use crate::domain::{CreditHold, Credits, LedgerEntry, LedgerKind, TenantId, Wallet};
use crate::error::Result;

/// What a one-statement move did.
// Made once per move and matched at once: boxing the entry would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Quick {
    /// Moved: the entry (with the balance after it) and the wallet after it.
    Done(LedgerEntry, Wallet),
    /// The key was used before: its first entry, and the wallet as it stands.
    Prior(LedgerEntry, Wallet),
    /// Nothing written: the caller must take the full path.
    Declined,
}

/// The conditions of a quick move besides the balance.
pub struct Guard {
    /// The tenant's cache scope and the epoch the caller's snapshot was stamped with.
    pub scope: String,
    pub epoch: i64,
    /// The low-balance threshold, in micro-credits.
    pub low_micro: i64,
}

/// Whether `db` runs the quick statements.
pub fn supported(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// The parts every quick statement shares, after `prior` (a CTE) was declared. Parameters:
/// $1 amount, $2 held delta, $3 now, $4 tenant, $5 need, $6 entry id, $7 kind, $8 reference,
/// $9 entry key, $10 metric, $11 operation, $12 quantity, $13 low threshold, $14 scope,
/// $15 epoch; `extra` further conditions on the move.
fn move_ctes(extra: &str) -> String {
    format!(
        "fresh AS ( \
            SELECT coalesce((SELECT epoch FROM cache_epochs WHERE scope = $14), 0) = $15 AS ok), \
        moved AS ( \
            UPDATE wallets SET balance_micro = balance_micro + $1, \
                held_micro = held_micro + $2, updated_at = $3 \
            WHERE tenant_id = $4 AND balance_micro >= $5 \
                AND (balance_micro <= 0 OR balance_micro + $1 > 0) \
                AND (balance_micro < $13 OR balance_micro + $1 >= $13) \
                AND (SELECT ok FROM fresh) {extra} \
            RETURNING balance_micro, held_micro), \
        written AS ( \
            INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
                reference, idempotency_key, metric_code, operation_type, quantity, created_at) \
            SELECT $6, $4, $7, $1, moved.balance_micro, $8, $9, $10, $11, $12, $3 FROM moved \
            RETURNING 1)"
    )
}

const PRIOR_COLUMNS: &str = "p.id AS p_id, p.kind AS p_kind, p.amount_micro AS p_amount, \
    p.balance_after_micro AS p_after, p.reference AS p_reference, \
    p.metric_code AS p_metric, p.operation_type AS p_operation, p.quantity AS p_quantity, \
    p.created_at AS p_created";

fn values(entry: &LedgerEntry, held_delta: i64, need: i64, guard: &Guard) -> Vec<Value> {
    vec![
        entry.amount.micro().into(),
        held_delta.into(),
        entry.created_at.into(),
        entry.tenant_id.0.into(),
        need.into(),
        entry.id.0.into(),
        entry.kind.as_str().into(),
        entry.reference.clone().into(),
        entry.idempotency_key.clone().into(),
        entry.metric_code.clone().into(),
        entry.operation_type.clone().into(),
        entry.quantity.into(),
        guard.low_micro.into(),
        guard.scope.clone().into(),
        guard.epoch.into(),
    ]
}

/// Runs `sql`. A unique violation (a concurrent request took the key) or a not-null one (a
/// settlement's failed guard) declines: the statement wrote nothing.
async fn run(
    db: &impl ConnectionTrait,
    sql: String,
    values: Vec<Value>,
) -> Result<Option<QueryResult>> {
    match db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
    {
        Ok(row) => Ok(row),
        Err(e) if refused_by_a_constraint(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn refused_by_a_constraint(e: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    match e {
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            matches!(&**e, sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("23505" | "23502")))
        }
        _ => false,
    }
}

/// The entry written and the wallet after it, when the row says the move happened.
fn done(row: &QueryResult, mut entry: LedgerEntry) -> Result<Option<(LedgerEntry, Wallet)>> {
    let Some(balance) = row.try_get::<Option<i64>>("", "moved_balance")? else {
        return Ok(None);
    };
    let held: i64 = row.try_get("", "moved_held")?;
    entry.balance_after = Credits(balance);
    let wallet = Wallet {
        tenant_id: entry.tenant_id,
        balance: Credits(balance),
        held: Credits(held),
    };
    Ok(Some((entry, wallet)))
}

/// A spend at once (`consumeCredits`): the move and its entry, or the key's first entry.
pub async fn consume(
    db: &impl ConnectionTrait,
    entry: LedgerEntry,
    guard: &Guard,
) -> Result<Quick> {
    let sql = format!(
        "WITH prior AS ( \
            SELECT id, kind, amount_micro, balance_after_micro, reference, metric_code, \
                operation_type, quantity, created_at \
            FROM ledger_entries WHERE tenant_id = $4 AND idempotency_key = $9), \
        {} \
        SELECT m.balance_micro AS moved_balance, m.held_micro AS moved_held, {PRIOR_COLUMNS}, \
            w.balance_micro AS wallet_balance, w.held_micro AS wallet_held \
        FROM (SELECT 1) AS one \
        LEFT JOIN moved m ON true \
        LEFT JOIN prior p ON true \
        LEFT JOIN wallets w ON w.tenant_id = $4 AND p.id IS NOT NULL",
        move_ctes("AND NOT EXISTS (SELECT 1 FROM prior)")
    );
    let values = values(&entry, 0, -entry.amount.micro(), guard);
    let Some(row) = run(db, sql, values).await? else {
        return Ok(Quick::Declined);
    };
    let (tenant, key) = (entry.tenant_id, entry.idempotency_key.clone());
    if let Some((entry, wallet)) = done(&row, entry)? {
        return Ok(Quick::Done(entry, wallet));
    }
    Ok(prior(&row, tenant, key)?.unwrap_or(Quick::Declined))
}

/// The first entry of a key used before and the wallet as it stands, from a row carrying
/// [`PRIOR_COLUMNS`] and `wallet_balance`/`wallet_held`; `None` when the key was new.
pub(super) fn prior(
    row: &QueryResult,
    tenant: TenantId,
    key: Option<String>,
) -> std::result::Result<Option<Quick>, DbErr> {
    let Some(id) = row.try_get::<Option<uuid::Uuid>>("", "p_id")? else {
        return Ok(None);
    };
    let kind: String = row.try_get("", "p_kind")?;
    let first = LedgerEntry {
        id: id.into(),
        tenant_id: tenant,
        kind: LedgerKind::from_db(&kind)
            .ok_or_else(|| DbErr::Custom(format!("ledger entry {id}: bad kind")))?,
        amount: Credits(row.try_get("", "p_amount")?),
        balance_after: Credits(row.try_get("", "p_after")?),
        reference: row.try_get("", "p_reference")?,
        idempotency_key: key,
        metric_code: row.try_get("", "p_metric")?,
        operation_type: row.try_get("", "p_operation")?,
        quantity: row.try_get("", "p_quantity")?,
        created_at: row.try_get("", "p_created")?,
    };
    let wallet = Wallet {
        tenant_id: tenant,
        balance: Credits(
            row.try_get::<Option<i64>>("", "wallet_balance")?
                .unwrap_or(0),
        ),
        held: Credits(row.try_get::<Option<i64>>("", "wallet_held")?.unwrap_or(0)),
    };
    Ok(Some(Quick::Prior(first, wallet)))
}

/// A new hold (`reserveCredits`): the move, its entry and the hold, unless the hold's key was
/// used before (then the caller takes the full path, which answers the replay).
pub async fn reserve(
    db: &impl ConnectionTrait,
    entry: LedgerEntry,
    hold: &CreditHold,
    guard: &Guard,
) -> Result<Quick> {
    let sql = format!(
        "WITH prior AS ( \
            SELECT 1 FROM credit_holds WHERE tenant_id = $4 AND idempotency_key = $16), \
        {}, \
        held AS ( \
            INSERT INTO credit_holds (id, tenant_id, amount_micro, status, metric_code, \
                operation_type, idempotency_key, expires_at, created_at, updated_at) \
            SELECT $17, $4, $2, 'held', $10, $11, $16, $18, $3, $3 FROM moved RETURNING 1) \
        SELECT m.balance_micro AS moved_balance, m.held_micro AS moved_held, \
            (SELECT count(*) FROM written) + (SELECT count(*) FROM held) AS rows \
        FROM moved m",
        move_ctes("AND NOT EXISTS (SELECT 1 FROM prior)")
    );
    let mut values = values(&entry, hold.amount.micro(), hold.amount.micro(), guard);
    values.extend([
        hold.idempotency_key.clone().into(),
        hold.id.0.into(),
        hold.expires_at.into(),
    ]);
    let Some(row) = run(db, sql, values).await? else {
        return Ok(Quick::Declined);
    };
    Ok(match done(&row, entry)? {
        Some((entry, wallet)) => Quick::Done(entry, wallet),
        None => Quick::Declined,
    })
}

/// Closes an open hold as settled for `charged` and moves the balance by `back` (the hold
/// minus the charge), autocommitted. The hold's row is taken first, so of two closings of one
/// hold only one moves the balance. `Declined` when the hold is no longer open, the snapshot is
/// stale, or the guard fails: a failed guard leaves the entry without a balance, which the
/// ledger's `NOT NULL` refuses, so the whole statement (the hold's close and the move) is
/// undone and the caller takes the full path.
pub async fn settle(
    db: &impl ConnectionTrait,
    entry: LedgerEntry,
    hold: &CreditHold,
    charged: Credits,
    guard: &Guard,
) -> Result<Quick> {
    let back = entry.amount.micro();
    let mut values = values(&entry, -hold.amount.micro(), (-back).max(0), guard);
    values.extend([charged.micro().into(), hold.id.0.into()]);
    let Some(row) = run(db, SETTLE.to_owned(), values).await? else {
        return Ok(Quick::Declined);
    };
    Ok(match done(&row, entry)? {
        Some((entry, wallet)) => Quick::Done(entry, wallet),
        None => Quick::Declined,
    })
}

/// Parameters as [`move_ctes`], and $16 the charge, $17 the hold.
const SETTLE: &str = "WITH fresh AS ( \
        SELECT coalesce((SELECT epoch FROM cache_epochs WHERE scope = $14), 0) = $15 AS ok), \
    closed AS ( \
        UPDATE credit_holds SET status = 'settled', settled_micro = $16, updated_at = $3 \
        WHERE id = $17 AND tenant_id = $4 AND status = 'held' AND (SELECT ok FROM fresh) \
        RETURNING 1), \
    moved AS ( \
        UPDATE wallets SET balance_micro = balance_micro + $1, held_micro = held_micro + $2, \
            updated_at = $3 \
        WHERE tenant_id = $4 AND EXISTS (SELECT 1 FROM closed) \
        RETURNING balance_micro, held_micro, balance_micro - $1 AS before), \
    written AS ( \
        INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
            reference, idempotency_key, metric_code, operation_type, quantity, created_at) \
        SELECT $6, $4, $7, $1, \
            CASE WHEN before >= $5 AND (before <= 0 OR balance_micro > 0) \
                AND (before < $13 OR balance_micro >= $13) THEN balance_micro END, \
            $8, $9, $10, $11, $12, $3 FROM moved \
        RETURNING 1) \
    SELECT m.balance_micro AS moved_balance, m.held_micro AS moved_held, \
        (SELECT count(*) FROM written) AS rows \
    FROM moved m";
