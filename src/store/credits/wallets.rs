//! Wallets, their ledger and credit holds. The balance moves only by conditional updates in
//! the same transaction as the ledger entry that explains the move.
use chrono::{DateTime, Utc};
use entity::{credit_holds, ledger_entries, wallets};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::{
    CreditHold, Credits, HoldId, HoldStatus, LedgerEntry, LedgerEntryId, LedgerKind, Page,
    PageRequest, TenantId, Wallet,
};
use crate::error::{Error, Result};
use crate::store::{TenantScope, fetch_page};

/// Creates the tenant's wallet if it has none. Also the first write of the transaction, so
/// on SQLite it takes the write lock before anything is read.
pub async fn ensure(db: &impl ConnectionTrait, tenant: TenantId, now: DateTime<Utc>) -> Result<()> {
    wallets::Entity::insert(wallets::ActiveModel {
        tenant_id: Set(tenant.0),
        balance_micro: Set(0),
        held_micro: Set(0),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([wallets::Column::TenantId])
    .exec(db)
    .await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, tenant: TenantId) -> Result<Wallet> {
    let row = wallets::Entity::find_by_id(tenant.0).one(db).await?;
    Ok(Wallet {
        tenant_id: tenant,
        balance: Credits(row.as_ref().map_or(0, |r| r.balance_micro)),
        held: Credits(row.as_ref().map_or(0, |r| r.held_micro)),
    })
}

/// Adds `delta` to the balance and `held_delta` to the held amount, only if the balance is at
/// least `at_least` first. Returns the wallet after, or `None` when the condition failed (or
/// the tenant has no wallet yet).
pub async fn apply(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    delta: i64,
    held_delta: i64,
    at_least: i64,
    now: DateTime<Utc>,
) -> Result<Option<Wallet>> {
    let stmt = Query::update()
        .table(wallets::Entity)
        .value(
            wallets::Column::BalanceMicro,
            Expr::col(wallets::Column::BalanceMicro).add(delta),
        )
        .value(
            wallets::Column::HeldMicro,
            Expr::col(wallets::Column::HeldMicro).add(held_delta),
        )
        .value(wallets::Column::UpdatedAt, now)
        .and_where(Expr::col(wallets::Column::TenantId).eq(tenant.0))
        .and_where(Expr::col(wallets::Column::BalanceMicro).gte(at_least))
        .returning(
            Query::returning().columns([wallets::Column::BalanceMicro, wallets::Column::HeldMicro]),
        )
        .to_owned();
    match db.query_one(&stmt).await? {
        Some(row) => Ok(Some(Wallet {
            tenant_id: tenant,
            balance: Credits(row.try_get_by_index::<i64>(0)?),
            held: Credits(row.try_get_by_index::<i64>(1)?),
        })),
        None => Ok(None),
    }
}

fn entry_to_domain(m: ledger_entries::Model) -> Result<LedgerEntry> {
    Ok(LedgerEntry {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        kind: LedgerKind::from_db(&m.kind)
            .ok_or_else(|| Error::internal(format!("ledger entry {}: bad kind", m.id)))?,
        amount: Credits(m.amount_micro),
        balance_after: Credits(m.balance_after_micro),
        reference: m.reference,
        idempotency_key: m.idempotency_key,
        metric_code: m.metric_code,
        operation_type: m.operation_type,
        quantity: m.quantity,
        created_at: m.created_at,
    })
}

/// Inserts a ledger entry. `Ok(None)` when its idempotency key was used before: the caller's
/// transaction must then be rolled back and the first result returned.
pub async fn insert_entry(
    db: &impl ConnectionTrait,
    e: LedgerEntry,
) -> Result<Option<LedgerEntry>> {
    let row = ledger_entries::ActiveModel {
        id: Set(e.id.0),
        tenant_id: Set(e.tenant_id.0),
        kind: Set(e.kind.as_str().to_owned()),
        amount_micro: Set(e.amount.micro()),
        balance_after_micro: Set(e.balance_after.micro()),
        reference: Set(e.reference.clone()),
        idempotency_key: Set(e.idempotency_key.clone()),
        metric_code: Set(e.metric_code.clone()),
        operation_type: Set(e.operation_type.clone()),
        quantity: Set(e.quantity),
        created_at: Set(e.created_at),
    };
    match row.insert(db).await {
        Ok(_) => Ok(Some(e)),
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn entry_by_key(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    key: &str,
) -> Result<Option<LedgerEntry>> {
    ledger_entries::Entity::find()
        .filter(ledger_entries::Column::TenantId.eq(tenant.0))
        .filter(ledger_entries::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
        .map(entry_to_domain)
        .transpose()
}

pub async fn entries(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<LedgerEntry>> {
    let select = TenantScope::Only(tenant).filter(
        ledger_entries::Entity::find(),
        ledger_entries::Column::TenantId,
    );
    let page = fetch_page(db, select, ledger_entries::Column::Id, page).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(entry_to_domain)
            .collect::<Result<_>>()?,
        has_next: page.has_next,
    })
}

fn hold_to_domain(m: credit_holds::Model) -> Result<CreditHold> {
    Ok(CreditHold {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        amount: Credits(m.amount_micro),
        status: HoldStatus::from_db(&m.status)
            .ok_or_else(|| Error::internal(format!("hold {}: bad status", m.id)))?,
        metric_code: m.metric_code,
        operation_type: m.operation_type,
        idempotency_key: m.idempotency_key,
        settled: m.settled_micro.map(Credits),
        expires_at: m.expires_at,
        created_at: m.created_at,
    })
}

pub async fn insert_hold(db: &impl ConnectionTrait, h: &CreditHold) -> Result<()> {
    credit_holds::ActiveModel {
        id: Set(h.id.0),
        tenant_id: Set(h.tenant_id.0),
        amount_micro: Set(h.amount.micro()),
        status: Set(h.status.as_str().to_owned()),
        metric_code: Set(h.metric_code.clone()),
        operation_type: Set(h.operation_type.clone()),
        idempotency_key: Set(h.idempotency_key.clone()),
        settled_micro: Set(h.settled.map(Credits::micro)),
        expires_at: Set(h.expires_at),
        created_at: Set(h.created_at),
        updated_at: Set(h.created_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find_hold(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: HoldId,
) -> Result<Option<CreditHold>> {
    scope
        .filter(
            credit_holds::Entity::find_by_id(id.0),
            credit_holds::Column::TenantId,
        )
        .one(db)
        .await?
        .map(hold_to_domain)
        .transpose()
}

pub async fn hold_by_key(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    key: &str,
) -> Result<Option<CreditHold>> {
    credit_holds::Entity::find()
        .filter(credit_holds::Column::TenantId.eq(tenant.0))
        .filter(credit_holds::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
        .map(hold_to_domain)
        .transpose()
}

/// Moves an open hold to `to`. `false` if it was no longer open.
pub async fn close_hold(
    db: &impl ConnectionTrait,
    id: HoldId,
    to: HoldStatus,
    settled: Option<Credits>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = credit_holds::Entity::update_many()
        .col_expr(credit_holds::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            credit_holds::Column::SettledMicro,
            Expr::value(settled.map(Credits::micro)),
        )
        .col_expr(credit_holds::Column::UpdatedAt, Expr::value(now))
        .filter(credit_holds::Column::Id.eq(id.0))
        .filter(credit_holds::Column::Status.eq(HoldStatus::Held.as_str()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Open holds whose expiry has passed.
pub async fn expired_holds(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<CreditHold>> {
    credit_holds::Entity::find()
        .filter(credit_holds::Column::Status.eq(HoldStatus::Held.as_str()))
        .filter(credit_holds::Column::ExpiresAt.lte(now))
        .order_by_asc(credit_holds::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(hold_to_domain)
        .collect()
}

pub fn new_entry_id() -> LedgerEntryId {
    LedgerEntryId::new()
}

/// (operation type, kind, entries, amount summed, latest entry).
type SpendingRow = (String, String, i64, Option<i64>, Option<DateTime<Utc>>);

/// Per operation type: (operation, requests, credits spent, last spend). Spending entries are
/// consumes and holds (negative) with their settles, releases and expiries (giving back); a
/// request is a consume or a settle. Summed by the database per operation and kind.
pub async fn spending_by_operation(
    db: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<Vec<(String, i64, i64, Option<DateTime<Utc>>)>> {
    use sea_orm::sea_query::Func;
    let kinds = [
        LedgerKind::Consume,
        LedgerKind::Hold,
        LedgerKind::Settle,
        LedgerKind::Release,
        LedgerKind::Expire,
    ]
    .map(LedgerKind::as_str);
    let rows: Vec<SpendingRow> = ledger_entries::Entity::find()
        .select_only()
        .column(ledger_entries::Column::OperationType)
        .column(ledger_entries::Column::Kind)
        .column_as(
            Expr::expr(Func::count(Expr::col(ledger_entries::Column::Id))),
            "entries",
        )
        .column_as(
            Expr::expr(Func::sum(Expr::col(ledger_entries::Column::AmountMicro))).cast_as("bigint"),
            "amount",
        )
        .column_as(
            Expr::expr(Func::max(Expr::col(ledger_entries::Column::CreatedAt))),
            "latest",
        )
        .filter(ledger_entries::Column::TenantId.eq(tenant.0))
        .filter(ledger_entries::Column::Kind.is_in(kinds))
        .filter(ledger_entries::Column::OperationType.is_not_null())
        .group_by(ledger_entries::Column::OperationType)
        .group_by(ledger_entries::Column::Kind)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: std::collections::BTreeMap<String, (i64, i64, Option<DateTime<Utc>>)> =
        std::collections::BTreeMap::new();
    for (op, kind, entries, amount, latest) in rows {
        let slot = out.entry(op).or_default();
        if kind == LedgerKind::Consume.as_str() || kind == LedgerKind::Settle.as_str() {
            slot.0 += entries;
        }
        slot.1 -= amount.unwrap_or(0);
        if kind == LedgerKind::Consume.as_str() || kind == LedgerKind::Hold.as_str() {
            slot.2 = Ord::max(slot.2, latest);
        }
    }
    Ok(out
        .into_iter()
        .map(|(op, (n, spent, last))| (op, n, spent, last))
        .collect())
}
