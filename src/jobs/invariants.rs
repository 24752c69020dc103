//! Billing invariants, checked by a periodic job (`BILLING_INVARIANTS_INTERVAL_SECONDS`) and
//! at the end of every billing-jobs run, and exported as `billing_invariant_violations{check}`:
//! how many rows break each check at the last run. Every violation is logged at `error` with
//! the ids involved. The checks only read; they never repair.
use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::domain::{CreditNoteId, InvoiceId, MetricId, PlanId, SubscriptionId, TenantId};
use crate::error::Result;
use crate::pricing;
use crate::state::AppState;
use crate::store;
use crate::store::invariants::{BlockTerms, PeriodBlocks};

/// The checks, by their label.
pub const WALLET_LEDGER: &str = "wallet_balance_equals_ledger";
pub const BLOCK_CHARGES: &str = "block_charges_match_formula";
pub const INVOICE_TOTALS: &str = "invoice_total_equals_lines";
pub const INVOICE_NUMBERS: &str = "invoice_numbers_gapless";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvariantReport {
    pub wallet_ledger: i64,
    pub block_charges: i64,
    pub invoice_totals: i64,
    pub invoice_numbers: i64,
}

impl InvariantReport {
    pub fn total(&self) -> i64 {
        self.wallet_ledger + self.block_charges + self.invoice_totals + self.invoice_numbers
    }
}

/// Runs every check and sets the gauge of each.
#[tracing::instrument(name = "invariants", skip_all)]
pub async fn check(state: &AppState) -> Result<InvariantReport> {
    let db = &state.db;
    let mut report = InvariantReport::default();
    for (tenant, balance, ledger) in store::invariants::wallets_off_ledger(db).await? {
        tracing::error!(check = WALLET_LEDGER, tenant = %TenantId(tenant), balance, ledger, "invariant violated: wallet balance is not the sum of its ledger");
        report.wallet_ledger += 1;
    }
    for (invoice, subtotal, discount, total, lines) in
        store::invariants::invoices_off_lines(db).await?
    {
        tracing::error!(check = INVOICE_TOTALS, invoice = %InvoiceId(invoice), subtotal, discount, total, lines, "invariant violated: invoice total is not its lines minus the discount");
        report.invoice_totals += 1;
    }
    let blocks = store::invariants::period_blocks(db).await?;
    for period in &blocks.periods {
        if let Some(why) = blocks_wrong(period, &blocks.terms) {
            tracing::error!(check = BLOCK_CHARGES, subscription = %SubscriptionId(period.subscription), metric = %MetricId(period.metric), cycle = period.cycle, why, "invariant violated: block charges do not match the formula");
            report.block_charges += 1;
        }
    }
    let numbers = store::invariants::numbers(db).await?;
    report.invoice_numbers = gaps(&numbers);
    let gauge = &state.metrics.invariant_violations;
    gauge
        .with_label_values(&[WALLET_LEDGER])
        .set(report.wallet_ledger);
    gauge
        .with_label_values(&[BLOCK_CHARGES])
        .set(report.block_charges);
    gauge
        .with_label_values(&[INVOICE_TOTALS])
        .set(report.invoice_totals);
    gauge
        .with_label_values(&[INVOICE_NUMBERS])
        .set(report.invoice_numbers);
    Ok(report)
}

/// Why a period's block charges break the formula, if they do. A block is charged when a usage
/// report takes `pricing::blocks_due` of the period's usage, under the plan of that moment,
/// past the highest block charged, so across plan changes within the period:
/// - the blocks are numbered 1..n, none missing or twice;
/// - each block has its plan's price and tier label, and its plan's formula gives at least its
///   index for the period's final usage (usage only grows); none in a trial (cycle 0);
/// - n is at least what the formula gives under the plan the usage was last recorded under.
///
/// Blocks of an unknown plan (before m0015) are checked for their numbering only.
fn blocks_wrong(p: &PeriodBlocks, terms: &HashMap<(Uuid, Uuid), BlockTerms>) -> Option<String> {
    let n = i64::try_from(p.charged.len()).unwrap_or(i64::MAX);
    let numbered = p
        .charged
        .iter()
        .enumerate()
        .all(|(i, c)| i64::try_from(i + 1).is_ok_and(|want| c.index == want));
    if !numbered {
        let indexes: Vec<i64> = p.charged.iter().map(|c| c.index).collect();
        return Some(format!("block indexes {indexes:?} are not 1..{n}"));
    }
    let due = |t: &BlockTerms| {
        if p.cycle < 1 {
            0
        } else {
            pricing::blocks_due(p.usage, t.included, t.size)
        }
    };
    for c in &p.charged {
        let Some(plan) = c.plan.map(PlanId) else {
            continue;
        };
        let Some(t) = terms.get(&(plan.0, p.metric)) else {
            return Some(format!(
                "block {} was charged under plan {plan}, which charges no blocks of the metric at once",
                c.index
            ));
        };
        if c.amount != t.price {
            return Some(format!(
                "block {} charged {}, the price of plan {plan} is {}",
                c.index, c.amount, t.price
            ));
        }
        let tier = pricing::tier_label(c.index, t.included, t.size);
        if c.tier != tier {
            return Some(format!(
                "block {} is labelled {}, plan {plan} makes it {tier}",
                c.index, c.tier
            ));
        }
        if c.index > due(t) {
            return Some(format!(
                "block {} charged, plan {plan}'s formula gives {} for usage {}",
                c.index,
                due(t),
                p.usage
            ));
        }
    }
    if let Some(plan) = p.usage_plan.map(PlanId) {
        let owed = terms.get(&(plan.0, p.metric)).map_or(0, due);
        if n < owed {
            return Some(format!(
                "{n} blocks charged, plan {plan}'s formula gives {owed} for usage {}",
                p.usage
            ));
        }
    }
    None
}

/// Numbers missing from each year's sequence, of invoices and of credit notes: every number
/// from 1 to the sequence's last one is given out exactly once. Each gap or duplicate counts
/// once and is logged with the year and the numbers.
fn gaps(n: &store::invariants::Numbers) -> i64 {
    let mut given: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut unreadable = 0;
    let invoices = n
        .invoices
        .iter()
        .map(|(id, s)| (InvoiceId(*id).to_string(), s.as_str(), 1));
    let notes = n.credit_notes.iter().map(|(id, s)| {
        let number = s.strip_prefix("CN-").unwrap_or(s);
        (CreditNoteId(*id).to_string(), number, -1)
    });
    for (id, number, sign) in invoices.chain(notes) {
        match parse(number) {
            Some((year, seq)) => given.entry(sign * year).or_default().push(seq),
            None => {
                tracing::error!(check = INVOICE_NUMBERS, id = %id, number, "invariant violated: a number out of the sequence's format");
                unreadable += 1;
            }
        }
    }
    let mut broken = unreadable;
    for &(key, last) in &n.sequences {
        let mut seen = given.remove(&key).unwrap_or_default();
        seen.sort_unstable();
        let mut missing = Vec::new();
        let mut twice = Vec::new();
        let mut expect = 1;
        for s in seen.iter().copied() {
            if s < expect {
                twice.push(s);
                continue;
            }
            missing.extend(expect..s);
            expect = s + 1;
        }
        missing.extend(expect..=last);
        if !missing.is_empty() || !twice.is_empty() {
            let what = if key < 0 { "credit notes" } else { "invoices" };
            tracing::error!(
                check = INVOICE_NUMBERS,
                what,
                year = key.abs(),
                ?missing,
                ?twice,
                last,
                "invariant violated: numbers have gaps"
            );
            broken += i64::try_from(missing.len() + twice.len()).unwrap_or(i64::MAX);
        }
    }
    for (key, seen) in given {
        tracing::error!(
            check = INVOICE_NUMBERS,
            year = key.abs(),
            ?seen,
            "invariant violated: numbers without a sequence"
        );
        broken += i64::try_from(seen.len()).unwrap_or(i64::MAX);
    }
    broken
}

/// `2026-000042` → (2026, 42).
fn parse(number: &str) -> Option<(i32, i64)> {
    let (year, seq) = number.split_once('-')?;
    Some((year.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::invariants::Numbers;
    use uuid::Uuid;

    fn numbers(invoices: &[&str], last: i64) -> Numbers {
        Numbers {
            invoices: invoices
                .iter()
                .map(|n| (Uuid::nil(), (*n).to_owned()))
                .collect(),
            credit_notes: vec![],
            sequences: vec![(2026, last)],
        }
    }

    #[test]
    fn a_gapless_year_passes_and_a_missing_number_or_a_lost_last_one_counts() {
        assert_eq!(gaps(&numbers(&["2026-000001", "2026-000002"], 2)), 0);
        assert_eq!(gaps(&numbers(&["2026-000001", "2026-000003"], 3)), 1);
        assert_eq!(gaps(&numbers(&["2026-000001"], 2)), 1);
        assert_eq!(gaps(&numbers(&["2026-000001", "2026-000001"], 1)), 1);
    }

    #[test]
    fn a_gap_is_logged_with_the_year_and_the_missing_numbers() {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            gaps(&numbers(&["2026-000001", "2026-000004"], 4))
        });
        let text = String::from_utf8(buf.lock().expect("log").clone()).expect("utf-8");
        assert!(text.contains("invoice_numbers_gapless"), "{text}");
        assert!(text.contains("year=2026"), "{text}");
        assert!(text.contains("missing=[2, 3]"), "{text}");
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);
    const M: i64 = 1_000_000;

    /// Plan A: 1000 included, blocks of 500 at 900. Plan B: 8M included, blocks of 8M at 900;
    /// plan C (`Uuid::from_u128(3)`): none included, blocks of 8M at 900.
    fn terms() -> HashMap<(Uuid, Uuid), BlockTerms> {
        let t = |included, size| BlockTerms {
            included,
            size,
            price: 900,
        };
        HashMap::from([
            ((A, Uuid::nil()), t(1000, 500)),
            ((B, Uuid::nil()), t(8 * M, 8 * M)),
            ((Uuid::from_u128(3), Uuid::nil()), t(0, 8 * M)),
        ])
    }

    /// A period of cycle 1 whose usage was last recorded under `usage_plan`, with blocks
    /// (index, amount, plan) labelled by their plan's terms.
    fn period(charged: Vec<(i64, i64, Uuid)>, usage: i64, usage_plan: Uuid) -> PeriodBlocks {
        let terms = terms();
        PeriodBlocks {
            subscription: Uuid::nil(),
            metric: Uuid::nil(),
            cycle: 1,
            usage,
            usage_plan: Some(usage_plan),
            charged: charged
                .into_iter()
                .map(|(index, amount, plan)| {
                    let t = terms[&(plan, Uuid::nil())];
                    store::invariants::Charged {
                        index,
                        tier: pricing::tier_label(index, t.included, t.size),
                        amount,
                        plan: Some(plan),
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn blocks_follow_the_formula_unless_one_is_missing_or_mispriced() {
        let wrong = |p: PeriodBlocks| blocks_wrong(&p, &terms());
        assert_eq!(wrong(period(vec![(1, 900, A), (2, 900, A)], 1600, A)), None);
        assert!(wrong(period(vec![(1, 900, A)], 1600, A)).is_some());
        assert!(wrong(period(vec![(1, 901, A)], 1200, A)).is_some());
        assert!(wrong(period(vec![(2, 900, A)], 1200, A)).is_some());
        assert!(wrong(period(vec![(1, 900, A), (2, 900, A)], 1200, A)).is_some());
        let mut relabelled = period(vec![(1, 900, A)], 1200, A);
        relabelled.charged[0].tier = "0-1K".into();
        assert!(wrong(relabelled).is_some());
        let mut trial = period(vec![(1, 900, A)], 1200, A);
        trial.cycle = 0;
        assert!(wrong(trial).is_some());
    }

    #[test]
    fn across_a_plan_change_each_block_follows_its_own_plan() {
        let c = Uuid::from_u128(3);
        let wrong = |p: PeriodBlocks| blocks_wrong(&p, &terms());
        // No included units, 10M (blocks 1, 2); to 8M included, 25M in all (block 3).
        let up = vec![(1, 900, c), (2, 900, c), (3, 900, B)];
        assert_eq!(wrong(period(up.clone(), 25 * M, B)), None);
        assert!(wrong(period(up[..2].to_vec(), 25 * M, B)).is_some());
        // 8M included, 10M (block 1); to none included, 16M (block 2).
        assert_eq!(
            wrong(period(vec![(1, 900, B), (2, 900, c)], 16 * M, c)),
            None
        );
        // The same change with no usage since: block 1 is all that was due.
        assert_eq!(wrong(period(vec![(1, 900, B)], 10 * M, B)), None);
        // A block its plan's formula does not reach.
        assert!(wrong(period(vec![(1, 900, B), (2, 900, B)], 10 * M, c)).is_some());
    }
}
