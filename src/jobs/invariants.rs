//! Billing invariants, checked by a periodic job (`BILLING_INVARIANTS_INTERVAL_SECONDS`) and
//! at the end of every billing-jobs run, and exported as `billing_invariant_violations{check}`:
//! how many rows break each check at the last run. Every violation is logged at `error` with
//! the ids involved. The checks only read; they never repair.
use std::collections::BTreeMap;

use crate::error::Result;
use crate::pricing;
use crate::state::AppState;
use crate::store;
use crate::store::invariants::PeriodBlocks;

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
        tracing::error!(check = WALLET_LEDGER, %tenant, balance, ledger, "invariant violated: wallet balance is not the sum of its ledger");
        report.wallet_ledger += 1;
    }
    for (invoice, subtotal, discount, total, lines) in
        store::invariants::invoices_off_lines(db).await?
    {
        tracing::error!(check = INVOICE_TOTALS, %invoice, subtotal, discount, total, lines, "invariant violated: invoice total is not its lines minus the discount");
        report.invoice_totals += 1;
    }
    for period in store::invariants::current_period_blocks(db).await? {
        if let Some(why) = blocks_wrong(&period) {
            tracing::error!(check = BLOCK_CHARGES, subscription = %period.subscription, metric = %period.metric, cycle = period.cycle, why, "invariant violated: block charges do not match the formula");
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

/// Why a period's block charges break the formula, if they do. The blocks are numbered 1..n
/// with none missing or twice; under the plan the period was charged on (every tier label
/// matches it), n is `pricing::blocks_due` of the period's usage and each block costs the
/// plan's block price. After a plan change within the period (tier labels of another plan),
/// blocks continue from the highest one charged, so only "none fewer than the formula" holds.
fn blocks_wrong(p: &PeriodBlocks) -> Option<String> {
    let n = i64::try_from(p.charged.len()).unwrap_or(i64::MAX);
    let numbered = p
        .charged
        .iter()
        .enumerate()
        .all(|(i, (index, _, _))| i64::try_from(i + 1).is_ok_and(|want| *index == want));
    if !numbered {
        let indexes: Vec<i64> = p.charged.iter().map(|c| c.0).collect();
        return Some(format!("block indexes {indexes:?} are not 1..{n}"));
    }
    let due = pricing::blocks_due(p.usage, p.included, p.block_size);
    let same_plan = p
        .charged
        .iter()
        .all(|(index, tier, _)| *tier == pricing::tier_label(*index, p.included, p.block_size));
    if n < due || (same_plan && n != due) {
        return Some(format!(
            "{n} blocks charged, the formula gives {due} for usage {}",
            p.usage
        ));
    }
    if let Some((index, _, amount)) = p
        .charged
        .iter()
        .find(|(_, _, amount)| same_plan && *amount != p.block_price)
    {
        return Some(format!(
            "block {index} charged {amount}, the plan's price is {}",
            p.block_price
        ));
    }
    None
}

/// Numbers missing from each year's sequence, of invoices and of credit notes: every number
/// from 1 to the sequence's last one is given out exactly once. Each gap or duplicate counts
/// once and is logged with the year and the numbers.
fn gaps(n: &store::invariants::Numbers) -> i64 {
    let mut given: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut unreadable = 0;
    let invoices = n.invoices.iter().map(|(id, s)| (id, s.as_str(), 1));
    let notes = n
        .credit_notes
        .iter()
        .map(|(id, s)| (id, s.strip_prefix("CN-").unwrap_or(s), -1));
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

    fn period(charged: Vec<(i64, i64)>, usage: i64) -> PeriodBlocks {
        PeriodBlocks {
            subscription: Uuid::nil(),
            metric: Uuid::nil(),
            cycle: 1,
            usage,
            included: 1000,
            block_size: 500,
            block_price: 900,
            charged: charged
                .into_iter()
                .map(|(i, a)| (i, pricing::tier_label(i, 1000, 500), a))
                .collect(),
        }
    }

    #[test]
    fn blocks_follow_the_formula_unless_one_is_missing_or_mispriced() {
        assert_eq!(blocks_wrong(&period(vec![(1, 900), (2, 900)], 1600)), None);
        assert!(blocks_wrong(&period(vec![(1, 900)], 1600)).is_some());
        assert!(blocks_wrong(&period(vec![(1, 901)], 1200)).is_some());
        assert!(blocks_wrong(&period(vec![(2, 900)], 1200)).is_some());
        assert!(blocks_wrong(&period(vec![(1, 900), (2, 900)], 1200)).is_some());
    }
}
