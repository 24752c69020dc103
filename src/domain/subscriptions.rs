//! Subscriptions and the coupons attached to them, as the services see them.
use chrono::{DateTime, Utc};

use super::{
    Code, Coupon, CouponCode, CouponId, Discount, Interval, PlanId, RedemptionId, SubscriptionId,
    TenantId,
};

str_enum!(SubscriptionStatus {
    Trialing = "trialing",
    Active = "active",
    PastDue = "past_due",
    Unpaid = "unpaid",
    Canceled = "canceled",
});

impl SubscriptionStatus {
    /// Live subscriptions bill; a tenant has at most one.
    pub fn is_live(self) -> bool {
        !matches!(self, SubscriptionStatus::Canceled)
    }
}

/// A coupon attached to a subscription, covering cycles `first_cycle..=last_cycle`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubscriptionDiscount {
    pub id: RedemptionId,
    pub coupon_id: CouponId,
    pub coupon_code: String,
    pub discount: Discount,
    pub first_cycle: i32,
    /// `None`: forever.
    pub last_cycle: Option<i32>,
}

impl SubscriptionDiscount {
    pub fn covers(&self, cycle: i32) -> bool {
        cycle >= self.first_cycle && self.last_cycle.is_none_or(|last| cycle <= last)
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub tenant_id: TenantId,
    pub plan_id: PlanId,
    pub interval: Interval,
    pub status: SubscriptionStatus,
    /// 0 while trialing; paid cycles count from 1.
    pub cycle: i32,
    /// Start of cycle 1; `None` while the trial runs.
    pub anchor: Option<DateTime<Utc>>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub trial_start: Option<DateTime<Utc>>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub scheduled_plan_id: Option<PlanId>,
    pub discount: Option<SubscriptionDiscount>,
    /// Optimistic lock: a change is written only over the version it was computed from.
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct SubscriptionFilter {
    pub status: Option<SubscriptionStatus>,
    pub plan_code: Option<String>,
}

/// What a caller asks for when subscribing.
pub struct NewSubscription {
    pub tenant: Option<TenantId>,
    pub plan_code: Code,
    pub interval: Interval,
    pub trial_days: Option<i32>,
    pub coupon_code: Option<CouponCode>,
    /// A replay returns the first result; the same key with another request is a `CONFLICT`.
    pub idempotency_key: Option<String>,
}

/// A coupon redeemed by a tenant on one of its subscriptions.
pub struct NewRedemption {
    pub coupon: Coupon,
    pub tenant: TenantId,
    pub subscription: SubscriptionId,
    pub first_cycle: i32,
    pub last_cycle: Option<i32>,
    pub now: DateTime<Utc>,
}
