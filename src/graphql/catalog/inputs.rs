//! Catalog inputs and their parsing into domain types; every bad field is a `VALIDATION`
//! error that names it.
use async_graphql::{Enum, InputObject};
use chrono::{DateTime, Utc};

use crate::domain::{
    Aggregation, ChargeTiming, Code, CouponCode, CouponDuration, CreditRounding, Credits, Currency,
    Discount, Enforcement, Money, Name, NewBillableMetric, NewCoupon, NewCreditPack, NewPlan,
    ParseError, PlanLimit,
};
use crate::graphql::catalog::charges::{PlanChargeInput, parse_charge};
use crate::graphql::scalars::BigInt;

/// Largest quantity a plan setting may hold (10^15 units).
pub(super) const MAX_UNITS: i64 = 1_000_000_000_000_000;

gql_enum!(AggregationGql as "Aggregation" => Aggregation { Sum, Max, Count });
gql_enum!(ChargeTimingGql as "ChargeTiming" => ChargeTiming { Immediately, PeriodEnd });
gql_enum!(CreditRoundingGql as "CreditRounding" => CreditRounding { CeilPerRequest, Exact });
gql_enum!(EnforcementGql as "Enforcement" => Enforcement { Hard, Soft });

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ChargeModel")]
pub enum ChargeModelGql {
    Block,
    Unit,
    Credits,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "CouponDuration")]
pub enum CouponDurationGql {
    Once,
    Repeating,
    Forever,
}

pub(super) fn units(field: &str, v: Option<BigInt>, min: i64) -> Result<Option<i64>, ParseError> {
    match v {
        None => Ok(None),
        Some(BigInt(n)) if (min..=MAX_UNITS).contains(&n) => Ok(Some(n)),
        Some(_) => Err(ParseError::new(
            field,
            format!("must be between {min} and {MAX_UNITS}"),
        )),
    }
}

pub(super) fn required<T>(field: &str, v: Option<T>) -> Result<T, ParseError> {
    v.ok_or_else(|| ParseError::new(field, "is required for this charge model"))
}

fn check_len<T>(field: &str, items: &[T], max: usize) -> Result<(), ParseError> {
    if items.len() > max {
        return Err(ParseError::new(
            field,
            format!("must have at most {max} items"),
        ));
    }
    Ok(())
}

#[derive(InputObject)]
pub struct CreateBillableMetricInput {
    /// e.g. `tokens`, `api_calls`.
    code: String,
    name: String,
    /// e.g. `token`, `call`, `GB`.
    unit: String,
    aggregation: AggregationGql,
}

impl TryFrom<CreateBillableMetricInput> for NewBillableMetric {
    type Error = ParseError;
    fn try_from(i: CreateBillableMetricInput) -> Result<Self, ParseError> {
        Ok(NewBillableMetric {
            code: Code::parse("code", &i.code)?,
            name: Name::parse("name", &i.name, 200)?,
            unit: Name::parse("unit", &i.unit, 32)?,
            aggregation: i.aggregation.into(),
        })
    }
}

#[derive(InputObject)]
pub struct PlanLimitInput {
    metric_code: String,
    /// Units allowed per billing period.
    value: BigInt,
    /// HARD rejects usage over the limit, SOFT accepts it and flags the period. Default HARD.
    enforcement: Option<EnforcementGql>,
}

/// A plan definition. `createPlan` makes version 1 of a new code; `publishPlanVersion` makes
/// the next version of an existing code.
#[derive(InputObject)]
pub struct PlanInput {
    code: String,
    name: String,
    description: Option<String>,
    /// ISO 4217; BRL when omitted. Every price of the plan is in this currency.
    currency: Option<String>,
    monthly_price_minor: BigInt,
    /// Omitted: the plan has no yearly interval.
    yearly_price_minor: Option<BigInt>,
    /// Default trial length for new subscriptions, 0 to 365.
    trial_days: Option<i32>,
    #[graphql(default)]
    features: Vec<String>,
    #[graphql(default)]
    limits: Vec<PlanLimitInput>,
    #[graphql(default)]
    charges: Vec<PlanChargeInput>,
}

impl TryFrom<PlanInput> for NewPlan {
    type Error = ParseError;
    fn try_from(i: PlanInput) -> Result<Self, ParseError> {
        let currency = Currency::parse("currency", i.currency.as_deref().unwrap_or("BRL"))?;
        check_len("features", &i.features, 50)?;
        check_len("limits", &i.limits, 20)?;
        check_len("charges", &i.charges, 20)?;
        let description = i.description.unwrap_or_default();
        if description.chars().count() > 2000 {
            return Err(ParseError::new(
                "description",
                "must be at most 2000 characters",
            ));
        }
        if description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ParseError::new(
                "description",
                "must not contain control characters other than newlines and tabs",
            ));
        }
        let trial_days = i.trial_days.unwrap_or(0);
        if !(0..=365).contains(&trial_days) {
            return Err(ParseError::new("trialDays", "must be between 0 and 365"));
        }
        Ok(NewPlan {
            code: Code::parse("code", &i.code)?,
            name: Name::parse("name", &i.name, 200)?,
            description,
            monthly_price: Money::price("monthlyPriceMinor", i.monthly_price_minor.0, currency)?,
            yearly_price: i
                .yearly_price_minor
                .map(|p| Money::price("yearlyPriceMinor", p.0, currency))
                .transpose()?,
            trial_days,
            features: i
                .features
                .iter()
                .enumerate()
                .map(|(n, f)| Name::parse(&format!("features[{n}]"), f, 200))
                .collect::<Result<_, _>>()?,
            limits: i
                .limits
                .into_iter()
                .enumerate()
                .map(|(n, l)| {
                    Ok(PlanLimit {
                        metric_code: Code::parse(
                            &format!("limits[{n}].metricCode"),
                            &l.metric_code,
                        )?
                        .into_inner(),
                        value: units(&format!("limits[{n}].value"), Some(l.value), 0)?.unwrap_or(0),
                        enforcement: l.enforcement.map(Into::into).unwrap_or(Enforcement::Hard),
                    })
                })
                .collect::<Result<_, ParseError>>()?,
            charges: i
                .charges
                .into_iter()
                .enumerate()
                .map(|(n, c)| parse_charge(n, c, currency))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A credit pack. `createCreditPack` makes version 1; `publishCreditPackVersion` the next.
#[derive(InputObject)]
pub struct CreditPackInput {
    code: String,
    name: String,
    /// Credits granted, a decimal such as "100".
    credits: String,
    price_minor: BigInt,
    /// ISO 4217; BRL when omitted.
    currency: Option<String>,
}

impl TryFrom<CreditPackInput> for NewCreditPack {
    type Error = ParseError;
    fn try_from(i: CreditPackInput) -> Result<Self, ParseError> {
        let currency = Currency::parse("currency", i.currency.as_deref().unwrap_or("BRL"))?;
        Ok(NewCreditPack {
            code: Code::parse("code", &i.code)?,
            name: Name::parse("name", &i.name, 200)?,
            credits: Credits::parse("credits", &i.credits)?,
            price: Money::price("priceMinor", i.price_minor.0, currency)?,
        })
    }
}

/// A coupon: exactly one of `percentOff` or `amountOffMinor` (with `currency`).
#[derive(InputObject)]
pub struct CreateCouponInput {
    /// Case-insensitive, stored uppercase, e.g. WELCOME20.
    code: String,
    name: String,
    /// Whole percent, 1 to 100.
    percent_off: Option<i32>,
    amount_off_minor: Option<BigInt>,
    /// Currency of `amountOffMinor`; BRL when omitted. Refused with `percentOff`.
    currency: Option<String>,
    duration: CouponDurationGql,
    /// REPEATING: number of billing periods, 1 to 120.
    duration_periods: Option<i32>,
    max_redemptions: Option<i32>,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    /// Restricts the coupon to these plan codes.
    plan_codes: Option<Vec<String>>,
}

impl TryFrom<CreateCouponInput> for NewCoupon {
    type Error = ParseError;
    fn try_from(i: CreateCouponInput) -> Result<Self, ParseError> {
        let discount = match (i.percent_off, i.amount_off_minor) {
            (Some(_), None) if i.currency.is_some() => {
                return Err(ParseError::new(
                    "currency",
                    "is only for amountOffMinor; a percentage has no currency",
                ));
            }
            (Some(p), None) => Discount::Percent(
                u8::try_from(p)
                    .ok()
                    .filter(|p| (1..=100).contains(p))
                    .ok_or_else(|| ParseError::new("percentOff", "must be between 1 and 100"))?,
            ),
            (None, Some(a)) => {
                let currency = Currency::parse("currency", i.currency.as_deref().unwrap_or("BRL"))?;
                Discount::Amount(Money::price("amountOffMinor", a.0, currency)?)
            }
            _ => {
                return Err(ParseError::new(
                    "percentOff",
                    "give exactly one of percentOff or amountOffMinor",
                ));
            }
        };
        let duration = match (i.duration, i.duration_periods) {
            (CouponDurationGql::Once, None) => CouponDuration::Once,
            (CouponDurationGql::Forever, None) => CouponDuration::Forever,
            (CouponDurationGql::Repeating, Some(n)) => CouponDuration::Repeating(
                u16::try_from(n)
                    .ok()
                    .filter(|n| (1..=120).contains(n))
                    .ok_or_else(|| {
                        ParseError::new("durationPeriods", "must be between 1 and 120")
                    })?,
            ),
            (CouponDurationGql::Repeating, None) => {
                return Err(ParseError::new(
                    "durationPeriods",
                    "is required for REPEATING",
                ));
            }
            (_, Some(_)) => {
                return Err(ParseError::new("durationPeriods", "is only for REPEATING"));
            }
        };
        if i.max_redemptions.is_some_and(|m| m < 1) {
            return Err(ParseError::new("maxRedemptions", "must be at least 1"));
        }
        let plan_codes = match i.plan_codes {
            Some(codes) => {
                check_len("planCodes", &codes, 50)?;
                let parsed = codes
                    .iter()
                    .enumerate()
                    .map(|(n, c)| Code::parse(&format!("planCodes[{n}]"), c))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(parsed)
            }
            None => None,
        };
        Ok(NewCoupon {
            code: CouponCode::parse("code", &i.code)?,
            name: Name::parse("name", &i.name, 200)?,
            discount,
            duration,
            max_redemptions: i.max_redemptions,
            valid_from: i.valid_from,
            valid_until: i.valid_until,
            plan_codes,
        })
    }
}
