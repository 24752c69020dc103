//! One balance move and the ledger entry that explains it. On PostgreSQL they are one
//! statement: the conditional `UPDATE` of the wallet and the `INSERT` of the entry as one CTE,
//! so a move costs one round trip and the wallet's row lock is held for the commit alone. Other
//! backends run the same two statements one after the other, in the caller's transaction.
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::wallets;
use crate::domain::{Credits, LedgerEntry, Wallet};
use crate::error::Result;

/// What a move did.
// Made once per move and matched at once: boxing the entry would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Applied {
    /// Moved; the entry (with the balance after it) and the wallet after it.
    Done(LedgerEntry, Wallet),
    /// The balance was below what the move needed, or the tenant has no wallet: nothing moved.
    Insufficient,
    /// The entry's idempotency key was taken: the caller must roll back (the update may have
    /// happened) and answer with the first result.
    Duplicate,
}

/// Adds `entry.amount` to the balance and `held_delta` to the held amount if the balance is at
/// least `need`, and writes `entry` with the balance after.
pub async fn apply_with_entry(
    db: &impl ConnectionTrait,
    mut entry: LedgerEntry,
    held_delta: i64,
    need: i64,
) -> Result<Applied> {
    if db.get_database_backend() != DbBackend::Postgres {
        let tenant = entry.tenant_id;
        let Some(after) = wallets::apply(
            db,
            tenant,
            entry.amount.micro(),
            held_delta,
            need,
            entry.created_at,
        )
        .await?
        else {
            return Ok(Applied::Insufficient);
        };
        entry.balance_after = after.balance;
        return Ok(match wallets::insert_entry(db, entry).await? {
            Some(entry) => Applied::Done(entry, after),
            None => Applied::Duplicate,
        });
    }
    let e = &entry;
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        MOVE,
        [
            e.amount.micro().into(),
            held_delta.into(),
            e.created_at.into(),
            e.tenant_id.0.into(),
            need.into(),
            e.id.0.into(),
            e.kind.as_str().into(),
            e.reference.clone().into(),
            e.idempotency_key.clone().into(),
            e.metric_code.clone().into(),
            e.operation_type.clone().into(),
            e.quantity.into(),
        ],
    );
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(Applied::Insufficient);
    };
    let balance: i64 = row.try_get_by_index(0)?;
    let held: i64 = row.try_get_by_index(1)?;
    let written: i64 = row.try_get_by_index(2)?;
    if written == 0 {
        return Ok(Applied::Duplicate);
    }
    entry.balance_after = Credits(balance);
    let wallet = Wallet {
        tenant_id: entry.tenant_id,
        balance: Credits(balance),
        held: Credits(held),
    };
    Ok(Applied::Done(entry, wallet))
}

/// No row: the condition failed. A row whose count is 0: the update happened but the entry's
/// key was taken (`ON CONFLICT DO NOTHING` on `ux_ledger_entries_tenant_key`).
const MOVE: &str = "WITH moved AS ( \
        UPDATE wallets SET balance_micro = balance_micro + $1, held_micro = held_micro + $2, \
            updated_at = $3 \
        WHERE tenant_id = $4 AND balance_micro >= $5 \
        RETURNING balance_micro, held_micro), \
    written AS ( \
        INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
            reference, idempotency_key, metric_code, operation_type, quantity, created_at) \
        SELECT $6, $4, $7, $1, moved.balance_micro, $8, $9, $10, $11, $12, $3 FROM moved \
        ON CONFLICT DO NOTHING \
        RETURNING 1) \
    SELECT moved.balance_micro, moved.held_micro, (SELECT count(*) FROM written) FROM moved";
