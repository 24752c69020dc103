//! Usage metering: reports are stored, aggregated per period, checked against plan limits and
//! charged by the block in one transaction per batch, holding the tenant's lock. Charges billed
//! at the period end are read from the same aggregates when the period closes.
use crate::domain::{ChargeModel, ChargeTiming, Plan, PlanCharge, PlanLimit, Rejection};

mod batch;
mod record;
mod summary;
mod write;

pub use record::{EventOutcome, EventResult, RawEvent, RecordOutcome, record_usage};
pub use summary::{CostEstimate, OperationUsage, UsageSummary, estimate_cost, usage_summary};

/// The most blocks one call may charge, so that a huge quantity on a tiny block size cannot
/// write millions of rows.
const MAX_BLOCKS_PER_CALL: i64 = 10_000;

/// A plan's block charge billed as usage crosses into each block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImmediateBlocks {
    pub included: i64,
    pub size: i64,
    pub price: i64,
}

pub(crate) fn immediate_blocks(charge: &PlanCharge) -> Option<ImmediateBlocks> {
    match (&charge.model, charge.timing) {
        (
            ChargeModel::Block {
                included_units,
                block_size,
                block_price_minor,
            },
            ChargeTiming::Immediately,
        ) => Some(ImmediateBlocks {
            included: *included_units,
            size: *block_size,
            price: *block_price_minor,
        }),
        _ => None,
    }
}

pub(crate) fn charge_for<'a>(plan: &'a Plan, metric_code: &str) -> Option<&'a PlanCharge> {
    plan.charges.iter().find(|c| c.metric_code == metric_code)
}

pub(crate) fn limit_for<'a>(plan: &'a Plan, metric_code: &str) -> Option<&'a PlanLimit> {
    plan.limits.iter().find(|l| l.metric_code == metric_code)
}

/// Whether `old → new` crosses `limit * percent / 100` (reaching it counts).
pub(crate) fn crosses(old: i64, new: i64, limit: i64, percent: i64) -> bool {
    let threshold = |q: i64| i128::from(q) * 100 >= i128::from(limit) * i128::from(percent);
    limit > 0 && !threshold(old) && threshold(new)
}

/// Why an event was refused, as the batch answer says it.
pub(crate) fn reject(code: crate::domain::RejectCode, message: impl Into<String>) -> Rejection {
    Rejection::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::crosses;

    #[test]
    fn thresholds_are_crossed_once_and_reaching_counts() {
        assert!(crosses(0, 800, 1_000, 80));
        assert!(!crosses(800, 900, 1_000, 80));
        assert!(crosses(799, 800, 1_000, 80));
        assert!(crosses(999, 1_000, 1_000, 100));
        assert!(!crosses(0, 999, 1_000, 100));
        assert!(crosses(0, 5_000, 1_000, 100));
        assert!(!crosses(0, 5, 0, 80));
    }
}
