//! What a period's usage came to (the seed's summary), and what a usage would cost.
use crate::auth::Actor;
use crate::domain::keys::invoice_source;
use crate::domain::{
    ChargeModel, Code, Enforcement, LineKind, Money, Subscription, SubscriptionId, TenantId,
    cycle_bounds,
};
use crate::error::{Error, OptionExt, Result};
use crate::pricing;
use crate::state::AppState;
use crate::store::{self, TenantScope};
use crate::subscriptions;

use chrono::{DateTime, Utc};

#[derive(Clone, Debug)]
pub struct OperationUsage {
    pub operation_type: String,
    pub quantity: i64,
    pub events: i64,
}

#[derive(Clone, Debug)]
pub struct UsageSummary {
    pub subscription_id: SubscriptionId,
    pub metric_code: String,
    pub cycle: i32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub total_quantity: i64,
    pub events: i64,
    pub included_units: Option<i64>,
    pub current_tier: String,
    pub fixed_fee_charged: Money,
    pub block_charges_count: i64,
    pub block_charges_total: Money,
    pub total_charged: Money,
    pub by_operation: Vec<OperationUsage>,
    pub limit: Option<i64>,
    pub enforcement: Option<Enforcement>,
    pub over_limit: bool,
}

fn period_of(sub: &Subscription, cycle: i32) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    if cycle == sub.cycle {
        return Ok((sub.current_period_start, sub.current_period_end));
    }
    if cycle == 0 {
        return match (sub.trial_start, sub.trial_end) {
            (Some(s), Some(e)) => Ok((s, e)),
            _ => Err(Error::NotFound("period")),
        };
    }
    let anchor = sub.anchor.ok_or(Error::NotFound("period"))?;
    let n = u32::try_from(cycle).map_err(|_| Error::NotFound("period"))?;
    cycle_bounds(anchor, sub.interval, n).ok_or(Error::NotFound("period"))
}

/// The usage of one metric in one period of the tenant's subscription: by default the live
/// (or latest) subscription and its current period. Included units, tiers and limits are read
/// from the subscription's plan.
pub async fn usage_summary(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    metric_code: Code,
    cycle: Option<i32>,
    subscription: Option<SubscriptionId>,
) -> Result<UsageSummary> {
    let tenant = actor.tenant_for(tenant)?;
    let db = &state.db;
    let sub = match subscription {
        Some(id) => store::subscriptions::find(db, TenantScope::Only(tenant), id).await?,
        None => store::subscriptions::current(db, tenant).await?,
    }
    .or_not_found("subscription")?;
    let metric = store::catalog::metrics::find_by_code(db, metric_code.as_str())
        .await?
        .or_not_found("metric")?;
    let cycle = cycle.unwrap_or(sub.cycle);
    if cycle < 0 || cycle > sub.cycle || (cycle == 0 && sub.trial_start.is_none()) {
        return Err(Error::NotFound("period"));
    }
    let (period_start, period_end) = period_of(&sub, cycle)?;
    let plan = subscriptions::plan_of_subscription(db, &sub).await?;
    let currency = plan.monthly_price.currency;
    let (total_quantity, events) = store::metering::totals(db, sub.id, cycle, &[metric.id.0])
        .await?
        .remove(&metric.id.0)
        .unwrap_or((0, 0));
    let (blocks_count, blocks_total) =
        store::metering::charged_in_period(db, sub.id, metric.id.0, cycle).await?;
    let fee =
        match store::invoicing::find_by_source(db, &invoice_source::cycle(sub.id, cycle)).await? {
            Some(invoice) => invoice
                .lines
                .iter()
                .filter(|l| l.kind == LineKind::Fee)
                .map(|l| l.amount.amount_minor)
                .sum(),
            None => 0,
        };
    let charge = super::charge_for(&plan, &metric.code);
    let (included_units, current_tier) = match charge.map(|c| &c.model) {
        Some(ChargeModel::Block {
            included_units,
            block_size,
            ..
        }) => (
            Some(*included_units),
            pricing::tier_label(
                pricing::blocks_due(total_quantity, *included_units, *block_size),
                *included_units,
                *block_size,
            ),
        ),
        Some(ChargeModel::Unit { included_units, .. }) => (Some(*included_units), String::new()),
        _ => (None, String::new()),
    };
    let limit = super::limit_for(&plan, &metric.code);
    let by_operation = store::metering::by_operation(db, sub.id, metric.id.0, cycle)
        .await?
        .into_iter()
        .map(|(operation_type, quantity, events)| OperationUsage {
            operation_type,
            quantity,
            events,
        })
        .collect();
    Ok(UsageSummary {
        subscription_id: sub.id,
        metric_code: metric.code,
        cycle,
        period_start,
        period_end,
        total_quantity,
        events,
        included_units,
        current_tier,
        fixed_fee_charged: Money::new(fee, currency),
        block_charges_count: blocks_count,
        block_charges_total: Money::new(blocks_total, currency),
        total_charged: Money::new(
            fee.checked_add(blocks_total)
                .ok_or_else(|| Error::internal("total overflow"))?,
            currency,
        ),
        by_operation,
        limit: limit.map(|l| l.value),
        enforcement: limit.map(|l| l.enforcement),
        over_limit: limit.is_some_and(|l| total_quantity > l.value),
    })
}

#[derive(Clone, Debug)]
pub struct CostEstimate {
    pub plan_code: String,
    pub metric_code: String,
    pub quantity: i64,
    pub fixed_fee: Money,
    pub usage_charge: Money,
    pub blocks: i64,
    pub tier: String,
    pub total: Money,
}

/// What `quantity` units of a metric would cost in one month of a plan: the monthly fee plus
/// the metric's usage charge, whenever it is billed (seed 000's `calculateTokenCost`).
pub async fn estimate_cost(
    state: &AppState,
    _actor: &Actor,
    plan_code: Code,
    metric_code: Code,
    quantity: i64,
) -> Result<CostEstimate> {
    if quantity < 0 {
        return Err(Error::validation("quantity", "must not be negative"));
    }
    let plan = store::catalog::find_plan(&state.db, plan_code.as_str(), None)
        .await?
        .or_not_found("plan")?;
    let metric = store::catalog::metrics::find_by_code(&state.db, metric_code.as_str())
        .await?
        .or_not_found("metric")?;
    let fee = plan.monthly_price;
    let (usage, blocks, tier) = match super::charge_for(&plan, &metric.code).map(|c| &c.model) {
        Some(
            model @ ChargeModel::Block {
                included_units,
                block_size,
                ..
            },
        ) => {
            let (amount, blocks) = pricing::usage_charge(model, quantity)
                .ok_or_else(|| Error::validation("quantity", "too large to price"))?;
            (
                amount,
                blocks,
                pricing::tier_label(blocks, *included_units, *block_size),
            )
        }
        Some(model @ ChargeModel::Unit { .. }) => {
            let (amount, _) = pricing::usage_charge(model, quantity)
                .ok_or_else(|| Error::validation("quantity", "too large to price"))?;
            (amount, 0, String::new())
        }
        _ => (0, 0, String::new()),
    };
    let total = fee
        .amount_minor
        .checked_add(usage)
        .ok_or_else(|| Error::validation("quantity", "too large to price"))?;
    Ok(CostEstimate {
        plan_code: plan.code,
        metric_code: metric.code,
        quantity,
        fixed_fee: fee,
        usage_charge: Money::new(usage, fee.currency),
        blocks,
        tier,
        total: Money::new(total, fee.currency),
    })
}
