use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Code, CouponCode, CouponId, CreditPackId, Credits, MetricId, Money, Name, PlanId};

str_enum!(Aggregation { Sum = "sum", Max = "max", Count = "count" });
str_enum!(ChargeTiming { Immediately = "immediately", PeriodEnd = "period_end" });
str_enum!(CreditRounding { CeilPerRequest = "ceil", Exact = "exact" });
str_enum!(Enforcement { Hard = "hard", Soft = "soft" });

#[derive(Clone, Debug)]
pub struct BillableMetric {
    pub id: MetricId,
    pub code: String,
    pub name: String,
    pub unit: String,
    pub aggregation: Aggregation,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewBillableMetric {
    pub code: Code,
    pub name: Name,
    pub unit: Name,
    pub aggregation: Aggregation,
}

/// How usage of one metric is priced on a plan.
#[derive(Clone, Debug, PartialEq)]
pub enum ChargeModel {
    /// Every started block of `block_size` units above `included_units` costs `block_price`.
    Block {
        included_units: i64,
        block_size: i64,
        block_price_minor: i64,
    },
    /// Each unit above `included_units` costs `unit_price_minor` (may be finer than a centavo).
    Unit {
        included_units: i64,
        unit_price_minor: Decimal,
    },
    /// `credits` are spent per `per_units` units, rounded by `rounding`.
    Credits {
        credits: Credits,
        per_units: i64,
        rounding: CreditRounding,
    },
}

impl ChargeModel {
    pub fn kind(&self) -> &'static str {
        match self {
            ChargeModel::Block { .. } => "block",
            ChargeModel::Unit { .. } => "unit",
            ChargeModel::Credits { .. } => "credits",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanCharge {
    pub metric_code: String,
    pub timing: ChargeTiming,
    pub model: ChargeModel,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanLimit {
    pub metric_code: String,
    pub value: i64,
    pub enforcement: Enforcement,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub id: PlanId,
    pub code: String,
    pub version: i32,
    pub is_current: bool,
    pub name: String,
    pub description: String,
    pub monthly_price: Money,
    pub yearly_price: Option<Money>,
    pub trial_days: i32,
    pub features: Vec<String>,
    pub limits: Vec<PlanLimit>,
    pub charges: Vec<PlanCharge>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewPlan {
    pub code: Code,
    pub name: Name,
    pub description: String,
    pub monthly_price: Money,
    pub yearly_price: Option<Money>,
    pub trial_days: i32,
    pub features: Vec<Name>,
    pub limits: Vec<PlanLimit>,
    pub charges: Vec<PlanCharge>,
}

#[derive(Clone, Debug)]
pub struct CreditPack {
    pub id: CreditPackId,
    pub code: String,
    pub version: i32,
    pub is_current: bool,
    pub name: String,
    pub credits: Credits,
    pub price: Money,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewCreditPack {
    pub code: Code,
    pub name: Name,
    pub credits: Credits,
    pub price: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Discount {
    /// Whole percent, 1 to 100.
    Percent(u8),
    Amount(Money),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CouponDuration {
    Once,
    Repeating(u16),
    Forever,
}

#[derive(Clone, Debug)]
pub struct Coupon {
    pub id: CouponId,
    pub code: String,
    pub name: String,
    pub discount: Discount,
    pub duration: CouponDuration,
    pub max_redemptions: Option<i32>,
    pub times_redeemed: i32,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub plan_codes: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewCoupon {
    pub code: CouponCode,
    pub name: Name,
    pub discount: Discount,
    pub duration: CouponDuration,
    pub max_redemptions: Option<i32>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub plan_codes: Option<Vec<Code>>,
}
