//! Charges billed at the period end, read from the closing period's aggregates.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::domain::{ChargeModel, ChargeTiming, LineKind, NewLine, Plan, Subscription};
use crate::error::{Error, Result};
use crate::pricing;
use crate::store;

/// The usage lines of the period `sub` is closing, up to `end`: one per period-end charge of
/// `plan` with something to bill. Block charges: blocks × price. Unit charges: one line with
/// the amount rounded once. Nothing for a trial.
pub async fn arrears_lines(
    db: &impl ConnectionTrait,
    sub: &Subscription,
    plan: &Plan,
    end: DateTime<Utc>,
) -> Result<Vec<NewLine>> {
    if sub.cycle < 1 {
        return Ok(Vec::new());
    }
    let charges: Vec<_> = plan
        .charges
        .iter()
        .filter(|c| c.timing == ChargeTiming::PeriodEnd)
        .collect();
    if charges.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Vec<String> = charges.iter().map(|c| c.metric_code.clone()).collect();
    let metrics = store::catalog::metrics::by_codes(db, &codes).await?;
    let ids: Vec<_> = metrics.values().map(|m| m.id.0).collect();
    let totals = store::metering::totals(db, sub.id, sub.cycle, &ids).await?;
    let mut lines = Vec::new();
    for charge in charges {
        let Some(metric) = metrics.get(&charge.metric_code) else {
            continue;
        };
        let usage = totals.get(&metric.id.0).map_or(0, |t| t.0);
        let Some((amount, blocks)) = pricing::usage_charge(&charge.model, usage) else {
            continue;
        };
        if amount <= 0 {
            continue;
        }
        let line = match &charge.model {
            ChargeModel::Block {
                included_units,
                block_price_minor,
                ..
            } => NewLine {
                description: format!(
                    "{}: {} blocks above {} included ({} used)",
                    metric.name,
                    blocks,
                    pricing::short_units(*included_units),
                    usage
                ),
                quantity: blocks,
                unit_amount_minor: *block_price_minor,
                amount_minor: amount,
                period_start: sub.current_period_start,
                period_end: end,
                kind: LineKind::Usage,
            },
            ChargeModel::Unit {
                included_units,
                unit_price_minor,
            } => NewLine {
                description: format!(
                    "{}: {} {} above {} included at {} per unit (minor units), rounded once",
                    metric.name,
                    usage.saturating_sub(*included_units).max(0),
                    metric.unit,
                    included_units,
                    unit_price_minor
                ),
                quantity: 1,
                unit_amount_minor: amount,
                amount_minor: amount,
                period_start: sub.current_period_start,
                period_end: end,
                kind: LineKind::Usage,
            },
            ChargeModel::Credits { .. } => {
                return Err(Error::internal("credit charges are not money"));
            }
        };
        lines.push(line);
    }
    Ok(lines)
}
