//! The reads behind the billing invariants (`jobs::invariants`): plain queries over the whole
//! database, across tenants, on purpose (the operator's check). Plain SQL that SQLite and
//! PostgreSQL both run; sums are cast back to `BIGINT` because PostgreSQL widens them.
use std::collections::{BTreeMap, HashMap};

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

/// A metric's block terms under one plan version (a charge in blocks, billed at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockTerms {
    pub included: i64,
    pub size: i64,
    pub price: i64,
}

/// One block charged in a period.
#[derive(Clone, Debug)]
pub struct Charged {
    pub index: i64,
    pub tier: String,
    pub amount: i64,
    /// The plan version it was charged under; `None` for a row written before m0015 that the
    /// migration could not attribute.
    pub plan: Option<Uuid>,
}

/// One period of one metric of a subscription, past or current, that has block charges or
/// whose usage was recorded under a plan charging the metric in blocks at once.
#[derive(Clone, Debug)]
pub struct PeriodBlocks {
    pub subscription: Uuid,
    pub metric: Uuid,
    pub cycle: i32,
    pub usage: i64,
    /// The plan version the period's usage was last recorded under; `None` when there is no
    /// usage, or for a past period aggregated before m0015.
    pub usage_plan: Option<Uuid>,
    /// In block order.
    pub charged: Vec<Charged>,
}

/// Every period with blocks to check, and the block terms of every plan version by (plan,
/// metric).
pub struct BlockPeriods {
    pub periods: Vec<PeriodBlocks>,
    pub terms: HashMap<(Uuid, Uuid), BlockTerms>,
}

/// Every period of every subscription, past ones too, with block charges or usage under a
/// plan that charges blocks at once.
pub async fn period_blocks(db: &impl ConnectionTrait) -> Result<BlockPeriods> {
    let terms_sql = "SELECT plan_id, metric_id, included_units, COALESCE(block_size, 0), \
                     COALESCE(block_price_minor, 0) FROM plan_charges \
                     WHERE model = 'block' AND timing = 'immediately'";
    let mut terms = HashMap::new();
    for r in rows(db, terms_sql).await? {
        let key: (Uuid, Uuid) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?);
        let t = BlockTerms {
            included: r.try_get_by_index(2)?,
            size: r.try_get_by_index(3)?,
            price: r.try_get_by_index(4)?,
        };
        terms.insert(key, t);
    }
    let totals_sql = "SELECT t.subscription_id, t.metric_id, t.cycle, t.quantity, t.plan_id \
                      FROM usage_totals t WHERE EXISTS (SELECT 1 FROM plan_charges c \
                      WHERE c.plan_id = t.plan_id AND c.metric_id = t.metric_id \
                      AND c.model = 'block' AND c.timing = 'immediately') \
                      OR EXISTS (SELECT 1 FROM block_charges b \
                      WHERE b.subscription_id = t.subscription_id \
                      AND b.metric_id = t.metric_id AND b.cycle = t.cycle)";
    let mut periods = BTreeMap::new();
    for r in rows(db, totals_sql).await? {
        let p = PeriodBlocks {
            subscription: r.try_get_by_index(0)?,
            metric: r.try_get_by_index(1)?,
            cycle: r.try_get_by_index(2)?,
            usage: r.try_get_by_index(3)?,
            usage_plan: r.try_get_by_index(4)?,
            charged: Vec::new(),
        };
        periods.insert((p.subscription, p.metric, p.cycle), p);
    }
    let charges_sql = "SELECT subscription_id, metric_id, cycle, block_index, tier, \
                       amount_minor, plan_id FROM block_charges \
                       ORDER BY subscription_id, metric_id, cycle, block_index";
    for r in rows(db, charges_sql).await? {
        let key: (Uuid, Uuid, i32) = (
            r.try_get_by_index(0)?,
            r.try_get_by_index(1)?,
            r.try_get_by_index(2)?,
        );
        // Blocks without usage in their period: an empty aggregate, so that they show.
        let period = periods.entry(key).or_insert_with(|| PeriodBlocks {
            subscription: key.0,
            metric: key.1,
            cycle: key.2,
            usage: 0,
            usage_plan: None,
            charged: Vec::new(),
        });
        period.charged.push(Charged {
            index: r.try_get_by_index(3)?,
            tier: r.try_get_by_index(4)?,
            amount: r.try_get_by_index(5)?,
            plan: r.try_get_by_index(6)?,
        });
    }
    Ok(BlockPeriods {
        periods: periods.into_values().collect(),
        terms,
    })
}
