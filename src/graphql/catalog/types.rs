//! Output types of the catalog area.
use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{
    BillableMetric, ChargeModel, Coupon, CouponDuration, CreditPack, Currency, Discount, Money,
    Plan, PlanCharge, PlanLimit,
};
use crate::graphql::catalog::inputs::{
    AggregationGql, ChargeModelGql, ChargeTimingGql, CouponDurationGql, CreditRoundingGql,
    EnforcementGql,
};
use crate::graphql::scalars::{BigInt, MoneyOut};

#[derive(SimpleObject)]
#[graphql(name = "BillableMetric")]
pub struct MetricOut {
    id: ID,
    code: String,
    name: String,
    unit: String,
    aggregation: AggregationGql,
    created_at: DateTime<Utc>,
}

impl From<BillableMetric> for MetricOut {
    fn from(m: BillableMetric) -> Self {
        Self {
            id: ID(m.id.to_string()),
            code: m.code,
            name: m.name,
            unit: m.unit,
            aggregation: m.aggregation.into(),
            created_at: m.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PlanLimit")]
pub struct LimitOut {
    metric_code: String,
    value: BigInt,
    enforcement: EnforcementGql,
}

impl From<PlanLimit> for LimitOut {
    fn from(l: PlanLimit) -> Self {
        Self {
            metric_code: l.metric_code,
            value: BigInt(l.value),
            enforcement: l.enforcement.into(),
        }
    }
}

/// One usage charge of a plan; the fields used depend on `model`.
#[derive(SimpleObject)]
#[graphql(name = "PlanCharge")]
pub struct ChargeOut {
    metric_code: String,
    timing: ChargeTimingGql,
    model: ChargeModelGql,
    included_units: BigInt,
    block_size: Option<BigInt>,
    block_price: Option<MoneyOut>,
    unit_price_minor: Option<String>,
    credits: Option<String>,
    per_units: Option<BigInt>,
    credit_rounding: Option<CreditRoundingGql>,
}

fn charge_out(c: PlanCharge, currency: Currency) -> ChargeOut {
    let mut out = ChargeOut {
        metric_code: c.metric_code,
        timing: c.timing.into(),
        model: ChargeModelGql::Block,
        included_units: BigInt(0),
        block_size: None,
        block_price: None,
        unit_price_minor: None,
        credits: None,
        per_units: None,
        credit_rounding: None,
    };
    match c.model {
        ChargeModel::Block {
            included_units,
            block_size,
            block_price_minor,
        } => {
            out.included_units = BigInt(included_units);
            out.block_size = Some(BigInt(block_size));
            out.block_price = Some(MoneyOut(Money::new(block_price_minor, currency)));
        }
        ChargeModel::Unit {
            included_units,
            unit_price_minor,
        } => {
            out.model = ChargeModelGql::Unit;
            out.included_units = BigInt(included_units);
            out.unit_price_minor = Some(unit_price_minor.normalize().to_string());
        }
        ChargeModel::Credits {
            credits,
            per_units,
            rounding,
        } => {
            out.model = ChargeModelGql::Credits;
            out.credits = Some(credits.to_string());
            out.per_units = Some(BigInt(per_units));
            out.credit_rounding = Some(rounding.into());
        }
    }
    out
}

#[derive(SimpleObject)]
#[graphql(name = "Plan")]
pub struct PlanOut {
    id: ID,
    code: String,
    /// Versions count up from 1; a price change publishes a new version.
    version: i32,
    /// Whether this is the version new subscriptions get.
    is_current: bool,
    name: String,
    description: String,
    currency: String,
    monthly_price: MoneyOut,
    yearly_price: Option<MoneyOut>,
    trial_days: i32,
    features: Vec<String>,
    limits: Vec<LimitOut>,
    charges: Vec<ChargeOut>,
    created_at: DateTime<Utc>,
}

impl From<Plan> for PlanOut {
    fn from(p: Plan) -> Self {
        let currency = p.monthly_price.currency;
        Self {
            id: ID(p.id.to_string()),
            code: p.code,
            version: p.version,
            is_current: p.is_current,
            name: p.name,
            description: p.description,
            currency: currency.code().to_owned(),
            monthly_price: MoneyOut(p.monthly_price),
            yearly_price: p.yearly_price.map(MoneyOut),
            trial_days: p.trial_days,
            features: p.features,
            limits: p.limits.into_iter().map(Into::into).collect(),
            charges: p
                .charges
                .into_iter()
                .map(|c| charge_out(c, currency))
                .collect(),
            created_at: p.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CreditPack")]
pub struct PackOut {
    id: ID,
    code: String,
    version: i32,
    is_current: bool,
    name: String,
    /// Credits granted, as an exact decimal.
    credits: String,
    price: MoneyOut,
    created_at: DateTime<Utc>,
}

impl From<CreditPack> for PackOut {
    fn from(p: CreditPack) -> Self {
        Self {
            id: ID(p.id.to_string()),
            code: p.code,
            version: p.version,
            is_current: p.is_current,
            name: p.name,
            credits: p.credits.to_string(),
            price: MoneyOut(p.price),
            created_at: p.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Coupon")]
pub struct CouponOut {
    id: ID,
    code: String,
    name: String,
    percent_off: Option<i32>,
    amount_off: Option<MoneyOut>,
    duration: CouponDurationGql,
    duration_periods: Option<i32>,
    max_redemptions: Option<i32>,
    times_redeemed: i32,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    plan_codes: Option<Vec<String>>,
    created_at: DateTime<Utc>,
}

impl From<Coupon> for CouponOut {
    fn from(c: Coupon) -> Self {
        let (percent_off, amount_off) = match c.discount {
            Discount::Percent(p) => (Some(i32::from(p)), None),
            Discount::Amount(m) => (None, Some(MoneyOut(m))),
        };
        let (duration, duration_periods) = match c.duration {
            CouponDuration::Once => (CouponDurationGql::Once, None),
            CouponDuration::Repeating(n) => (CouponDurationGql::Repeating, Some(i32::from(n))),
            CouponDuration::Forever => (CouponDurationGql::Forever, None),
        };
        Self {
            id: ID(c.id.to_string()),
            code: c.code,
            name: c.name,
            percent_off,
            amount_off,
            duration,
            duration_periods,
            max_redemptions: c.max_redemptions,
            times_redeemed: c.times_redeemed,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            plan_codes: c.plan_codes,
            created_at: c.created_at,
        }
    }
}
