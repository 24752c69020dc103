//! Inputs of subscriptions, invoices and the clock, and their parsing into domain types.
use async_graphql::{ID, InputObject};
use chrono::{DateTime, TimeDelta, Utc};

use super::accounts_inputs::opt_tenant_id;
use super::invoices_types::InvoiceStatusGql;
use super::scalars::BigInt;
use super::subscriptions_types::IntervalGql;
use crate::domain::NewSubscription;
use crate::domain::{Code, CouponCode, Currency, InvoiceFilter, ManualLine};
use crate::error::{Error, Result};
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
}

#[derive(InputObject)]
pub struct ApplyCouponInput {
    pub tenant_id: Option<ID>,
    pub code: String,
}

#[derive(InputObject)]
pub struct InvoiceLineInput {
    /// 1 to 500 characters.
    pub description: String,
    /// 1 to 1,000,000,000.
    pub quantity: BigInt,
    /// Minor units, -10^12 to 10^12; negative for a credit.
    pub unit_amount_minor: BigInt,
}

impl InvoiceLineInput {
    pub fn parse(&self, field: &str) -> Result<ManualLine> {
        Ok(ManualLine::parse(
            field,
            &self.description,
            self.quantity.0,
            self.unit_amount_minor.0,
        )?)
    }
}

#[derive(InputObject)]
pub struct CreateInvoiceInput {
    pub tenant_id: ID,
    /// ISO 4217; the tenant's currency when omitted.
    pub currency: Option<String>,
    /// 1 to 100 lines.
    pub lines: Vec<InvoiceLineInput>,
}

impl CreateInvoiceInput {
    pub fn currency(&self) -> Result<Option<Currency>> {
        Ok(self
            .currency
            .as_deref()
            .map(|c| Currency::parse("currency", c))
            .transpose()?)
    }

    pub fn lines(&self) -> Result<Vec<ManualLine>> {
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| l.parse(&format!("lines[{i}]")))
            .collect()
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

/// The `invoices` filters.
pub fn invoice_filter(
    status: Option<InvoiceStatusGql>,
    period_from: Option<DateTime<Utc>>,
    period_to: Option<DateTime<Utc>>,
) -> Result<InvoiceFilter> {
    if let (Some(from), Some(to)) = (period_from, period_to)
        && to <= from
    {
        return Err(Error::validation("periodTo", "must be after periodFrom"));
    }
    Ok(InvoiceFilter {
        status: status.map(Into::into),
        period_from,
        period_to,
    })
}
