//! Output types of subscriptions, revenue and the billing jobs.
use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{Discount, Interval, SubscriptionDiscount, SubscriptionStatus};
use crate::graphql::catalog::types::PlanOut;
use crate::graphql::invoicing::types::InvoiceOut;
use crate::graphql::scalars::MoneyOut;
use crate::jobs::{ClockReading, ClockSource, JobReport};
use crate::subscriptions::{Outcome, RevenueSummary, StatusCount, SubscriptionView};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "BillingInterval")]
pub enum IntervalGql {
    Monthly,
    Yearly,
}

impl From<IntervalGql> for Interval {
    fn from(v: IntervalGql) -> Self {
        match v {
            IntervalGql::Monthly => Interval::Month,
            IntervalGql::Yearly => Interval::Year,
        }
    }
}

impl From<Interval> for IntervalGql {
    fn from(v: Interval) -> Self {
        match v {
            Interval::Month => IntervalGql::Monthly,
            Interval::Year => IntervalGql::Yearly,
        }
    }
}

gql_enum!(SubscriptionStatusGql as "SubscriptionStatus" => SubscriptionStatus {
    Trialing, Active, PastDue, Unpaid, Canceled
});

#[derive(SimpleObject)]
#[graphql(name = "SubscriptionDiscount")]
pub struct DiscountOut {
    coupon_code: String,
    percent_off: Option<i32>,
    amount_off: Option<MoneyOut>,
    /// The first paid cycle discounted.
    first_cycle: i32,
    /// The last paid cycle discounted; null for a coupon that lasts forever.
    last_cycle: Option<i32>,
}

impl From<SubscriptionDiscount> for DiscountOut {
    fn from(d: SubscriptionDiscount) -> Self {
        let (percent_off, amount_off) = match d.discount {
            Discount::Percent(p) => (Some(i32::from(p)), None),
            Discount::Amount(m) => (None, Some(MoneyOut(m))),
        };
        Self {
            coupon_code: d.coupon_code,
            percent_off,
            amount_off,
            first_cycle: d.first_cycle,
            last_cycle: d.last_cycle,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Subscription")]
pub struct SubscriptionOut {
    id: ID,
    tenant_id: ID,
    /// The plan version the subscription bills.
    plan: PlanOut,
    interval: IntervalGql,
    status: SubscriptionStatusGql,
    /// 0 during the trial; paid periods count from 1.
    cycle: i32,
    current_period_start: DateTime<Utc>,
    current_period_end: DateTime<Utc>,
    trial_start: Option<DateTime<Utc>>,
    trial_end: Option<DateTime<Utc>>,
    /// The subscription ends at the current period's end unless resumed.
    cancel_at_period_end: bool,
    canceled_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    /// A downgrade that takes effect at the period end.
    scheduled_plan: Option<PlanOut>,
    /// The latest coupon redeemed on this subscription and the cycles it covers.
    discount: Option<DiscountOut>,
    created_at: DateTime<Utc>,
}

impl From<SubscriptionView> for SubscriptionOut {
    fn from(v: SubscriptionView) -> Self {
        let s = v.subscription;
        Self {
            id: ID(s.id.to_string()),
            tenant_id: ID(s.tenant_id.to_string()),
            plan: v.plan.into(),
            interval: s.interval.into(),
            status: s.status.into(),
            cycle: s.cycle,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            trial_start: s.trial_start,
            trial_end: s.trial_end,
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at,
            ended_at: s.ended_at,
            scheduled_plan: v.scheduled_plan.map(Into::into),
            discount: s.discount.map(Into::into),
            created_at: s.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct SubscriptionPayload {
    subscription: SubscriptionOut,
    /// The invoice this change issued, if any.
    invoice: Option<InvoiceOut>,
}

impl From<Outcome> for SubscriptionPayload {
    fn from(o: Outcome) -> Self {
        Self {
            subscription: o.view.into(),
            invoice: o.invoice.map(Into::into),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "SubscriptionCount")]
pub struct StatusCountOut {
    status: SubscriptionStatusGql,
    plan_code: String,
    count: i32,
}

#[derive(SimpleObject)]
#[graphql(name = "RevenueSummary")]
pub struct RevenueOut {
    /// Monthly recurring revenue per currency: active and past-due subscriptions at list
    /// price, yearly fees counted as one twelfth.
    mrr: Vec<MoneyOut>,
    subscriptions: Vec<StatusCountOut>,
}

impl From<RevenueSummary> for RevenueOut {
    fn from(r: RevenueSummary) -> Self {
        Self {
            mrr: r.mrr.into_iter().map(MoneyOut).collect(),
            subscriptions: r
                .subscriptions
                .into_iter()
                .map(|c: StatusCount| StatusCountOut {
                    status: c.status.into(),
                    plan_code: c.plan_code,
                    count: i32::try_from(c.count).unwrap_or(i32::MAX),
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "JobReport")]
pub struct JobReportOut {
    now: DateTime<Utc>,
    trials_ended: i32,
    renewals: i32,
    plan_changes: i32,
    cancellations: i32,
    invoices_issued: i32,
    past_due: i32,
    notifications: i32,
    /// Credit holds whose time ran out and whose credits went back.
    holds_expired: i32,
}

impl From<JobReport> for JobReportOut {
    fn from(r: JobReport) -> Self {
        Self {
            now: r.now,
            trials_ended: r.trials_ended,
            renewals: r.renewals,
            plan_changes: r.plan_changes,
            cancellations: r.cancellations,
            invoices_issued: r.invoices_issued,
            past_due: r.past_due,
            notifications: r.notifications,
            holds_expired: r.holds_expired,
        }
    }
}

#[derive(SimpleObject)]
pub struct AdvanceClockPayload {
    pub now: DateTime<Utc>,
    pub jobs: JobReportOut,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ClockSource")]
pub enum ClockSourceGql {
    /// Production: the system time; it cannot be moved.
    System,
    /// Development and tests: moved by `advanceClock` and saved in the database, so a restart
    /// resumes it.
    Controlled,
}

#[derive(SimpleObject)]
#[graphql(name = "BillingClock")]
pub struct BillingClockOut {
    /// The billing time now.
    pub now: DateTime<Utc>,
    /// True while the clock stands still between `advanceClock` calls (`BILLING_CLOCK_START`).
    pub frozen: bool,
    pub source: ClockSourceGql,
}

impl From<ClockReading> for BillingClockOut {
    fn from(r: ClockReading) -> Self {
        Self {
            now: r.now,
            frozen: r.frozen,
            source: match r.source {
                ClockSource::System => ClockSourceGql::System,
                ClockSource::Controlled => ClockSourceGql::Controlled,
            },
        }
    }
}
