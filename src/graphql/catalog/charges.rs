//! Plan charges: each model takes its own fields, and a field that does not apply to the
//! charge's model is refused rather than dropped.
use std::str::FromStr;

use async_graphql::InputObject;
use rust_decimal::Decimal;

use crate::domain::{
    ChargeModel, Code, CreditRounding, Credits, Currency, Money, ParseError, PlanCharge,
};
use crate::graphql::catalog::inputs::{
    ChargeModelGql, ChargeTimingGql, CreditRoundingGql, MAX_UNITS, required, units,
};
use crate::graphql::scalars::BigInt;

#[derive(InputObject)]
pub struct PlanChargeInput {
    metric_code: String,
    timing: ChargeTimingGql,
    model: ChargeModelGql,
    /// BLOCK and UNIT: units included before charging. Default 0. Not for CREDITS.
    included_units: Option<BigInt>,
    /// BLOCK only: size of a block (e.g. 8000000).
    block_size: Option<BigInt>,
    /// BLOCK only: price of each started block, in minor units.
    block_price_minor: Option<BigInt>,
    /// UNIT only: price per unit in minor units, a decimal such as "0.05".
    unit_price_minor: Option<String>,
    /// CREDITS only: credits charged per `perUnits` units, a decimal such as "1".
    credits: Option<String>,
    /// CREDITS only: how many units cost `credits` (e.g. 1000 tokens).
    per_units: Option<BigInt>,
    /// CREDITS only: CEIL_PER_REQUEST (default) or EXACT.
    credit_rounding: Option<CreditRoundingGql>,
}

impl PlanChargeInput {
    /// The fields given that the charge's model does not use, by their GraphQL names.
    fn inapplicable(&self) -> Vec<&'static str> {
        let given = [
            ("includedUnits", self.included_units.is_some()),
            ("blockSize", self.block_size.is_some()),
            ("blockPriceMinor", self.block_price_minor.is_some()),
            ("unitPriceMinor", self.unit_price_minor.is_some()),
            ("credits", self.credits.is_some()),
            ("perUnits", self.per_units.is_some()),
            ("creditRounding", self.credit_rounding.is_some()),
        ];
        let uses: &[&str] = match self.model {
            ChargeModelGql::Block => &["includedUnits", "blockSize", "blockPriceMinor"],
            ChargeModelGql::Unit => &["includedUnits", "unitPriceMinor"],
            ChargeModelGql::Credits => &["credits", "perUnits", "creditRounding"],
        };
        given
            .into_iter()
            .filter(|(name, present)| *present && !uses.contains(name))
            .map(|(name, _)| name)
            .collect()
    }
}

fn model_name(model: ChargeModelGql) -> &'static str {
    match model {
        ChargeModelGql::Block => "BLOCK",
        ChargeModelGql::Unit => "UNIT",
        ChargeModelGql::Credits => "CREDITS",
    }
}

pub(super) fn parse_charge(
    i: usize,
    c: PlanChargeInput,
    currency: Currency,
) -> Result<PlanCharge, ParseError> {
    let f = |name: &str| format!("charges[{i}].{name}");
    if let Some(name) = c.inapplicable().first() {
        return Err(ParseError::new(
            f(name),
            format!("does not apply to a {} charge", model_name(c.model)),
        ));
    }
    let included = units(&f("includedUnits"), c.included_units, 0)?.unwrap_or(0);
    let model = match c.model {
        ChargeModelGql::Block => ChargeModel::Block {
            included_units: included,
            block_size: required(&f("blockSize"), units(&f("blockSize"), c.block_size, 1)?)?,
            block_price_minor: Money::price(
                &f("blockPriceMinor"),
                required(&f("blockPriceMinor"), c.block_price_minor)?.0,
                currency,
            )?
            .amount_minor,
        },
        ChargeModelGql::Unit => {
            let raw = required(&f("unitPriceMinor"), c.unit_price_minor)?;
            let price = Decimal::from_str(raw.trim())
                .ok()
                .filter(|d| {
                    !d.is_sign_negative() && d.scale() <= 10 && *d <= Decimal::from(MAX_UNITS)
                })
                .ok_or_else(|| {
                    ParseError::new(
                        f("unitPriceMinor"),
                        "must be a non-negative decimal with at most 10 decimals",
                    )
                })?;
            ChargeModel::Unit {
                included_units: included,
                unit_price_minor: price,
            }
        }
        ChargeModelGql::Credits => ChargeModel::Credits {
            credits: Credits::parse(&f("credits"), &required(&f("credits"), c.credits)?)?,
            per_units: required(&f("perUnits"), units(&f("perUnits"), c.per_units, 1)?)?,
            rounding: c
                .credit_rounding
                .map(Into::into)
                .unwrap_or(CreditRounding::CeilPerRequest),
        },
    };
    Ok(PlanCharge {
        metric_code: Code::parse(&f("metricCode"), &c.metric_code)?.into_inner(),
        timing: c.timing.into(),
        model,
    })
}
