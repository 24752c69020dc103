//! Revenue figures for the operator: MRR per currency and subscription counts.
use std::collections::{BTreeMap, HashMap};

use crate::auth::Actor;
use crate::domain::{Currency, Interval, Money, PlanId, SubscriptionStatus};
use crate::error::{Error, Result};
use crate::pricing;
use crate::state::AppState;
use crate::store;

#[derive(Clone, Debug)]
pub struct StatusCount {
    pub status: SubscriptionStatus,
    pub plan_code: String,
    pub count: i64,
}

#[derive(Clone, Debug)]
pub struct RevenueSummary {
    pub mrr: Vec<Money>,
    pub subscriptions: Vec<StatusCount>,
}

/// MRR counts active and past-due subscriptions at their plan version's list fee; yearly
/// fees count one twelfth, rounded once per currency. Trials count nothing until they pay.
pub async fn revenue_summary(state: &AppState, actor: &Actor) -> Result<RevenueSummary> {
    actor.require_admin()?;
    compute(state).await
}

/// Refreshes the revenue gauges of `/metrics`.
pub async fn refresh_metrics(state: &AppState) -> Result<()> {
    let summary = compute(state).await?;
    state.metrics.subscriptions.reset();
    for c in &summary.subscriptions {
        state
            .metrics
            .subscriptions
            .with_label_values(&[c.status.as_str(), c.plan_code.as_str()])
            .set(c.count);
    }
    state.metrics.monthly_revenue.reset();
    for m in &summary.mrr {
        state
            .metrics
            .monthly_revenue
            .with_label_values(&[m.currency.code()])
            .set(crate::metrics::major(m.amount_minor, m.currency.exponent()));
    }
    Ok(())
}

async fn compute(state: &AppState) -> Result<RevenueSummary> {
    let live = store::subscriptions::live_summary(&state.db).await?;
    let counts = store::subscriptions::counts(&state.db).await?;
    let mut ids: Vec<PlanId> = live.iter().map(|(p, _, _)| PlanId(*p)).collect();
    ids.extend(counts.iter().map(|(p, _, _)| PlanId(*p)));
    ids.sort();
    ids.dedup();
    let plans = store::catalog::plans_by_ids(&state.db, &ids).await?;
    let corrupt = || Error::internal("subscription row with an unknown plan, interval or status");

    let mut fees: BTreeMap<&'static str, (Currency, Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for (plan_id, interval, status) in &live {
        let status = SubscriptionStatus::from_db(status).ok_or_else(corrupt)?;
        if !matches!(
            status,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        ) {
            continue;
        }
        let plan = plans.get(&PlanId(*plan_id)).ok_or_else(corrupt)?;
        let interval = Interval::from_db(interval).ok_or_else(corrupt)?;
        let Some(fee) = super::fee_for(plan, interval) else {
            continue;
        };
        let entry = fees
            .entry(fee.currency.code())
            .or_insert_with(|| (fee.currency, Vec::new(), Vec::new()));
        match interval {
            Interval::Month => entry.1.push(fee.amount_minor),
            Interval::Year => entry.2.push(fee.amount_minor),
        }
    }
    let mrr = fees
        .into_values()
        .map(|(currency, monthly, yearly)| {
            pricing::mrr(&monthly, &yearly)
                .map(|m| Money::new(m, currency))
                .ok_or_else(|| Error::internal("MRR overflow"))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut by_key: HashMap<(&'static str, String), i64> = HashMap::new();
    for (plan_id, status, n) in counts {
        let status = SubscriptionStatus::from_db(&status).ok_or_else(corrupt)?;
        let plan = plans.get(&PlanId(plan_id)).ok_or_else(corrupt)?;
        *by_key
            .entry((status.as_str(), plan.code.clone()))
            .or_default() += n;
    }
    let mut subscriptions: Vec<StatusCount> = by_key
        .into_iter()
        .filter_map(|((status, plan_code), count)| {
            SubscriptionStatus::from_db(status).map(|status| StatusCount {
                status,
                plan_code,
                count,
            })
        })
        .collect();
    subscriptions
        .sort_by(|a, b| (a.status.as_str(), &a.plan_code).cmp(&(b.status.as_str(), &b.plan_code)));
    Ok(RevenueSummary { mrr, subscriptions })
}
