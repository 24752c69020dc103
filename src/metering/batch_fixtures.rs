//! A tenant as `decide` sees it, on the demo catalog (src/demo.rs), and readers of its answer.
use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

use crate::domain::{
    Aggregation, BillableMetric, ChargeModel, ChargeTiming, Currency, Enforcement, Interval,
    MetricId, Money, Plan, PlanCharge, PlanId, PlanLimit, RejectCode, Rejection, Subscription,
    SubscriptionId, SubscriptionStatus, TenantId, UsageEventId, UsageReport,
};
use crate::metering::batch::{BatchInput, BatchPlan, Decision, decide};

pub(super) const M: i64 = 1_000_000;
/// tokens-400: R$ 400 a month with 8M tokens included, R$ 100 per started 8M block above.
pub(super) const FEE: i64 = 40_000;
pub(super) const BLOCK_PRICE: i64 = 10_000;

pub(super) type Report = (Option<String>, Result<UsageReport, Rejection>);

pub(super) fn period_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

pub(super) fn metric(id: u128, code: &str, aggregation: Aggregation) -> BillableMetric {
    BillableMetric {
        id: MetricId(Uuid::from_u128(id)),
        code: code.into(),
        name: code.into(),
        unit: "unit".into(),
        aggregation,
        created_at: period_start(),
    }
}

pub(super) fn block_charge(code: &str, included: i64, size: i64) -> PlanCharge {
    PlanCharge {
        metric_code: code.into(),
        timing: ChargeTiming::Immediately,
        model: ChargeModel::Block {
            included_units: included,
            block_size: size,
            block_price_minor: BLOCK_PRICE,
        },
    }
}

pub(super) fn limit(code: &str, value: i64, enforcement: Enforcement) -> PlanLimit {
    PlanLimit {
        metric_code: code.into(),
        value,
        enforcement,
    }
}

/// What `decide` reads for one tenant: its subscription, plan, metrics, stored keys, totals.
pub(super) struct Tenant {
    pub(super) now: DateTime<Utc>,
    pub(super) subscription: Option<Subscription>,
    pub(super) plan: Plan,
    pub(super) metrics: HashMap<String, BillableMetric>,
    pub(super) existing: HashMap<String, UsageEventId>,
    pub(super) totals: HashMap<Uuid, i64>,
    /// Highest block charged per metric; empty: what the totals imply.
    pub(super) charged: HashMap<Uuid, i64>,
}

impl Tenant {
    /// In the first paid cycle, ten days into the period, on a plan with `limits` and
    /// `charges`, metering the demo metrics.
    pub(super) fn on(limits: Vec<PlanLimit>, charges: Vec<PlanCharge>) -> Self {
        let start = period_start();
        let subscription = Subscription {
            id: SubscriptionId::new(),
            tenant_id: TenantId::new(),
            plan_id: PlanId::new(),
            interval: Interval::Month,
            status: SubscriptionStatus::Active,
            cycle: 1,
            anchor: Some(start),
            current_period_start: start,
            current_period_end: start + TimeDelta::days(31),
            trial_start: None,
            trial_end: None,
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            scheduled_plan_id: None,
            discount: None,
            version: 1,
            created_at: start,
        };
        let plan = Plan {
            id: subscription.plan_id,
            code: "test".into(),
            version: 1,
            is_current: true,
            name: "test".into(),
            description: String::new(),
            monthly_price: Money::new(FEE, Currency::BRL),
            yearly_price: None,
            trial_days: 0,
            features: vec![],
            limits,
            charges,
            created_at: start,
        };
        let metrics = [
            metric(1, "tokens", Aggregation::Sum),
            metric(2, "api_calls", Aggregation::Sum),
            metric(3, "storage_gb", Aggregation::Max),
        ]
        .into_iter()
        .map(|m| (m.code.clone(), m))
        .collect();
        Tenant {
            now: start + TimeDelta::days(10),
            subscription: Some(subscription),
            plan,
            metrics,
            existing: HashMap::new(),
            totals: HashMap::new(),
            charged: HashMap::new(),
        }
    }

    /// The demo's `tokens-400`.
    pub(super) fn tokens_400() -> Self {
        Self::on(vec![], vec![block_charge("tokens", 8 * M, 8 * M)])
    }

    /// The demo's `starter`: 10,000 API calls and 10 GB, both hard limits.
    pub(super) fn starter() -> Self {
        Self::on(
            vec![
                limit("api_calls", 10_000, Enforcement::Hard),
                limit("storage_gb", 10, Enforcement::Hard),
            ],
            vec![],
        )
    }

    pub(super) fn used(mut self, code: &str, total: i64) -> Self {
        self.totals.insert(self.metrics[code].id.0, total);
        self
    }

    /// Blocks up to `highest` of `code` are charged in this period.
    pub(super) fn charged(mut self, code: &str, highest: i64) -> Self {
        self.charged.insert(self.metrics[code].id.0, highest);
        self
    }

    pub(super) fn decide(&self, reports: Vec<Report>) -> BatchPlan {
        decide(
            BatchInput {
                now: self.now,
                subscription: self.subscription.as_ref(),
                plan: self.subscription.as_ref().map(|_| &self.plan),
                metrics: &self.metrics,
                existing: &self.existing,
                totals: self.totals.clone(),
                charged: self.charged.clone(),
            },
            reports,
        )
    }
}

pub(super) fn event(key: &str, code: &str, quantity: i64) -> Report {
    let report = UsageReport {
        metric_code: code.into(),
        quantity,
        idempotency_key: key.into(),
        occurred_at: None,
        operation_type: "default".into(),
        metadata: None,
    };
    (Some(key.into()), Ok(report))
}

pub(super) fn dated(mut report: Report, at: DateTime<Utc>) -> Report {
    if let Ok(r) = &mut report.1 {
        r.occurred_at = Some(at);
    }
    report
}

#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    Accepted,
    Duplicate(UsageEventId),
    Rejected(RejectCode),
}
pub(super) use Outcome::{Accepted, Duplicate, Rejected};

pub(super) fn outcomes(plan: &BatchPlan) -> Vec<Outcome> {
    plan.decisions
        .iter()
        .map(|d| match d {
            Decision::Accepted(_) => Accepted,
            Decision::Duplicate(id) => Duplicate(*id),
            Decision::Rejected(r) => Rejected(r.code),
        })
        .collect()
}

pub(super) fn accepted_id(plan: &BatchPlan, index: usize) -> Option<UsageEventId> {
    match plan.decisions.get(index) {
        Some(Decision::Accepted(id)) => Some(*id),
        _ => None,
    }
}

pub(super) fn blocks(plan: &BatchPlan) -> Vec<i64> {
    plan.blocks.iter().map(|b| b.index).collect()
}

pub(super) fn crossings(plan: &BatchPlan) -> Vec<(&str, i64)> {
    plan.crossings
        .iter()
        .map(|(c, p)| (c.as_str(), *p))
        .collect()
}

pub(super) fn delta(t: &Tenant, plan: &BatchPlan, code: &str) -> Option<(i64, i64)> {
    plan.deltas.get(&t.metrics[code].id.0).copied()
}
