//! Inputs of subscriptions and the clock, and their parsing into domain types.
use async_graphql::{ID, InputObject};
use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::NewSubscription;
use crate::domain::{Code, CouponCode, TenantId};
use crate::error::{Error, Result};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::scalars::{BigInt, opt_idempotency_key};
use crate::graphql::subscriptions::types::IntervalGql;
use crate::jobs::ClockMove;

#[derive(InputObject)]
pub struct CreateSubscriptionInput {
    /// The admin names the tenant; tenant users subscribe their own.
    pub tenant_id: Option<ID>,
    pub plan_code: String,
    #[graphql(default_with = "IntervalGql::Monthly")]
    pub interval: IntervalGql,
    /// 0 to 730; the plan's default when omitted. A trial is not invoiced.
    pub trial_days: Option<i32>,
    pub coupon_code: Option<String>,
    /// A replay returns the first result; the same key with another input is a `CONFLICT`
    /// (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: Option<String>,
}

impl CreateSubscriptionInput {
    pub fn parse(self) -> Result<NewSubscription> {
        Ok(NewSubscription {
            tenant: opt_tenant_id("tenantId", self.tenant_id.as_ref())?,
            plan_code: Code::parse("planCode", &self.plan_code)?,
            interval: self.interval.into(),
            trial_days: self.trial_days,
            coupon_code: self
                .coupon_code
                .as_deref()
                .map(|c| CouponCode::parse("couponCode", c))
                .transpose()?,
            idempotency_key: opt_idempotency_key(self.idempotency_key.as_deref())?,
        })
    }
}

#[derive(InputObject)]
pub struct CancelSubscriptionInput {
    pub tenant_id: Option<ID>,
    /// true: at the end of the current period (undo with `resumeSubscription`); false: now,
    /// without refund.
    #[graphql(default = true)]
    pub at_period_end: bool,
}

#[derive(InputObject)]
pub struct ChangePlanInput {
    pub tenant_id: Option<ID>,
    pub plan_code: String,
    /// A replay returns the first result; the same key with another plan is a `CONFLICT`
    /// (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: Option<String>,
}

impl ChangePlanInput {
    pub fn parse(&self) -> Result<(Option<TenantId>, Code, Option<String>)> {
        Ok((
            opt_tenant_id("tenantId", self.tenant_id.as_ref())?,
            Code::parse("planCode", &self.plan_code)?,
            opt_idempotency_key(self.idempotency_key.as_deref())?,
        ))
    }
}

#[derive(InputObject)]
pub struct ApplyCouponInput {
    pub tenant_id: Option<ID>,
    pub code: String,
    /// A replay returns the first result; the same key with another coupon is a `CONFLICT`
    /// (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: Option<String>,
}

impl ApplyCouponInput {
    pub fn parse(&self) -> Result<(Option<TenantId>, CouponCode, Option<String>)> {
        Ok((
            opt_tenant_id("tenantId", self.tenant_id.as_ref())?,
            CouponCode::parse("code", &self.code)?,
            opt_idempotency_key(self.idempotency_key.as_deref())?,
        ))
    }
}

#[derive(InputObject)]
pub struct AdvanceClockInput {
    pub days: Option<i32>,
    pub hours: Option<i32>,
    pub seconds: Option<BigInt>,
    /// An instant later than now; not together with days, hours or seconds.
    pub to: Option<DateTime<Utc>>,
}

impl AdvanceClockInput {
    pub fn parse(&self) -> Result<ClockMove> {
        let parts = [
            ("days", self.days.map(i64::from), 86_400),
            ("hours", self.hours.map(i64::from), 3_600),
            ("seconds", self.seconds.map(|s| s.0), 1),
        ];
        let any_part = parts.iter().any(|(_, v, _)| v.is_some());
        match (self.to, any_part) {
            (Some(_), true) => Err(Error::validation(
                "to",
                "give either `to` or days/hours/seconds, not both",
            )),
            (Some(to), false) => Ok(ClockMove::To(to)),
            (None, false) => Err(Error::validation(
                "days",
                "give days, hours, seconds or `to`",
            )),
            (None, true) => {
                let mut total: i64 = 0;
                for (field, value, unit) in parts {
                    let Some(v) = value else { continue };
                    if v < 0 {
                        return Err(Error::validation(field, "must not be negative"));
                    }
                    total = v
                        .checked_mul(unit)
                        .and_then(|s| total.checked_add(s))
                        .ok_or_else(|| Error::validation(field, "too large"))?;
                }
                TimeDelta::try_seconds(total)
                    .map(ClockMove::By)
                    .ok_or_else(|| Error::validation("seconds", "too large"))
            }
        }
    }
}
