//! The reads behind the billing invariants (`jobs::invariants`): each one query over the whole
//! database, across tenants, on purpose (the operator's check). Plain SQL that SQLite and
//! PostgreSQL both run; sums are cast back to `BIGINT` because PostgreSQL widens them.
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use uuid::Uuid;

use crate::error::Result;

async fn rows(db: &impl ConnectionTrait, sql: &str) -> Result<Vec<QueryResult>> {
    let backend = db.get_database_backend();
    Ok(db
        .query_all_raw(Statement::from_string(backend, sql.to_owned()))
        .await?)
}

/// Wallets whose balance is not the sum of their ledger: (tenant, balance, ledger sum), in
/// micro-credits.
pub async fn wallets_off_ledger(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, i64, i64)>> {
    let sql = "SELECT w.tenant_id, w.balance_micro, \
               CAST(COALESCE(SUM(l.amount_micro), 0) AS BIGINT) \
               FROM wallets w LEFT JOIN ledger_entries l ON l.tenant_id = w.tenant_id \
               GROUP BY w.tenant_id, w.balance_micro \
               HAVING w.balance_micro <> CAST(COALESCE(SUM(l.amount_micro), 0) AS BIGINT)";
    rows(db, sql)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get_by_index(0)?,
                r.try_get_by_index(1)?,
                r.try_get_by_index(2)?,
            ))
        })
        .collect()
}

/// An invoice whose figures disagree: (id, subtotal, discount, total, sum of its lines).
pub type InvoiceFigures = (Uuid, i64, i64, i64, i64);

/// Invoices whose subtotal is not the sum of their lines, or whose total is not the subtotal
/// minus the discount.
pub async fn invoices_off_lines(db: &impl ConnectionTrait) -> Result<Vec<InvoiceFigures>> {
    let sql = "SELECT i.id, i.subtotal_minor, i.discount_minor, i.total_minor, \
               CAST(COALESCE(SUM(l.amount_minor), 0) AS BIGINT) \
               FROM invoices i LEFT JOIN invoice_lines l ON l.invoice_id = i.id \
               GROUP BY i.id, i.subtotal_minor, i.discount_minor, i.total_minor \
               HAVING i.total_minor <> i.subtotal_minor - i.discount_minor \
               OR i.subtotal_minor <> CAST(COALESCE(SUM(l.amount_minor), 0) AS BIGINT)";
    rows(db, sql)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get_by_index(0)?,
                r.try_get_by_index(1)?,
                r.try_get_by_index(2)?,
                r.try_get_by_index(3)?,
                r.try_get_by_index(4)?,
            ))
        })
        .collect()
}

/// Every invoice number and credit-note number given out, and the sequences' last numbers
/// (`year`, or `-year` for credit notes).
pub struct Numbers {
    pub invoices: Vec<(Uuid, String)>,
    pub credit_notes: Vec<(Uuid, String)>,
    pub sequences: Vec<(i32, i64)>,
}

pub async fn numbers(db: &impl ConnectionTrait) -> Result<Numbers> {
    let pairs = |rs: Vec<QueryResult>| -> Result<Vec<(Uuid, String)>> {
        rs.iter()
            .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
            .collect()
    };
    let invoices = pairs(
        rows(
            db,
            "SELECT id, number FROM invoices WHERE number IS NOT NULL",
        )
        .await?,
    )?;
    let credit_notes = pairs(rows(db, "SELECT id, number FROM credit_notes").await?)?;
    let sequences = rows(db, "SELECT year, last_number FROM invoice_sequences")
        .await?
        .iter()
        .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
        .collect::<Result<_>>()?;
    Ok(Numbers {
        invoices,
        credit_notes,
        sequences,
    })
}

/// A metric with blocks charged at once in a subscription's current period, with the plan's
/// block terms and the period's usage.
#[derive(Clone, Debug)]
pub struct PeriodBlocks {
    pub subscription: Uuid,
    pub metric: Uuid,
    pub cycle: i32,
    pub usage: i64,
    pub included: i64,
    pub block_size: i64,
    pub block_price: i64,
    /// (block index, tier label, amount) of each block charged in the period.
    pub charged: Vec<(i64, String, i64)>,
}

/// The current period of every subscription whose plan charges a metric in blocks at once.
pub async fn current_period_blocks(db: &impl ConnectionTrait) -> Result<Vec<PeriodBlocks>> {
    let terms = "SELECT s.id, c.metric_id, s.cycle, COALESCE(t.quantity, 0), c.included_units, \
                 COALESCE(c.block_size, 0), COALESCE(c.block_price_minor, 0) \
                 FROM subscriptions s JOIN plan_charges c ON c.plan_id = s.plan_id \
                 LEFT JOIN usage_totals t ON t.subscription_id = s.id \
                 AND t.metric_id = c.metric_id AND t.cycle = s.cycle \
                 WHERE c.model = 'block' AND c.timing = 'immediately' \
                 ORDER BY s.id, c.metric_id";
    let mut out: Vec<PeriodBlocks> = rows(db, terms)
        .await?
        .iter()
        .map(|r| {
            Ok(PeriodBlocks {
                subscription: r.try_get_by_index(0)?,
                metric: r.try_get_by_index(1)?,
                cycle: r.try_get_by_index(2)?,
                usage: r.try_get_by_index(3)?,
                included: r.try_get_by_index(4)?,
                block_size: r.try_get_by_index(5)?,
                block_price: r.try_get_by_index(6)?,
                charged: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;
    let charges = "SELECT b.subscription_id, b.metric_id, b.block_index, b.tier, b.amount_minor \
                   FROM block_charges b JOIN subscriptions s \
                   ON s.id = b.subscription_id AND s.cycle = b.cycle \
                   ORDER BY b.subscription_id, b.metric_id, b.block_index";
    let mut by_key = std::collections::HashMap::new();
    for (i, p) in out.iter().enumerate() {
        by_key.insert((p.subscription, p.metric), i);
    }
    for r in rows(db, charges).await? {
        let key: (Uuid, Uuid) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?);
        if let Some(&i) = by_key.get(&key) {
            out[i].charged.push((
                r.try_get_by_index(2)?,
                r.try_get_by_index(3)?,
                r.try_get_by_index(4)?,
            ));
        }
    }
    Ok(out)
}
