//! Deciding a batch: which events are accepted, duplicates or rejected, what the aggregates
//! become, which blocks are crossed and which limit thresholds. Pure: it works on what the
//! transaction read under the tenant's lock, and the caller writes the result.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{MAX_BLOCKS_PER_CALL, crosses, immediate_blocks, limit_for, reject};
use crate::domain::{
    Aggregation, BillableMetric, Enforcement, Plan, RejectCode, Rejection, Subscription,
    UsageEventId, UsageReport,
};
use crate::pricing;

/// How far in the future an event may be dated, for clocks that disagree a little.
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

pub(crate) struct BatchInput<'a> {
    pub now: DateTime<Utc>,
    pub subscription: Option<&'a Subscription>,
    pub plan: Option<&'a Plan>,
    pub metrics: &'a HashMap<String, BillableMetric>,
    /// Keys stored by earlier calls.
    pub existing: &'a HashMap<String, UsageEventId>,
    /// Current aggregate of each metric in the subscription's period.
    pub totals: HashMap<Uuid, i64>,
    /// The highest block index already charged per metric in the period. A metric missing
    /// here has exactly the blocks its total implies under the current plan. After a plan
    /// change mid-period the two differ, and blocks are charged from the highest one charged,
    /// so no block is charged twice or skipped.
    pub charged: HashMap<Uuid, i64>,
}

pub(crate) enum Decision {
    Accepted(UsageEventId),
    Duplicate(UsageEventId),
    Rejected(Rejection),
}

pub(crate) struct Accepted {
    pub id: UsageEventId,
    pub metric: Uuid,
    pub report: UsageReport,
    pub occurred_at: DateTime<Utc>,
}

pub(crate) struct CrossedBlock {
    pub metric: Uuid,
    pub index: i64,
    pub event: UsageEventId,
}

#[derive(Default)]
pub(crate) struct BatchPlan {
    pub decisions: Vec<Decision>,
    pub accepted: Vec<Accepted>,
    /// Per metric: (value folded into the aggregate, accepted events).
    pub deltas: HashMap<Uuid, (i64, i64)>,
    pub blocks: Vec<CrossedBlock>,
    /// (metric code, percent) of each limit threshold crossed.
    pub crossings: Vec<(String, i64)>,
}

fn aggregate(aggregation: Aggregation, current: i64, quantity: i64) -> Option<i64> {
    match aggregation {
        Aggregation::Sum => current.checked_add(quantity),
        Aggregation::Max => Some(current.max(quantity)),
        Aggregation::Count => current.checked_add(1),
    }
}

/// `reports` pairs each event's well-formed key (if any) with the event, or why it is refused.
pub(crate) fn decide(
    input: BatchInput<'_>,
    reports: Vec<(Option<String>, Result<UsageReport, Rejection>)>,
) -> BatchPlan {
    let BatchInput {
        now,
        subscription,
        plan,
        metrics,
        existing,
        totals,
        charged,
    } = input;
    let mut out = BatchPlan::default();
    let mut seen: HashMap<String, UsageEventId> = HashMap::new();
    let mut crossed: HashSet<(String, i64)> = HashSet::new();
    let mut running = Running {
        now,
        latest: now + TimeDelta::minutes(FUTURE_TOLERANCE_MINUTES),
        subscription,
        plan,
        metrics,
        totals,
        charged,
        blocks_in_call: 0,
    };

    for (key, report) in reports {
        let first = key
            .as_ref()
            .and_then(|k| existing.get(k).or_else(|| seen.get(k)));
        let decision = match (first, report) {
            (Some(first), _) => Decision::Duplicate(*first),
            (None, Err(rejection)) => Decision::Rejected(rejection),
            (None, Ok(report)) => match running.accept(&report) {
                Err(rejection) => Decision::Rejected(rejection),
                Ok(step) => {
                    let id = UsageEventId::new();
                    seen.insert(report.idempotency_key.clone(), id);
                    let delta = out.deltas.entry(step.metric).or_insert((0, 0));
                    delta.0 = match step.aggregation {
                        Aggregation::Sum => delta.0.saturating_add(report.quantity),
                        Aggregation::Max => delta.0.max(report.quantity),
                        Aggregation::Count => delta.0.saturating_add(1),
                    };
                    delta.1 += 1;
                    out.blocks
                        .extend(step.blocks.into_iter().map(|index| CrossedBlock {
                            metric: step.metric,
                            index,
                            event: id,
                        }));
                    for percent in step.crossed {
                        if crossed.insert((report.metric_code.clone(), percent)) {
                            out.crossings.push((report.metric_code.clone(), percent));
                        }
                    }
                    out.accepted.push(Accepted {
                        id,
                        metric: step.metric,
                        occurred_at: report.occurred_at.unwrap_or(now),
                        report,
                    });
                    Decision::Accepted(id)
                }
            },
        };
        out.decisions.push(decision);
    }
    out
}

struct Step {
    metric: Uuid,
    aggregation: Aggregation,
    blocks: Vec<i64>,
    crossed: Vec<i64>,
}

/// What a batch is decided against, with the totals as the reports accepted so far left them.
struct Running<'a> {
    now: DateTime<Utc>,
    /// The latest `occurredAt` accepted.
    latest: DateTime<Utc>,
    subscription: Option<&'a Subscription>,
    plan: Option<&'a Plan>,
    metrics: &'a HashMap<String, BillableMetric>,
    totals: HashMap<Uuid, i64>,
    charged: HashMap<Uuid, i64>,
    blocks_in_call: i64,
}

impl Running<'_> {
    /// Checks one report against the period and the plan and, if it fits, moves the running
    /// total. A refused report leaves every total as it was.
    fn accept(&mut self, report: &UsageReport) -> Result<Step, Rejection> {
        let (now, latest) = (self.now, self.latest);
        let metric = self.metrics.get(&report.metric_code).ok_or_else(|| {
            reject(
                RejectCode::UnknownMetric,
                format!("no billable metric '{}'", report.metric_code),
            )
        })?;
        let (Some(sub), Some(plan)) = (self.subscription, self.plan) else {
            return Err(reject(
                RejectCode::NoSubscription,
                "the tenant has no live subscription",
            ));
        };
        let at = report.occurred_at.unwrap_or(now);
        if at > latest {
            return Err(reject(
                RejectCode::OccurredInFuture,
                "occurredAt is more than 5 minutes ahead of the billing clock",
            ));
        }
        if at < sub.current_period_start {
            let start = sub.current_period_start;
            let message = if now < start {
                // The billing clock itself is behind the subscription: the event is not late.
                format!(
                    "the billing clock ({now}) is behind the subscription's current period, which starts at {start}; \
                     usage cannot be recorded until the clock reaches it"
                )
            } else {
                format!(
                    "occurredAt ({at}) is before the current billing period, which started at {start} and whose earlier periods are already invoiced"
                )
            };
            return Err(reject(RejectCode::PeriodClosed, message));
        }
        let current = self.totals.get(&metric.id.0).copied().unwrap_or(0);
        let next = aggregate(metric.aggregation, current, report.quantity).ok_or_else(|| {
            reject(
                RejectCode::InvalidQuantity,
                "the period total would overflow",
            )
        })?;
        let mut crossed = Vec::new();
        if let Some(limit) = limit_for(plan, &metric.code) {
            if limit.enforcement == Enforcement::Hard && next > limit.value {
                return Err(reject(
                    RejectCode::LimitExceeded,
                    format!(
                        "the plan allows {} {} per period; {} are used",
                        limit.value, metric.unit, current
                    ),
                ));
            }
            crossed.extend(
                [80, 100]
                    .into_iter()
                    .filter(|p| crosses(current, next, limit.value, *p)),
            );
        }
        let mut blocks = Vec::new();
        if sub.cycle >= 1
            && let Some(charge) = super::charge_for(plan, &metric.code)
            && let Some(b) = immediate_blocks(charge)
        {
            let (before, after) = (
                pricing::blocks_due(current, b.included, b.size),
                pricing::blocks_due(next, b.included, b.size),
            );
            let charged = self.charged.get(&metric.id.0).copied().unwrap_or(before);
            let new = (after - charged).max(0);
            if new + self.blocks_in_call > MAX_BLOCKS_PER_CALL {
                return Err(reject(
                    RejectCode::InvalidQuantity,
                    format!("one call may charge at most {MAX_BLOCKS_PER_CALL} blocks"),
                ));
            }
            self.blocks_in_call += new;
            blocks.extend(charged + 1..=after);
            self.charged.insert(metric.id.0, charged.max(after));
        }
        self.totals.insert(metric.id.0, next);
        Ok(Step {
            metric: metric.id.0,
            aggregation: metric.aggregation,
            blocks,
            crossed,
        })
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
